"""Entra ID errors become actionable messages, and no Defender API call is made."""

from __future__ import annotations

import json
import uuid

import pytest
from auth_helpers import call_mde, run

from runner.auth.entra_errors import RequestFacts, entra_error
from runner.config import SoarConfig
from runner.errors import AuthError, PermissionMissing
from runner.sim import SimulatedCloud
from runner.sim.entra import ERRORS, error_response


def _config(cloud, **app):
    base = cloud.demo_config().model_dump(exclude={"source"})
    base["app"].update(app)
    return SoarConfig.model_validate(base)


def _fails(cloud, fake_mde, make_provider, config=None, tenant="contoso", roles=()):
    provider = make_provider(cloud, config)
    with pytest.raises(AuthError) as info:
        run(call_mde(provider, cloud, tenant, roles))
    assert fake_mde.calls == []  # no Defender API call
    return info.value


def test_wrong_secret_says_it_is_probably_the_secret_id(cloud, fake_mde, make_provider, monkeypatch):
    monkeypatch.setenv("SOAR_TEST_SECRET", cloud.app.secret_id)  # the classic mistake
    err = _fails(cloud, fake_mde, make_provider, _config(cloud, client_secret="env:SOAR_TEST_SECRET"))
    assert "AADSTS7000215" in err.message and "env:SOAR_TEST_SECRET" in err.message
    assert "ID" in err.hint and "Value" in err.hint
    assert cloud.app.secret_id not in str(err)


def test_expired_secret(cloud, fake_mde, make_provider):
    cloud.set_secret_expired()
    err = _fails(cloud, fake_mde, make_provider)
    assert "has expired" in err.message and "AADSTS7000222" in err.message


def test_unconsented_tenant_prints_the_consent_url(cloud, fake_mde, make_provider):
    cloud.revoke_consent("contoso")
    err = _fails(cloud, fake_mde, make_provider)
    tid = cloud.tenant("contoso").id
    assert "AADSTS700016" in err.message and "consented" in err.message
    assert f"https://login.microsoftonline.com/{tid}/adminconsent?client_id={cloud.app.client_id}" in err.hint
    assert err.where.tenant == "contoso"


def test_tenant_not_found(cloud, fake_mde, make_provider):
    base = cloud.demo_config().model_dump(exclude={"source"})
    base["tenants"]["contoso"]["id"] = str(uuid.uuid4())
    err = _fails(cloud, fake_mde, make_provider, SoarConfig.model_validate(base))
    assert "AADSTS90002" in err.message and "not found" in err.message
    assert "tenants.contoso.cloud" in err.hint


def test_tenant_in_another_national_cloud(cloud, fake_mde, make_provider):
    gov = cloud.add_tenant("agency", cloud="gcc_high")
    base = cloud.demo_config().model_dump(exclude={"source"})
    base["tenants"]["agency"]["cloud"] = "commercial"  # wrong: it lives on login.microsoftonline.us
    err = _fails(cloud, fake_mde, make_provider, SoarConfig.model_validate(base), tenant="agency")
    assert "AADSTS90038" in err.message and gov.id in err.message
    assert "gcc_high or dod" in err.hint


@pytest.mark.parametrize("setup, code", [
    (lambda c: c.set_provisioned("contoso", "mde", False), 500011),
    (lambda c: c.set_subscribed("contoso", "mde", False), 650052),
    (lambda c: c.set_conditional_access("contoso"), 53003),
])
def test_tenant_side_problems(cloud, fake_mde, make_provider, setup, code):
    setup(cloud)
    err = _fails(cloud, fake_mde, make_provider)
    assert f"AADSTS{code}" in err.message and err.hint


def test_more_than_one_resource_in_the_scope(cloud, fake_mde, make_provider):
    config = _config(cloud, resources={"mde": "https://api.securitycenter.microsoft.com/.default https://graph.microsoft.com"})
    err = _fails(cloud, fake_mde, make_provider, config)
    assert "AADSTS700022" in err.message and "app.resources.mde" in err.hint


