"""`soar consent-url`, `soar token`, `soar tenants list|check`; secrets never in output or logs."""

from __future__ import annotations

import json
import logging
import re

import pytest
from auth_helpers import call_mde, run
from click.testing import CliRunner

import runner.cli.tenants as tenants_cli
from runner.cli import main
from runner.errors import AuthError
from runner.sim import SimulatedCloud

CANARY = "canary-8Q~Zx9-never-print-this-0123456789"


def invoke(*args, **kw):
    result = CliRunner().invoke(main, list(args), catch_exceptions=False, **kw)
    return result


@pytest.fixture
def on_cloud(monkeypatch):
    """Commands read soar.yaml as usual but reach this simulated cloud instead of the internet."""
    cloud = SimulatedCloud()
    real = tenants_cli._config

    def fake(simulate, *rest):
        config, _network, _ = real(simulate, *rest)
        return config, cloud.network(), cloud

    monkeypatch.setattr(tenants_cli, "_config", fake)
    return cloud


def write_config(cloud, secret_ref="env:SOAR_CANARY_SECRET", **tenant_extra):
    tenants = "".join(f"  {t.name}: {{id: {t.id}, cloud: {t.cloud}}}\n" for t in cloud.tenants.values())
    with open("soar.yaml", "w") as fh:
        fh.write(f"app:\n  client_id: {cloud.app.client_id}\n  client_secret: {secret_ref}\n"
                 f"tenants:\n{tenants}token_cache: {{path: .soar/cache.json}}\n")


def test_consent_url_prints_both_forms():
    result = invoke("consent-url", "--simulate", "--tenant", "contoso")
    assert result.exit_code == 0
    assert re.search(r"https://login\.microsoftonline\.com/common/oauth2/authorize\?prompt=consent&client_id="
                     r"[0-9a-f-]{36}&response_type=code&sso_reload=true\n", result.output)
    assert re.search(r"https://login\.microsoftonline\.com/[0-9a-f-]{36}/adminconsent\?client_id=[0-9a-f-]{36}"
                     r"&redirect_uri=https%3A%2F%2Fportal\.azure\.com", result.output)
    doc = json.loads(invoke("consent-url", "--simulate", "--json", "--redirect-uri", "https://example.org/cb").output)
    assert len(doc["consent_urls"]) == 2
    assert all("redirect_uri=https%3A%2F%2Fexample.org%2Fcb" in r["admin_consent"] for r in doc["consent_urls"])
    bare = invoke("consent-url", "--client-id", "11111111-2222-3333-4444-555555555555")
    assert "/organizations/adminconsent?client_id=11111111-2222-3333-4444-555555555555" in bare.output


def test_token_shows_claims_but_not_the_token():
    result = invoke("token", "contoso", "--simulate", "--api", "xdr", "--decode")
    assert result.exit_code == 0, result.output
    assert "Incident.Read.All" in result.output and "expires" in result.output
    assert "eyJ" not in result.output
    doc = json.loads(invoke("token", "fabrikam", "--simulate", "--json").output)
    assert doc["tenant"] == "fabrikam" and "Machine.Isolate" in doc["roles"] and doc["signature_verified"]
    raw = invoke("token", "contoso", "--simulate", "--raw").output.strip()
    assert raw.startswith("eyJ") and raw.count(".") == 2


def test_tenants_list_and_check(tmp_path):
    doc = json.loads(invoke("tenants", "list", "--simulate", "--json").output)
    assert [t["name"] for t in doc["tenants"]] == ["contoso", "fabrikam"]
    assert "contoso" in invoke("tenants", "list", "--simulate").output
    result = invoke("tenants", "check", "--simulate", "--json")
    doc = json.loads(result.output)
    assert result.exit_code == 0 and doc["ok"]
    # the Entra ID APIs of the Defender plugin; the example plugin's API-key API shows because the
    # simulated cloud's config names its credential (never its value)
    assert set(doc["tenants"][0]["apis"]) == {"mde", "xdr", "graph", "acme"}
    assert "eyJ" not in result.output and "acme-demo-key" not in result.output


