"""APIs registered with SecretAuth (an API key, a bearer or basic secret) or no auth: the API
clients send the secret from soar.yaml's `credentials:` (per tenant first) or the spec's
default_ref, never show it, pre-flight checks that one is named, and the spec's quota buckets,
429 handling and error-body reader apply — the same code path as the Entra ID APIs."""

from __future__ import annotations

import asyncio
import base64
import json
import logging

import httpx
import pytest

import soar_defender
from runner.apis import ApiClients
from runner.apis.spec import ApiSpec, ErrorBody, SecretAuth
from runner.config import parse_config
from runner.engine.context import TenantInfo
from runner.errors import ApiError, AuthError, ConfigError
from runner.hookspecs import hookimpl
from runner.http import Network
from runner.plugins import PluginHost

CANARY = "canary-Ak3y-9f8e7d6c5b4a"
OTHER = "tenant-0nly-key-1234567"
T = TenantInfo("contoso", "0b9d2f3e-0000-4000-8000-000000000001")


def _intel_error(body):
    return ErrorBody(code=body.get("status"), message=body.get("detail")) if isinstance(body, dict) else ErrorBody()


def spec(name="acme_intel", **auth) -> ApiSpec:
    return ApiSpec(name=name, title="Acme Threat Intel", base_url="https://intel.acme.example/api",
                   auth=SecretAuth(**{"default_ref": "env:ACME_INTEL_KEY", **auth}),
                   quotas={name: {"per_second": 50}, "acme_search": {"per_minute": 2}},
                   error_body=_intel_error)


INTEL = spec()
OPEN = ApiSpec(name="acme_open", title="Acme Open Data", base_url="https://open.acme.example")


class Plugin:
    def __init__(self, *specs):
        self.specs = specs or (INTEL, OPEN)

    @hookimpl
    def register_apis(self, register):
        for s in self.specs:
            register(s)


def registry(*specs):
    return PluginHost(entry_points=False, extra=[soar_defender, Plugin(*specs)]).apis


CONFIG = """\
app: {client_id: 11111111-2222-3333-4444-555555555555, client_secret: env:SOAR_CLIENT_SECRET}
credentials: {acme_intel: env:ACME_ALL}
tenants:
  contoso: {id: 0b9d2f3e-0000-4000-8000-000000000001}
  fabrikam: {id: 0b9d2f3e-0000-4000-8000-000000000002, credentials: {acme_intel: env:ACME_FABRIKAM}}
"""


class Recorder:
    def __init__(self):
        self.sleeps: list[float] = []

    async def __call__(self, seconds):
        self.sleeps.append(seconds)
        await asyncio.sleep(0)


class Api:
    """Records requests; answers from a queue of responses (then 200)."""

    def __init__(self, *answers: httpx.Response):
        self.requests: list[httpx.Request] = []
        self.answers = list(answers)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        # a copy: a request sent again after a 401 is the same object, its header replaced
        self.requests.append(httpx.Request(request.method, request.url, headers=request.headers.copy()))
        return self.answers.pop(0) if self.answers else httpx.Response(200, json={"ok": True})


def make(api, reg, config=None, **kw):
    kw.setdefault("sleep", Recorder())
    return ApiClients(Network.simulated(api), config=config, registry=reg, **kw)


def run(coro):
    return asyncio.run(coro)


def test_the_api_key_from_default_ref_is_sent_and_never_shown(monkeypatch, caplog):
    monkeypatch.setenv("ACME_INTEL_KEY", CANARY)
    api = Api(httpx.Response(400, json={"status": "E_QUERY", "detail": f"bad query (key {CANARY})"}))
    apis = make(api, registry(INTEL))
    caplog.set_level(logging.DEBUG)
    for name in ("soar", "httpx", "httpcore"):
        monkeypatch.setattr(logging.getLogger(name), "level", logging.DEBUG)
    client = apis.client(T, "acme_intel")
    with pytest.raises(ApiError) as info:
        run(client.get("/v1/indicators", params={"q": "evil.example"}))
    out = run(client.get("/v1/indicators"))
    assert out == {"ok": True}
    sent = api.requests[0]
    assert sent.headers["x-api-key"] == CANARY and "authorization" not in sent.headers
    assert api.requests[1].headers["x-api-key"] == CANARY
    # the spec's error reader, the spec's title; the echoed key masked
    assert "Acme Threat Intel rejected GET /api/v1/indicators" in info.value.message
    assert "E_QUERY: bad query" in info.value.message
    assert CANARY not in str(info.value) and CANARY not in repr(info.value)
    assert "soar.http" in caplog.text  # the calls were logged ...
    assert CANARY not in caplog.text  # ... without the key


