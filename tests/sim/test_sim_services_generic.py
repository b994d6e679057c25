"""The simulated cloud is generic: it builds and mounts whatever simulated services the plugins
register (``register_sim_services``), its Entra ID issues tokens for every registered API that
takes Entra ID tokens, with the roles the services name; the core knows no service by name."""

from __future__ import annotations

import httpx
import jwt
import pytest

from runner.errors import PluginError, SecretError, UnservedHostError, UsageError
from runner.plugin import ApiSpec, EntraResource, SimService, hookimpl
from runner.plugins import PluginHost, load_plugins
from runner.sim import SimulatedCloud

WIDGETS = ApiSpec(
    name="widgets", title="Widgets", base_url={"commercial": "https://api.widgets.test",
                                               "gcc_high": "https://api.widgets.test.us"},
    auth=EntraResource(app_id="4b0d7a53-0000-4000-8000-00000000abcd", display_name="Widgets",
                       resources={"commercial": "https://api.widgets.test", "gcc_high": "https://api.widgets.test.us"},
                       identifier_uris=("api://widgets-app",), roles_claim="wids"),
)
ROLES = ("Widget.Read.All", "Widget.Write.All")


class WidgetSim:
    """A simulated widgets API: answers with the roles of a valid token, 401 otherwise."""

    def __init__(self, cloud: SimulatedCloud, options: dict) -> None:
        self.cloud, self.options, self.log = cloud, dict(options), []

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.log.append({"method": request.method, "path": request.url.path})
        claims = self.cloud.verify_bearer(request.headers.get("authorization"), "widgets")
        if claims is None:
            return httpx.Response(401, json={"error": {"code": "Unauthorized"}})
        return httpx.Response(200, json={"wids": claims.get("wids", []), "greeting": self.options.get("greeting")})

    def requests(self) -> list[dict]:
        return list(self.log)


class Widgets:
    @hookimpl
    def register_apis(self, register):
        register(WIDGETS)

    @hookimpl
    def register_sim_services(self, register):
        register(SimService("widgets", ("api.widgets.test", "api.widgets.test.us"), build=WidgetSim,
                            roles={"widgets": ROLES}))


@pytest.fixture
def host() -> PluginHost:
    return PluginHost(entry_points=False, extra=[Widgets()])


def _token(cloud: SimulatedCloud, client: httpx.Client, tenant: str, **form: str) -> dict:
    tid = cloud.tenant(tenant).id
    version = "v2.0/" if "scope" in form else ""
    answer = client.post(f"https://login.microsoftonline.com/{tid}/oauth2/{version}token", data={
        "grant_type": "client_credentials", "client_id": cloud.app.client_id,
        "client_secret": cloud.app.secret.reveal(), **form})
    assert answer.status_code == 200, answer.text
    return jwt.decode(answer.json()["access_token"], options={"verify_signature": False})


def test_a_plugins_service_is_mounted_and_its_api_gets_tokens_with_the_granted_roles(host):
    cloud = SimulatedCloud(plugins=host, widgets={"greeting": "hi"})
    assert list(cloud.services) == ["widgets"] and cloud.widgets is cloud.services["widgets"]
    assert cloud.widgets.options == {"greeting": "hi"}
    with httpx.Client(transport=httpx.MockTransport(cloud.handler)) as client:
        claims = _token(cloud, client, "contoso", scope="https://api.widgets.test/.default")
        assert claims["aud"] == "https://api.widgets.test" and sorted(claims["wids"]) == list(ROLES)
        assert "roles" not in claims  # the API's own roles claim
        # the resource app answers to its identifier URI and its app id too (v1 resource=)
        assert _token(cloud, client, "contoso", resource="api://widgets-app")["aud"] == "api://widgets-app"
        assert _token(cloud, client, "contoso", resource=WIDGETS.auth.app_id)["wids"]
        token = cloud.issue_token("contoso", "widgets")
        seen = client.get("https://api.widgets.test/v1/items", headers={"Authorization": f"Bearer {token}"})
        assert seen.json() == {"wids": sorted(ROLES), "greeting": "hi"}
        assert client.get("https://api.widgets.test/v1/items").status_code == 401
        # an unknown resource is refused the way Entra ID refuses it
        refused = client.post(f"https://login.microsoftonline.com/{cloud.tenant('contoso').id}/oauth2/token", data={
            "grant_type": "client_credentials", "client_id": cloud.app.client_id,
            "client_secret": cloud.app.secret.reveal(), "resource": "https://api.gadgets.test"})
        assert refused.status_code == 400 and refused.json()["error_codes"] == [500011]
    assert cloud.total_token_requests() == 4


def test_roles_can_be_withheld_and_set_and_the_audience_follows_the_tenants_cloud(host):
    cloud = SimulatedCloud(["contoso", "fabrikam"], plugins=host)
    assert cloud.withhold_role("widget.write.all", tenant="contoso") == 1
    decode = lambda raw: jwt.decode(raw, options={"verify_signature": False})  # noqa: E731
    assert decode(cloud.issue_token("contoso", "widgets"))["wids"] == ["Widget.Read.All"]
    assert sorted(decode(cloud.issue_token("fabrikam", "widgets"))["wids"]) == list(ROLES)
    cloud.set_roles("fabrikam", "https://api.widgets.test", [])
    assert "wids" not in decode(cloud.issue_token("fabrikam", "widgets"))  # no role: no claim
    cloud.add_tenant("gov", cloud="gcc_high")
    assert decode(cloud.issue_token("gov"))["aud"] == "https://api.widgets.test.us"  # the only API: the default
    with pytest.raises(ValueError, match="holds no role 'Gadget.Read'"):
        cloud.withhold_role("Gadget.Read")


