"""An API the core has never heard of, registered by a test plugin with Entra ID auth on a made-up
resource: tokens, role checks (from its own roles claim), pre-flight, audiences, quotas and error
titles all come from its ApiSpec — one code path with Defender's, against the simulated cloud."""

from __future__ import annotations

import asyncio

import httpx
import pytest

import soar_defender
from runner.apis import ApiClients
from runner.apis.spec import ApiSpec, EntraResource
from runner.auth import TokenProvider
from runner.auth.cache import MemoryCacheStore
from runner.auth.resources import accepted_audiences, resource_api, resource_for
from runner.engine.context import TenantInfo
from runner.errors import ApiError, ConfigError, PermissionMissing
from runner.hookspecs import hookimpl
from runner.http import Network
from runner.plugins import PluginHost
from runner.sim import SimulatedCloud
from runner.sim.services import SimService

HOST = "api.acme-edr.example"
USGOV_HOST = "api.acme-edr.us"
APP_ID = "5a1e0d7c-1111-4222-8333-444455556666"
RESOURCE = f"https://{HOST}"
ACME = ApiSpec(
    name="acme_edr", title="Acme EDR",
    base_url={"commercial": RESOURCE, "gcc": RESOURCE, "gcc_high": f"https://{USGOV_HOST}",
              "dod": f"https://{USGOV_HOST}"},
    auth=EntraResource(app_id=APP_ID, display_name="Acme EDR",
                       resources={"commercial": RESOURCE, "gcc": RESOURCE, "gcc_high": f"https://{USGOV_HOST}",
                                  "dod": f"https://{USGOV_HOST}"},
                       identifier_uris=("https://edr.acme.example/api",),
                       resource_forms={"legacy": {"commercial": "https://legacy.acme-edr.example"}},
                       roles_claim="permissions"),
    quotas={"acme_edr": {"per_minute": 600}},
)


class AcmeService:
    """The made-up API: 200 with the claims it saw for a token the simulator signed, else 401."""

    def __init__(self, cloud):
        self.cloud = cloud
        self.calls: list[httpx.Request] = []
        self.fail_with: httpx.Response | None = None

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request)
        claims = self.cloud.verify_bearer(request.headers.get("authorization"), "acme_edr")
        if claims is None:
            return httpx.Response(401, json={"error": {"code": "InvalidToken", "message": "bad token"}})
        if self.fail_with is not None:
            return self.fail_with
        return httpx.Response(200, json={"aud": claims["aud"], "permissions": claims.get("permissions")})


class AcmePlugin:
    @hookimpl
    def register_apis(self, register):
        register(ACME)

    @hookimpl
    def register_sim_services(self, register):
        register(SimService(name="acme", hosts=(HOST, USGOV_HOST), build=lambda cloud, options: AcmeService(cloud),
                            roles={"acme_edr": ("Acme.Hosts.Read", "Acme.Hosts.Contain")}))


@pytest.fixture
def host() -> PluginHost:
    return PluginHost(entry_points=False, extra=[soar_defender, AcmePlugin()])


@pytest.fixture
def env(host):
    cloud = SimulatedCloud(plugins=host)
    config = cloud.demo_config()
    provider = TokenProvider(config, cloud.network(), cache_store=MemoryCacheStore(), registry=host.apis)
    apis = ApiClients(cloud.network(), provider, config, registry=host.apis)
    yield cloud, config, provider, apis
    provider.close()


def run(coro):
    return asyncio.run(coro)


def tenant_info(config, name="contoso"):
    t = config.tenant(name)
    return TenantInfo(name, t.id, t.cloud, t.region)


def test_a_registered_entra_api_gets_tokens_and_calls_through_the_shared_machinery(env):
    cloud, config, provider, apis = env

    async def go():
        client = apis.client(tenant_info(config), "acme_edr", ("Acme.Hosts.Contain",))
        first = await client.get("/v1/hosts")
        again = await client.get("/v1/hosts")
        return first, again

    first, again = run(go())
    assert first["aud"] == RESOURCE and "Acme.Hosts.Contain" in first["permissions"]
    assert again == first
    assert cloud.token_requests["contoso"] == 1  # one token, cached and shared
    assert cloud.acme.calls[0].url.host == HOST
    assert apis.limits["acme_edr"] == [(600, 60.0)]  # its spec's default quota bucket
    assert apis.stats()["calls"] == {"contoso": {"acme_edr": 2}}


