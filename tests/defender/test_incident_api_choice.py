"""Which API the incident actions use with `api: auto`: the tenant's `apis.incidents`, else XDR if
the app's token holds XDR's incident role, else Graph if it holds Graph's, else a PermissionMissing
naming both roles with no API call (plugins/defender/soar_defender/incidents.py, common.choose_api)."""

from __future__ import annotations

import asyncio

import pytest

from runner import ActionContext, PluginHost, Services, TenantInfo, errors
from runner.apis import ApiClients
from runner.auth import TokenProvider
from runner.auth.cache import MemoryCacheStore
from runner.config import SoarConfig
from runner.sim import SimulatedCloud

_HOST: PluginHost | None = None


def host() -> PluginHost:
    global _HOST
    if _HOST is None:
        _HOST = PluginHost()
        assert _HOST.actions.get("defender.list_incidents") is not None, "pip install -e plugins/defender"
    return _HOST


class Env:
    """A simulated cloud whose roles a test changes *before* the first call (tokens are cached)."""

    def __init__(self, apis: dict | None = None) -> None:
        self.cloud = SimulatedCloud()
        config = self.cloud.demo_config()
        if apis is not None:
            raw = config.model_dump()
            raw["tenants"]["contoso"]["apis"] = apis
            config = SoarConfig.model_validate(raw)
        net = self.cloud.network()
        self.auth = TokenProvider(config, net, cache_store=MemoryCacheStore())
        self.services = Services(plugins=host(), store=None, network=net, config=config, auth=self.auth)
        self.services.apis = ApiClients(net, self.auth, config)
        t = config.tenants["contoso"]
        self.tenant = TenantInfo("contoso", t.id, t.cloud, t.region)

    def call(self, name: str, **inputs):
        action = host().actions.get(name)
        ctx = ActionContext(run_id="run-i", step_id="inc", item=None, attempt=1, tenant=self.tenant,
                            dry_run=False, services=self.services)
        out = asyncio.run(action.func(ctx, action.input_model.model_validate(inputs)))
        return out.model_dump(mode="python", by_alias=True)

    def incident_calls(self) -> list[tuple[str, str]]:
        """(api, method) of every incident request the simulated services received."""
        calls = []
        for r in self.cloud.defender.log:
            if r["path"].startswith("/v1.0/security/incidents"):
                calls.append(("graph", r["method"]))
            elif r["path"].startswith("/api/incidents"):
                calls.append(("xdr", r["method"]))
        return calls

    def close(self) -> None:
        self.auth.close()


@pytest.fixture
def make_env():
    made: list[Env] = []

    def make(**kw) -> Env:
        made.append(Env(**kw))
        return made[-1]

    yield make
    for e in made:
        e.close()


def test_auto_is_xdr_when_the_app_holds_its_incident_role(make_env):
    env = make_env()
    out = env.call("defender.list_incidents", max_items=3)
    assert out and {i["api"] for i in out} == {"xdr"}
    assert {api for api, _ in env.incident_calls()} == {"xdr"}


def test_auto_falls_back_to_graph_without_the_xdr_role(make_env):
    env = make_env()
    env.cloud.set_roles("contoso", "xdr", ["AdvancedHunting.Read.All"])
    listed = env.call("defender.list_incidents", max_items=3)
    assert listed and {i["api"] for i in listed} == {"graph"}
    got = env.call("defender.get_incident", incident_id=listed[0]["incidentId"])
    assert got["api"] == "graph" and got["incidentId"] == listed[0]["incidentId"]
    assert {api for api, _ in env.incident_calls()} == {"graph"}


def test_update_chooses_by_the_write_roles(make_env):
    env = make_env()
    env.cloud.set_roles("contoso", "xdr", ["Incident.Read.All"])  # may read on XDR, not write
    first = env.call("defender.list_incidents", max_items=1)[0]
    assert first["api"] == "xdr"
    upd = env.call("defender.update_incident", incident_id=first["incidentId"], status="InProgress")
    assert upd["api"] == "graph" and upd["status"] == "InProgress"
    writes = [(api, m) for api, m in env.incident_calls() if m != "GET"]
    assert writes and {api for api, _ in writes} == {"graph"}


def test_no_incident_role_at_all_names_both_roles_and_calls_nothing(make_env):
    env = make_env()
    env.cloud.set_roles("contoso", "xdr", ["AdvancedHunting.Read.All"])
    env.cloud.set_roles("contoso", "graph", ["ThreatHunting.Read.All"])
    with pytest.raises(errors.PermissionMissing) as info:
        env.call("defender.list_incidents")
    err = info.value
    assert "Incident.Read.All" in err.message and "SecurityIncident.Read.All" in err.message
    assert "Defender XDR" in err.message and "Microsoft Graph" in err.message
    assert "no API call was made" in err.message and err.where.tenant == "contoso"
    assert "adminconsent" in err.hint
    assert "secret" not in err.message.lower()
    assert env.incident_calls() == []


def test_tenant_config_wins_over_the_roles(make_env):
    env = make_env(apis={"incidents": "graph"})
    out = env.call("defender.list_incidents", max_items=2)
    assert out and {i["api"] for i in out} == {"graph"}
    assert {api for api, _ in env.incident_calls()} == {"graph"}


def test_tenant_config_without_its_role_fails_before_any_call(make_env):
    env = make_env(apis={"incidents": "xdr"})
    env.cloud.set_roles("contoso", "xdr", [])
    with pytest.raises(errors.PermissionMissing) as info:
        env.call("defender.list_incidents")
    assert "Incident.Read.All" in info.value.message and "SecurityIncident" not in info.value.message
    assert env.incident_calls() == []


def test_explicit_api_is_used_as_given(make_env):
    env = make_env()
    env.cloud.set_roles("contoso", "xdr", [])
    out = env.call("defender.list_incidents", api="graph", max_items=2)
    assert {i["api"] for i in out} == {"graph"}
    with pytest.raises(errors.PermissionMissing):
        env.call("defender.list_incidents", api="xdr")
    assert {api for api, _ in env.incident_calls()} == {"graph"}
