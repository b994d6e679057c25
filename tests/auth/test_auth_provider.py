"""TokenProvider against the simulated Entra ID, with real msal (no mocking)."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import sys
import textwrap
import time

import pytest
from auth_helpers import MDE_HOST, FakeApi, call_mde, run

from runner.auth import AccessToken, TokenProvider
from runner.secrets import Secret
from runner.sim import SimulatedCloud


def test_concurrent_requests_are_single_flight_per_tenant(make_provider):
    cloud = SimulatedCloud(tenants=3)
    provider = make_provider(cloud)
    names = cloud.demo_config().tenant_names()

    async def main():
        sem = asyncio.Semaphore(20)  # like a foreach with concurrency 20

        async def step(i):
            async with sem:
                return await provider.get_token(names[i % 3], "mde", roles=("Machine.Isolate",))

        return await asyncio.gather(*(step(i) for i in range(150)))

    tokens = run(main())
    assert cloud.total_token_requests() == 3
    assert dict(cloud.token_requests) == {n: 1 for n in names}
    assert provider.stats["token_requests"] == {n: 1 for n in names}
    assert len({t.value.reveal() for t in tokens}) == 3
    assert all(isinstance(t, AccessToken) and isinstance(t.value, Secret) for t in tokens)


def test_second_process_uses_the_persisted_cache(tmp_path, make_provider):
    state = tmp_path / "sim-state"
    cache = tmp_path / "cache" / "tokens.json"
    cloud = SimulatedCloud(tenants=3, state_dir=state)
    provider = make_provider(cloud, cache_path=cache)

    async def fetch_all():
        await asyncio.gather(*(provider.get_token(n, api) for n in ("tenant-01", "tenant-02", "tenant-03")
                               for api in ("mde", "mde", "xdr")))

    run(fetch_all())
    assert cloud.total_token_requests() == 6  # 3 tenants x (mde, xdr)
    assert stat.S_IMODE(os.stat(cache).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(cache.parent).st_mode) == 0o700

    child = textwrap.dedent(f"""
        import asyncio, json
        from runner.sim import SimulatedCloud
        from runner.auth import TokenProvider
        cloud = SimulatedCloud(tenants=3, state_dir={str(state)!r})
        with TokenProvider(cloud.demo_config(), cloud.network(), cache_path={str(cache)!r}) as p:
            async def main():
                return await asyncio.gather(*(p.get_token(n, api) for n in ("tenant-01", "tenant-02", "tenant-03")
                                              for api in ("mde", "xdr") for _ in range(10)))
            toks = asyncio.run(main())
        print(json.dumps({{"requests": cloud.total_token_requests(),
                          "sources": sorted({{t.source for t in toks}})}}))
    """)
    out = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PYTHONWARNINGS": "error"})
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {"requests": 0, "sources": ["cache"]}


def test_cache_file_is_0600_even_with_a_loose_umask(tmp_path, make_provider):
    old = os.umask(0)
    try:
        cloud = SimulatedCloud()
        provider = make_provider(cloud, cache_path=tmp_path / "c.json")
        run(provider.get_token("contoso", "mde"))
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "c.json").st_mode) == 0o600
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_cache_file_readable_by_others_is_tightened(tmp_path, make_provider, caplog):
    path = tmp_path / "c.json"
    path.write_text("{}")
    os.chmod(path, 0o644)
    make_provider(SimulatedCloud(), cache_path=path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert "tightened" in caplog.text


def test_token_close_to_expiry_is_refreshed_ahead_and_never_used_expired(make_provider):
    offset = [0.0]

    def clock():
        return time.time() + offset[0]

    cloud = SimulatedCloud(token_lifetime=900, clock=clock)  # Entra ID and we share the moved clock;
    provider = make_provider(cloud, refresh_before=300, clock=clock)  # msal's cache keeps real time

    first = run(provider.get_token("contoso", "mde"))
    again = run(provider.get_token("contoso", "mde"))
    assert again.value == first.value and again.source == "cache"
    assert cloud.total_token_requests() == 1

    offset[0] = 900 - 250  # 250 s left: inside the 300 s window
    ahead = run(provider.get_token("contoso", "mde"))
    assert ahead.value != first.value and ahead.source == "identity_provider"
    assert cloud.total_token_requests() == 2
    assert provider.stats["refreshed_ahead"] == 1

    offset[0] = 650 + 900 + 5  # `ahead` has expired; msal's cache (real clock) would still hand it out
    fresh = run(provider.get_token("contoso", "mde"))
    assert fresh.value != ahead.value and fresh.expires_on > clock() + 600
    assert cloud.total_token_requests() == 3


def test_short_lived_tokens_are_not_refetched_on_every_call(make_provider):
    cloud = SimulatedCloud(token_lifetime=120)  # shorter than refresh_before
    provider = make_provider(cloud, refresh_before=300)
    for _ in range(5):
        run(provider.get_token("contoso", "mde"))
    assert cloud.total_token_requests() == 1


def test_api_401_triggers_one_refresh_and_one_retry(cloud, fake_mde, make_provider):
    provider = make_provider(cloud)
    assert run(call_mde(provider, cloud)).status_code == 200
    fake_mde.reject_next = 1
    resp = run(call_mde(provider, cloud))
    assert resp.status_code == 200
    assert len(fake_mde.calls) == 3
    assert cloud.total_token_requests() == 2  # the 401 invalidated the cached token
    fake_mde.reject_next = 5
    assert run(call_mde(provider, cloud)).status_code == 401  # only one retry
    assert len(fake_mde.calls) == 5


def test_v1_flow_reads_numbers_sent_as_strings(make_provider):
    cloud = SimulatedCloud()
    config = cloud.demo_config().model_copy(update={"app": cloud.demo_config().app.model_copy(
        update={"token_flow": {"mde": "v1", "xdr": "v1"}})})
    provider = make_provider(cloud, config)
    tok = run(provider.get_token("contoso", "mde", roles=("Alert.Read.All",)))
    assert tok.expires_on > time.time() + 3000
    assert [e["path"] for e in cloud.request_log if e["path"].endswith("token")] == [
        f"/{tok.tenant_id}/oauth2/token"]
    assert run(provider.get_token("contoso", "mde")).source == "cache"
    run(provider.get_token("contoso", "xdr"))
    assert cloud.total_token_requests() == 2


def test_windowsatpservice_scope_form(make_provider):
    cloud = SimulatedCloud()
    base = cloud.demo_config()
    config = base.model_copy(update={"app": base.app.model_copy(update={"resources": {"mde": "windowsatpservice"}})})
    tok = run(make_provider(cloud, config).get_token("contoso", "mde"))
    assert tok.resource == "https://securitycenter.onmicrosoft.com/windowsatpservice"
    assert tok.claims["aud"] == "https://securitycenter.onmicrosoft.com/windowsatpservice"


@pytest.mark.parametrize("form", ["thumbprint", "certificate"])
@pytest.mark.parametrize("flow", ["v2", "v1"])
def test_certificate_client_assertion(tmp_path, monkeypatch, make_provider, form, flow):
    from runner.config import SoarConfig

    cloud = SimulatedCloud()
    key_pem, cert_pem, thumb = cloud.make_certificate()
    (tmp_path / "app.key").write_text(key_pem)
    (tmp_path / "app.crt").write_text(cert_pem)
    cert = {"private_key": f"file:{tmp_path / 'app.key'}"}
    cert.update({"thumbprint": thumb.upper()} if form == "thumbprint" else {"certificate": f"file:{tmp_path / 'app.crt'}"})
    config = SoarConfig.model_validate({
        "app": {"client_id": cloud.app.client_id, "certificate": cert, "token_flow": {"mde": flow}},
        "tenants": {"contoso": {"id": cloud.tenant("contoso").id}}})
    tok = run(make_provider(cloud, config).get_token("contoso", "mde"))
    assert tok.claims["appidacr"] == "2"  # certificate


def test_gov_cloud_tenant_uses_login_microsoftonline_us(make_provider):
    from runner.config import SoarConfig

    cloud = SimulatedCloud()
    gov = cloud.add_tenant("agency", cloud="gcc_high")
    config = SoarConfig.model_validate({
        "app": {"client_id": cloud.app.client_id, "client_secret": f"sim:{cloud.id}"},
        "tenants": {"agency": {"id": gov.id, "cloud": "gcc_high"}}})
    tok = run(make_provider(cloud, config).get_token("agency", "mde"))
    assert tok.resource == "https://api-gov.securitycenter.microsoft.us"
    assert {e["host"] for e in cloud.request_log} == {"login.microsoftonline.us"}
    assert config.tenant("agency").api_base("graph") == "https://graph.microsoft.us"


def test_preflight_picks_the_api_and_checks_roles(make_provider):
    from runner.config import SoarConfig

    cloud = SimulatedCloud()
    base = cloud.demo_config().model_dump()
    base["tenants"]["contoso"]["apis"] = {"incidents": "graph"}
    provider = make_provider(cloud, SoarConfig.model_validate(base))
    roles = {"xdr": ("Incident.Read.All",), "graph": ("SecurityIncident.Read.All",)}
    assert run(provider.preflight("contoso", roles, choice="incidents")).api == "graph"
    assert run(provider.preflight("fabrikam", roles, choice="incidents")).api == "xdr"
    assert run(provider.preflight("fabrikam", roles, prefer="graph")).api == "graph"


def test_only_the_action_s_own_preference_key_chooses_its_api(make_provider):
    # `apis: {hunting: graph}` says nothing about incidents: an incidents pre-flight (choice
    # `incidents`, or none declared) keeps the action's own first API
    from runner.config import SoarConfig

    cloud = SimulatedCloud()
    base = cloud.demo_config().model_dump()
    base["tenants"]["contoso"]["apis"] = {"hunting": "graph"}
    provider = make_provider(cloud, SoarConfig.model_validate(base))
    roles = {"xdr": ("Incident.Read.All",), "graph": ("SecurityIncident.Read.All",)}
    assert provider.choose_api("contoso", roles, choice="incidents") == "xdr"
    assert provider.choose_api("contoso", roles) == "xdr"
    assert provider.choose_api("contoso", {"xdr": ("AdvancedHunting.Read.All",), "graph": ("ThreatHunting.Read.All",)},
                               choice="hunting") == "graph"


def test_token_value_never_shows_in_repr_or_summary(make_provider):
    cloud = SimulatedCloud()
    tok = run(make_provider(cloud).get_token("contoso", "mde"))
    raw = tok.value.reveal()
    assert raw not in repr(tok) and raw not in json.dumps(tok.summary())
    assert str(tok.authorization_header()) == "***"
    assert tok.authorization_header().reveal() == f"Bearer {raw}"


def test_provider_needs_an_app():
    from runner.config import SoarConfig
    from runner.errors import ConfigError

    with pytest.raises(ConfigError, match="no app registration"):
        TokenProvider(SoarConfig(), None)


def test_unknown_tenant_lists_known_ones(cloud, make_provider):
    from runner.errors import ConfigError

    with pytest.raises(ConfigError, match="known tenants: contoso, fabrikam"):
        run(make_provider(cloud).get_token("nope", "mde"))


def test_fake_api_counts_calls(cloud):
    api = FakeApi(cloud)
    cloud.mount(MDE_HOST, api)
    assert cloud.network().sync_client().get(f"https://{MDE_HOST}/x").status_code == 401


def test_invalidate_removes_the_token_from_the_persisted_cache(tmp_path, make_provider):
    cloud = SimulatedCloud(state_dir=tmp_path / "sim")
    cache = tmp_path / "c.json"
    first = make_provider(cloud, cache_path=cache)
    run(first.get_token("contoso", "mde"))
    run(first.get_token("fabrikam", "mde"))
    first.invalidate("contoso", "mde")
    assert run(make_provider(cloud, cache_path=cache).get_token("fabrikam", "mde")).source == "cache"
    assert run(make_provider(cloud, cache_path=cache).get_token("contoso", "mde")).source == "identity_provider"
    # the token fetched again under the same cache key survives the next merge
    assert run(make_provider(cloud, cache_path=cache).get_token("contoso", "mde")).source == "cache"