def test_a_host_no_service_serves_is_refused_not_answered(host):
    cloud = SimulatedCloud(plugins=host)
    with httpx.Client(transport=httpx.MockTransport(cloud.handler)) as client:
        with pytest.raises(UnservedHostError, match="gadgets.test"):
            client.get("https://api.gadgets.test/v1/items")
    assert "api.widgets.test" in cloud.serves() and "api.gadgets.test" not in cloud.serves()


def test_two_services_on_one_host_are_refused():
    class Squatter:
        @hookimpl
        def register_sim_services(self, register):
            register(SimService("squatter", ("API.widgets.test",), build=WidgetSim))

    already = "on (API|api).widgets.test, which service '(widgets|squatter)' already serves"
    with pytest.raises(PluginError, match=already):
        SimulatedCloud(plugins=PluginHost(entry_points=False, extra=[Widgets(), Squatter()]))


def test_a_service_on_an_entra_login_host_is_refused():
    class Impostor:
        @hookimpl
        def register_sim_services(self, register):
            register(SimService("impostor", ("login.microsoftonline.com",), build=WidgetSim))

    with pytest.raises(PluginError, match="impostor.*login.microsoftonline.com.*Entra ID"):
        SimulatedCloud(plugins=PluginHost(entry_points=False, extra=[Impostor()]))


def test_options_for_a_service_nobody_registered_are_refused(host):
    with pytest.raises(UsageError, match="no simulated service 'gadgets' \\(registered: widgets\\)"):
        SimulatedCloud(plugins=host, gadgets={"x": 1})
    with pytest.raises(UsageError, match="given twice"):
        SimulatedCloud(plugins=host, widgets={}, services={"widgets": {}})
    with pytest.raises(AttributeError, match="simulated services: widgets"):
        SimulatedCloud(plugins=host).gadgets  # noqa: B018


def test_the_sim_secret_scheme_is_the_core_plugins(host):
    assert host.owner("secret scheme", "sim") == "runner.builtin.core"
    from runner import secrets

    cloud = SimulatedCloud(plugins=host)
    assert secrets.resolve(f"sim:{cloud.id}").reveal() == cloud.app.secret.reveal()
    assert cloud.demo_config().app.client_secret == f"sim:{cloud.id}"
    with pytest.raises(SecretError, match="names no simulated cloud"):
        secrets.resolve("sim:no-such-cloud")


def test_stats_count_tokens_and_each_services_requests(host):
    from runner.sim.serve import sim_stats

    cloud = SimulatedCloud(plugins=host)
    token = cloud.issue_token("contoso", "widgets")
    with httpx.Client(transport=httpx.MockTransport(cloud.handler)) as client:
        _token(cloud, client, "fabrikam", scope="api://widgets-app/.default")
        for _ in range(2):
            client.get("https://api.widgets.test/v1/items", headers={"Authorization": f"Bearer {token}"})
    stats = sim_stats(cloud)
    assert stats["token_requests"] == {"fabrikam": 1}
    assert stats["services"] == {"widgets": {"requests": 2, "calls": {"GET /v1/items": 2}}}
    assert (stats["requests"], stats["calls"]) == (2, {"GET /v1/items": 2})


def test_loopback_refuses_to_let_out_a_host_a_registered_service_serves(host):
    from runner.http import Network

    with pytest.raises(UsageError, match="api.widgets.test is served by the simulated cloud"):
        Network.loopback("http://127.0.0.1:8765", allow_hosts=["api.widgets.test"], plugins=host)
    assert Network.loopback("http://127.0.0.1:8765", allow_hosts=["hooks.example.test"], plugins=host).allowed


def test_replay_answers_every_host_a_registered_service_serves(host, tmp_path):
    from runner.replay import Replay

    (tmp_path / "items.yaml").write_text("request: {method: GET, path: /v1/items}\n"
                                         "response: {status: 200, body: {value: [1, 2]}}\n")
    replay = Replay(tmp_path)
    cloud = replay.cloud(plugins=host)
    token = cloud.issue_token("replay", "widgets")
    with httpx.Client(transport=httpx.MockTransport(cloud.handler)) as client:
        for url in ("https://api.widgets.test/v1/items", "https://api.widgets.test.us/v1/items"):
            assert client.get(url, headers={"Authorization": f"Bearer {token}"}).json() == {"value": [1, 2]}
    assert cloud.widgets.log == []  # the recordings answered, not the simulated service


def test_the_installed_defender_plugin_registers_its_simulated_service():
    pytest.importorskip("soar_defender")
    from soar_defender.sim import HOSTS, DefenderSim

    registered = load_plugins().sim_services["defender"]
    assert set(registered.hosts) == set(HOSTS) and "graph.microsoft.us" in registered.hosts
    cloud = SimulatedCloud()
    assert isinstance(cloud.services["defender"], DefenderSim) and cloud.defender is cloud.services["defender"]
    claims = jwt.decode(cloud.issue_token("contoso", "https://api.security.microsoft.com"),
                        options={"verify_signature": False})
    assert "Incident.ReadWrite.All" in claims["roles"]
    assert SimulatedCloud(defender={"devices_per_tenant": 2}).defender.config.devices_per_tenant == 2