def test_credentials_in_soar_yaml_per_tenant_first(monkeypatch):
    monkeypatch.setenv("ACME_INTEL_KEY", "default-key-never-used")
    monkeypatch.setenv("ACME_ALL", CANARY)
    monkeypatch.setenv("ACME_FABRIKAM", OTHER)
    reg = registry(INTEL)
    config = parse_config(CONFIG, registry=reg)
    api = Api()
    apis = make(api, reg, config)
    run(apis.client(T, "acme_intel").get("/v1/x"))
    run(apis.client(TenantInfo("fabrikam", "0b9d2f3e-0000-4000-8000-000000000002"), "acme_intel").get("/v1/x"))
    assert [r.headers["x-api-key"] for r in api.requests] == [CANARY, OTHER]


def test_no_credentials_is_a_clear_config_error_before_any_call(monkeypatch):
    monkeypatch.delenv("ACME_INTEL_KEY", raising=False)
    reg = registry(spec(default_ref=None))
    api = Api()
    with pytest.raises(ConfigError) as info:
        run(make(api, reg).client(T, "acme_intel").get("/v1/x"))
    assert "Acme Threat Intel (API 'acme_intel')" in info.value.message
    assert "credentials.acme_intel" in info.value.hint and "tenants.contoso.credentials.acme_intel" in info.value.hint
    assert api.requests == []
    # a reference that does not resolve names the reference, not a value
    with pytest.raises(Exception) as unset:
        run(make(api, registry(INTEL)).client(T, "acme_intel").get("/v1/x"))
    assert "env:ACME_INTEL_KEY" in str(unset.value) and api.requests == []


def test_preflight_checks_that_a_secret_api_has_credentials_and_asks_entra_nothing(monkeypatch):
    from runner.auth import TokenProvider
    from runner.auth.cache import MemoryCacheStore

    reg = registry(spec(default_ref=None), OPEN)
    config = parse_config(CONFIG.replace("credentials: {acme_intel: env:ACME_ALL}\n", ""), registry=reg)
    entra = Api()
    with TokenProvider(config, Network.simulated(entra), cache_store=MemoryCacheStore(), registry=reg) as provider:
        assert run(provider.preflight("fabrikam", {"acme_intel": ()})) is None
        with pytest.raises(ConfigError, match="credentials.acme_intel"):
            run(provider.preflight("contoso", {"acme_intel": ()}))
        assert run(provider.preflight("contoso", {"acme_open": ()})) is None  # no auth: nothing to check
        with pytest.raises(ConfigError, match="does not take Entra ID tokens"):
            run(provider.get_token("contoso", "acme_intel"))
    assert entra.requests == []


@pytest.mark.parametrize("auth, check", [
    ({"scheme": "api_key", "query": "apikey"},
     lambda r: r.url.params["apikey"] == CANARY and "x-api-key" not in r.headers),
    ({"scheme": "api_key", "header": "X-Acme-Token"}, lambda r: r.headers["x-acme-token"] == CANARY),
    ({"scheme": "bearer"}, lambda r: r.headers["authorization"] == f"Bearer {CANARY}"),
    ({"scheme": "basic"},
     lambda r: base64.b64decode(r.headers["authorization"].removeprefix("Basic ")).decode() == f"svc:{CANARY}"),
])
def test_each_secret_scheme(monkeypatch, caplog, auth, check):
    value = f"svc:{CANARY}" if auth["scheme"] == "basic" else CANARY
    monkeypatch.setenv("ACME_INTEL_KEY", value)
    monkeypatch.setattr(logging.getLogger("soar.http"), "level", logging.DEBUG)
    caplog.set_level(logging.DEBUG)
    api = Api(httpx.Response(401, json={"detail": f"refused {api_value(auth, value)}"}))
    client = make(api, registry(spec(**auth))).client(T, "acme_intel")
    with pytest.raises(AuthError) as info:
        run(client.get("/v1/x", params={"q": "a"}))
    assert "rejected the credentials" in info.value.message and "credentials.acme_intel" in info.value.hint
    assert len(api.requests) == 1  # the same secret is not sent twice
    run(client.get("/v1/x", params={"q": "a"}))
    assert all(check(r) for r in api.requests)
    assert CANARY not in caplog.text and CANARY not in str(info.value)
    assert api_value(auth, value) not in caplog.text + str(info.value)


def api_value(auth, value):
    return base64.b64encode(value.encode()).decode() if auth["scheme"] == "basic" else value