def test_missing_role_names_role_tenant_and_consent_url(cloud, fake_mde, make_provider):
    cloud.set_roles("contoso", "mde", ["Alert.Read.All"])
    err = _fails(cloud, fake_mde, make_provider, roles=("Machine.Isolate",))
    assert isinstance(err, PermissionMissing)
    assert "'Machine.Isolate'" in err.message and "'contoso'" in err.message
    assert "Alert.Read.All" in err.message and "no API call was made" in err.message
    assert "/adminconsent?client_id=" in err.hint


def test_app_with_no_role_at_all(cloud, fake_mde, make_provider):
    cloud.set_roles("contoso", "mde", [])
    err = _fails(cloud, fake_mde, make_provider, roles=("Machine.Read.All", "Machine.ReadWrite.All"))
    assert "'Machine.Read.All' or 'Machine.ReadWrite.All'" in err.message and "no roles at all" in err.message


def test_any_one_of_the_roles_suffices(cloud, fake_mde, make_provider):
    cloud.set_roles("contoso", "mde", ["Machine.ReadWrite.All"])
    provider = make_provider(cloud)
    assert run(call_mde(provider, cloud, roles=("Machine.Read.All", "Machine.ReadWrite.All"))).status_code == 200


def test_v1_flow_maps_errors_too(cloud, fake_mde, make_provider):
    cloud.revoke_consent("contoso")
    err = _fails(cloud, fake_mde, make_provider, _config(cloud, token_flow={"mde": "v1"}))
    assert "AADSTS700016" in err.message


FACTS = RequestFacts("contoso", "0b0b0b0b-0000-0000-0000-000000000001", "commercial",
                     "11111111-2222-3333-4444-555555555555", "mde", "https://api.securitycenter.microsoft.com",
                     "client secret (env:X)", "https://login.microsoftonline.com/x/adminconsent?client_id=1")


@pytest.mark.parametrize("code", sorted(ERRORS))
def test_every_simulated_error_code_maps_to_a_message_with_a_hint(code):
    resp = error_response(code, app="a", tenant="t", resource="r", scope="s", param="p", grant="g", instance="i")
    body = resp.json()
    assert set(body) >= {"error", "error_description", "error_codes", "timestamp", "trace_id", "correlation_id"}
    assert body["error_description"].startswith(f"AADSTS{code}:")
    err = entra_error(body, FACTS, status=resp.status_code)
    assert isinstance(err, AuthError) and f"AADSTS{code}" in err.message
    assert body["trace_id"] in err.message
    assert err.hint


@pytest.mark.parametrize("code, words", [
    (7000215, "secret's *ID*"), (7000222, "expired"), (700016, "consented"), (90002, "not found"),
    (90038, "another national cloud"), (500011, "not provisioned"), (650052, "not subscribed"),
    (53003, "Conditional Access"), (700022, "more than one resource"), (70011, "rejected the scope"),
])
def test_error_table(code, words):
    err = entra_error(error_response(code).json(), FACTS)
    assert words in err.message + (err.hint or "")


def test_unknown_code_and_empty_body():
    err = entra_error({"error": "temporarily_unavailable", "error_codes": [1234567],
                       "error_description": "AADSTS1234567: something\r\nTrace ID: x"}, FACTS)
    assert "AADSTS1234567" in err.message and "something" in err.message
    assert "HTTP 502" in entra_error("not json", FACTS, status=502).message


def test_error_body_is_entra_shaped():
    body = json.loads(error_response(7000215, app="x").content)
    assert body["error"] == "invalid_client" and body["error_codes"] == [7000215]
    assert body["error_uri"].endswith("code=7000215")


def test_simulated_network_refuses_other_hosts(make_provider):
    from runner.errors import UnservedHostError

    cloud = SimulatedCloud()
    with pytest.raises(UnservedHostError, match="example.invalid"):  # refused, never answered
        cloud.network().sync_client().get("https://example.invalid/api/incidents")