def test_roles_come_from_the_apis_own_claim_and_are_checked_before_any_call(env):
    cloud, config, provider, apis = env
    cloud.set_roles("contoso", "acme_edr", ["Acme.Hosts.Read"])
    tok = run(provider.get_token("contoso", "acme_edr"))
    assert tok.roles == ("Acme.Hosts.Read",)  # read from `permissions`, not `roles`
    assert tok.resource == RESOURCE
    with pytest.raises(PermissionMissing) as info:
        run(apis.client(tenant_info(config), "acme_edr", ("Acme.Hosts.Contain",)).get("/v1/hosts"))
    assert "Acme EDR" in info.value.message and "Acme.Hosts.Contain" in info.value.message
    assert cloud.acme.calls == []
    with pytest.raises(PermissionMissing):
        run(provider.preflight("contoso", {"acme_edr": ("Acme.Hosts.Contain",)}))
    assert run(provider.preflight("contoso", {"acme_edr": ("Acme.Hosts.Read",)})).api == "acme_edr"


def test_preflight_chooses_among_registered_apis_by_the_tenant_preference(host):
    cloud = SimulatedCloud(plugins=host)
    base = cloud.demo_config()
    from runner.config import SoarConfig

    data = base.model_dump()
    data["tenants"]["contoso"]["apis"] = {"detections": "acme_edr"}
    config = SoarConfig.model_validate(data, context={"apis": host.apis})
    with TokenProvider(config, cloud.network(), cache_store=MemoryCacheStore(), registry=host.apis) as provider:
        roles = {"mde": ("Alert.Read.All",), "acme_edr": ("Acme.Hosts.Read",)}
        assert run(provider.preflight("contoso", roles, choice="detections")).api == "acme_edr"
        assert run(provider.preflight("fabrikam", roles, choice="detections")).api == "mde"


def test_sovereign_cloud_resource_and_a_named_resource_form(host):
    assert resource_for(ACME, "gcc_high") == f"https://{USGOV_HOST}"
    assert resource_for(ACME, "commercial", "legacy") == "https://legacy.acme-edr.example"
    assert resource_for(ACME, "commercial", "https://x.acme.example/") == "https://x.acme.example"
    with pytest.raises(ConfigError, match="neither a resource URI"):
        resource_for(ACME, "commercial", "legcy")
    with pytest.raises(ConfigError, match="no URI in the dod cloud"):
        resource_for(ACME, "dod", "legacy")
    assert resource_api(f"{RESOURCE}/.default", host.apis) == "acme_edr"
    assert resource_api(APP_ID.upper(), host.apis) == "acme_edr"
    assert resource_api("https://edr.acme.example/api/", host.apis) == "acme_edr"
    assert resource_api("https://api.securitycenter.microsoft.com", host.apis) == "mde"
    assert resource_api("https://nothing.example", host.apis) is None
    assert {APP_ID, RESOURCE, RESOURCE + "/", "https://edr.acme.example/api"} <= accepted_audiences(ACME, RESOURCE)


def test_a_gcc_high_tenant_calls_the_usgov_host(host):
    cloud = SimulatedCloud(plugins=host)
    cloud.add_tenant("agency", cloud="gcc_high")
    config = cloud.demo_config()
    with TokenProvider(config, cloud.network(), cache_store=MemoryCacheStore(), registry=host.apis) as provider:
        apis = ApiClients(cloud.network(), provider, config, registry=host.apis)
        out = run(apis.client(tenant_info(config, "agency"), "acme_edr").get("/v1/hosts"))
    assert out["aud"] == f"https://{USGOV_HOST}"
    assert cloud.acme.calls[-1].url.host == USGOV_HOST


def test_error_titles_come_from_the_spec(env):
    cloud, config, provider, apis = env
    cloud.acme.fail_with = httpx.Response(400, json={"error": {"code": "BadFilter", "message": "no such field"}})
    with pytest.raises(ApiError) as info:
        run(apis.client(tenant_info(config), "acme_edr").get("/v1/hosts"))
    assert info.value.status == 400
    assert "Acme EDR rejected GET /v1/hosts" in info.value.message and "BadFilter: no such field" in info.value.message


def test_an_unknown_api_lists_the_registered_ones_and_names_the_plugin_to_install(env, host):
    _cloud, config, provider, apis = env
    for call in (lambda: apis.client(tenant_info(config), "acme_xdr"),
                 lambda: provider.route("contoso", "acme_xdr")):
        with pytest.raises(ConfigError) as info:
            call()
        assert "unknown API 'acme_xdr'" in info.value.message
        assert "acme_edr, graph, mde, xdr" in info.value.message
        assert "install" in info.value.hint and "plugin" in info.value.hint
    without = PluginHost(entry_points=False, extra=[soar_defender])  # the Acme plugin not installed
    bare = ApiClients(Network.simulated(lambda r: httpx.Response(200)), registry=without.apis)
    with pytest.raises(ConfigError, match="unknown API 'acme_edr'"):
        bare.client(tenant_info(config), "acme_edr")