def test_a_rotated_secret_is_read_again_after_a_401(monkeypatch):
    monkeypatch.setenv("ACME_INTEL_KEY", "old-key-0000")
    api = Api()
    client = make(api, registry(INTEL)).client(T, "acme_intel")
    run(client.get("/v1/x"))
    monkeypatch.setenv("ACME_INTEL_KEY", "new-key-1111")
    api.answers = [httpx.Response(401, json={"detail": "key revoked"})]
    assert run(client.get("/v1/x")) == {"ok": True}
    assert [r.headers["x-api-key"] for r in api.requests] == ["old-key-0000", "old-key-0000", "new-key-1111"]


def test_an_api_without_auth_sends_no_credentials():
    api = Api()
    run(make(api, registry()).client(T, "acme_open").get("/v1/datasets"))
    assert "authorization" not in api.requests[0].headers and "x-api-key" not in api.requests[0].headers
    assert str(api.requests[0].url) == "https://open.acme.example/v1/datasets"


def test_its_quota_buckets_apply_and_a_429_pauses_its_bucket(monkeypatch):
    monkeypatch.setenv("ACME_INTEL_KEY", CANARY)
    reg = registry(INTEL)
    api = Api(httpx.Response(429, headers={"Retry-After": "7"}, json={"detail": "slow down"}))
    apis = make(api, reg)
    assert apis.limits["acme_intel"] == [(50, 1.0)] and apis.limits["acme_search"] == [(2, 60.0)]
    assert apis.limits["mde"] == [(100, 60.0), (1500, 3600.0)]  # the other plugin's buckets are still there
    search = apis.client(T, "acme_intel", quota="acme_search")
    other = apis.client(T, "acme_intel")
    assert run(search.get("/v1/search")) == {"ok": True}
    assert apis._sleep.sleeps == [7.0]
    assert search.bucket.name == "acme_search" and search.bucket.paused()
    assert not other.bucket.paused()  # only the throttled bucket waits
    assert apis.stats()["throttled"] == {"contoso": {"acme_intel": 1}}
    # soar.yaml's quotas override the spec's defaults, as for any bucket
    assert make(api, reg, quotas={"acme_search": {"per_minute": 9}}).limits["acme_search"] == [(9, 60.0)]
    assert make(api, reg, quotas={"acme_search": "off"}).limits["acme_search"] == []


def test_tenants_check_shows_secret_apis_sensibly(monkeypatch, tmp_path):
    from click.testing import CliRunner

    from runner.actions import Action
    from runner.cli import main

    async def lookup(ctx, inputs):
        return None

    monkeypatch.chdir(tmp_path)
    host = PluginHost(entry_points=False, extra=[soar_defender, Plugin(INTEL, OPEN)])
    host.actions.add(Action(name="acme.lookup", summary="look up", func=lookup, roles={"acme_intel": ()}), "test")
    monkeypatch.setattr("runner.plugins.load_plugins", lambda: host)
    monkeypatch.delenv("ACME_INTEL_KEY", raising=False)
    books = tmp_path / "books"
    books.mkdir()
    (books / "intel.yaml").write_text("name: intel\ntenants: all\nsteps:\n  - id: a\n    action: acme.lookup\n")

    def check(*args):
        return CliRunner().invoke(main, ["tenants", "check", "--simulate", *args])

    plain = json.loads(check("--json").output)  # no playbook: the Entra ID APIs (no secret is named)
    assert set(plain["tenants"][0]["apis"]) == {"mde", "xdr", "graph"} and plain["ok"]
    result = check(str(books), "--json")
    doc = json.loads(result.output)
    assert result.exit_code == 1 and not doc["ok"], result.output  # the playbooks need a key nobody set
    entry = doc["tenants"][0]["apis"]["acme_intel"]
    assert set(doc["tenants"][0]["apis"]) == {"acme_intel"}
    assert entry["auth"] == "api_key" and not entry["token"] and "env:ACME_INTEL_KEY" in entry["error"]
    assert doc["tenants"][0]["consent_url"] is None  # consent is not what is missing
    table = check(str(books))
    assert "api_key: not set" in table.output and "ACME_INTEL_KEY" in table.output
    assert "consent" not in table.output
    monkeypatch.setenv("ACME_INTEL_KEY", CANARY)
    result = check(str(books), "--json")
    doc = json.loads(result.output)
    assert result.exit_code == 0 and doc["ok"], result.output
    entry = doc["tenants"][0]["apis"]["acme_intel"]
    assert entry["token"] and entry["credential"] == "the default of API 'acme_intel' (env:ACME_INTEL_KEY)"
    table = check(str(books))
    assert table.exit_code == 0 and "api_key" in table.output and "n/a" in table.output
    assert CANARY not in result.output + table.output