def test_tenants_check_against_playbook_roles(on_cloud, monkeypatch, tmp_path):
    from runner.actions import Action
    from runner.plugins import PluginHost

    async def isolate(ctx, inputs):
        return None

    import soar_defender  # registers the mde API the action's roles name

    host = PluginHost(entry_points=False, extra=[soar_defender])
    host.actions.add(Action(name="test.isolate", summary="isolate", func=isolate, effect="destructive",
                            roles={"mde": ("Machine.Isolate",)}), "test")
    monkeypatch.setattr("runner.plugins.load_plugins", lambda: host)
    books = tmp_path / "books"
    books.mkdir()
    (books / "iso.yaml").write_text("name: iso\ntenants: all\nsteps:\n  - id: a\n    action: test.isolate\n")
    (books / "broken.yaml").write_text("steps: [unclosed\n")
    monkeypatch.setenv("SOAR_CANARY_SECRET", on_cloud.app.secret.reveal())
    write_config(on_cloud)
    on_cloud.set_roles("fabrikam", "mde", ["Machine.Read.All"])
    result = invoke("tenants", "check", str(books), "--json")
    doc = json.loads(result.output)
    assert result.exit_code == 1 and not doc["ok"]
    by = {t["name"]: t for t in doc["tenants"]}
    assert by["contoso"]["ok"] and by["contoso"]["consent_url"] is None
    assert by["fabrikam"]["apis"]["mde"]["missing"] == [{"action": "test.isolate", "playbook": "iso.yaml",
                                                          "any_of": ["Machine.Isolate"]}]
    assert "/adminconsent?" in by["fabrikam"]["consent_url"]
    table = invoke("tenants", "check", str(books))
    assert "Machine.Isolate" in table.output and "test.isolate" in table.output
    assert "(re)consent" in table.output


@pytest.mark.parametrize("fault, words", [
    ("wrong_secret", "AADSTS7000215"),
    ("unconsented", "AADSTS700016"),
    ("other_cloud", "AADSTS90038"),
])
def test_cli_errors_are_clean_and_carry_no_secret(on_cloud, monkeypatch, fault, words):
    monkeypatch.setenv("SOAR_CANARY_SECRET", CANARY if fault == "wrong_secret" else on_cloud.app.secret.reveal())
    write_config(on_cloud)
    if fault == "unconsented":
        on_cloud.revoke_consent("contoso")
    if fault == "other_cloud":
        on_cloud.tenant("contoso").cloud = "gcc_high"  # the config still says commercial
    result = invoke("token", "contoso")
    assert result.exit_code == 1
    assert words in result.output and "hint:" in result.output
    assert "Traceback" not in result.output and CANARY not in result.output
    assert all(not e["host"].startswith("api.") for e in on_cloud.request_log)


def test_missing_role_in_cli_check_is_clean(on_cloud, monkeypatch):
    monkeypatch.setenv("SOAR_CANARY_SECRET", on_cloud.app.secret.reveal())
    write_config(on_cloud)
    on_cloud.revoke_consent("fabrikam")
    result = invoke("tenants", "check")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "(re)consent" in result.output


def test_canary_secret_and_tokens_stay_out_of_logs_and_output(on_cloud, monkeypatch, caplog):
    from runner.auth import TokenProvider
    from runner.config import load_config

    monkeypatch.setenv("SOAR_CANARY_SECRET", on_cloud.app.secret.reveal())
    write_config(on_cloud)
    secret = on_cloud.app.secret.reveal()
    outputs = [invoke("token", "contoso", "--json", "--decode").output,
               invoke("token", "fabrikam", "--api", "graph").output,
               invoke("tenants", "check", "--json").output,
               invoke("consent-url").output]
    # the library at DEBUG, msal and httpx included; v2 (msal) and v1 (our form POST with the secret)
    caplog.set_level(logging.DEBUG)
    for name in ("msal", "httpx", "httpcore", "soar"):
        monkeypatch.setattr(logging.getLogger(name), "level", logging.DEBUG)
    config = load_config("soar.yaml")
    v1 = config.model_copy(update={"app": config.app.model_copy(update={"token_flow": {"mde": "v1"}})})
    tokens = []
    for cfg in (config, v1):
        with TokenProvider(cfg, on_cloud.network(), cache_path=".soar/other.json") as provider:
            provider.invalidate("contoso", "mde")
            tok = run(provider.get_token("contoso", "mde"))
            logging.getLogger("soar.test").info("got %s for %s", tok, tok.authorization_header())
            tokens.append(tok.value.reveal())
    assert any(r.name.startswith("msal") for r in caplog.records)
    assert any(r.name.startswith("httpx") for r in caplog.records)
    logged = caplog.text + "".join(r.getMessage() for r in caplog.records)
    assert secret not in logged and secret not in "".join(outputs)
    assert not any(t in logged for t in tokens) and "eyJ" not in "".join(outputs)


def test_canary_missing_env_is_a_clear_error(on_cloud, monkeypatch):
    monkeypatch.delenv("SOAR_CANARY_SECRET", raising=False)
    write_config(on_cloud)
    result = invoke("token", "contoso")
    assert result.exit_code == 2 and "'env:SOAR_CANARY_SECRET' is not set" in result.output


def test_library_error_for_wrong_secret_does_not_contain_it(on_cloud, monkeypatch, make_provider):
    from runner.config import load_config

    monkeypatch.setenv("SOAR_CANARY_SECRET", CANARY)
    write_config(on_cloud)
    with pytest.raises(AuthError) as info:
        run(call_mde(make_provider(on_cloud, load_config("soar.yaml")), on_cloud))
    assert CANARY not in str(info.value) and "env:SOAR_CANARY_SECRET" in str(info.value)
