"""The Defender actions end-to-end against the simulated cloud (soar_defender.sim)."""

from __future__ import annotations

import asyncio
import json

import pytest
from click.testing import CliRunner

from runner import ActionContext, PluginHost, Services, TenantInfo, errors
from runner.apis import ApiClients
from runner.auth import TokenProvider
from runner.auth.cache import MemoryCacheStore
from runner.sim import SimulatedCloud


@pytest.fixture(scope="module")
def host():
    h = PluginHost()
    assert h.actions.get("defender.isolate_machine") is not None, "pip install -e plugins/defender"
    return h


class Env:
    def __init__(self, host, cloud: SimulatedCloud, tenant="contoso", config=None):
        self.cloud = cloud
        self.host = host
        cfg = config or cloud.demo_config()
        net = cloud.network()
        self.auth = TokenProvider(cfg, net, cache_store=MemoryCacheStore())
        self.services = Services(plugins=host, store=None, network=net, config=cfg, auth=self.auth)
        self.services.apis = ApiClients(net, self.auth, cfg)
        t = cfg.tenants[tenant]
        self.tenant = TenantInfo(tenant, t.id, t.cloud, t.region)

    def ctx(self, step="s", item=None, run_id="run-1"):
        return ActionContext(run_id=run_id, step_id=step, item=item, attempt=1, tenant=self.tenant,
                             dry_run=False, services=self.services)

    def call(self, name, ctx=None, **inputs):
        action = self.host.actions.get(name)
        model = action.input_model.model_validate(inputs)
        result = asyncio.run(action.func(ctx or self.ctx(), model))
        return result.model_dump(mode="python", by_alias=True) if hasattr(result, "model_dump") else result

    def reconcile(self, name, ctx=None, **inputs):
        action = self.host.actions.get(name)
        return asyncio.run(action.reconcile(ctx or self.ctx(), action.input_model.model_validate(inputs)))

    def close(self):
        self.auth.close()


@pytest.fixture
def env(host):
    e = Env(host, SimulatedCloud())
    yield e
    e.close()


def a_machine(env) -> str:
    machines = env.call("defender.list_machines")
    assert machines
    return machines[0]["id"]


def test_incidents_have_one_shape_on_both_apis(env):
    xdr = env.call("defender.list_incidents", api="xdr")
    graph = env.call("defender.list_incidents", api="graph")
    assert xdr and graph
    assert {i["api"] for i in xdr} == {"xdr"} and {i["api"] for i in graph} == {"graph"}
    by_id = {str(i["incidentId"]): i for i in graph}
    for inc in xdr:
        other = by_id[str(inc["incidentId"])]
        for key in ("incidentName", "status", "severity", "classification", "determination", "tags"):
            assert inc[key] == other[key], key
        devs = lambda i: sorted(d["deviceId"] for a in i["alerts"] for d in a["devices"])  # noqa: E731
        assert devs(inc) == devs(other)
    from soar_defender.filters import f_devices

    assert {d["deviceId"] for d in f_devices(xdr)} == {d["deviceId"] for d in f_devices(graph)}
    assert all(d.get("riskScore") in ("None", "Informational", "Low", "Medium", "High", None)
               for d in f_devices(graph))


def test_list_incidents_filters(env):
    active = env.call("defender.list_incidents", api="xdr", status="Active")
    assert active and all(i["status"] == "Active" for i in active)
    high = env.call("defender.list_incidents", api="graph", severity="High")
    assert all(i["severity"] == "High" for i in high)
    assert env.call("defender.list_incidents", api="xdr", max_items=2).__len__() <= 2


def test_get_and_update_incident_on_both_apis(env):
    first = env.call("defender.list_incidents", api="xdr")[0]
    got = env.call("defender.get_incident", incident_id=first["incidentId"], api="graph")
    assert got["incidentId"] == first["incidentId"] and got["api"] == "graph"
    upd = env.call("defender.update_incident", incident_id=first["incidentId"], api="xdr", status="InProgress",
                   tags=["soar"])
    assert upd["status"] == "InProgress" and upd["tags"] == ["soar"]
    upd = env.call("defender.update_incident", incident_id=first["incidentId"], api="graph",
                   assigned_to="soc@contoso.com", comment="via graph")
    assert upd["assignedTo"] == "soc@contoso.com" and upd["status"] == "InProgress"
    assert upd["comments"][-1]["comment"] == "via graph"  # POST .../comments, then read back
    found = env.reconcile("defender.update_incident", incident_id=first["incidentId"], api="graph",
                          assigned_to="soc@contoso.com", comment="via graph")
    assert found is not None and found.api == "graph"  # the comment is there: not added twice
    with pytest.raises(errors.ApiError) as info:
        env.call("defender.get_incident", incident_id=999999999, api="xdr")
    assert info.value.status == 404


def test_update_incident_reconciles_a_comment_it_already_added(env):
    # after a crash, an update whose comment is on the incident (with the values asked for) took
    # effect: resume must not add the comment twice; without a comment, a PATCH is simply re-sent
    first = env.call("defender.list_incidents", api="xdr")[0]
    asked = dict(incident_id=first["incidentId"], api="xdr", status="InProgress", comment="soar: isolated 2 devices")
    assert env.reconcile("defender.update_incident", **asked) is None  # not sent yet
    env.call("defender.update_incident", **asked)
    found = env.reconcile("defender.update_incident", **asked)
    assert found is not None and found.status == "InProgress"
    assert [c["comment"] for c in found.comments].count("soar: isolated 2 devices") == 1
    assert env.reconcile("defender.update_incident", **{**asked, "status": "Resolved"}) is None  # not that update
    assert env.reconcile("defender.update_incident", **{**asked, "comment": "another"}) is None
    assert env.reconcile("defender.update_incident", incident_id=first["incidentId"], api="xdr",
                         status="InProgress") is None  # no comment: the PATCH is safe to send again


def test_update_alert_reconciles_a_comment_it_already_added(env):
    alert = env.call("defender.list_alerts")[0]
    asked = dict(alert_id=alert["id"], status="InProgress", assigned_to="soc@contoso.com", comment="triaged by soar")
    assert env.reconcile("defender.update_alert", **asked) is None
    env.call("defender.update_alert", **asked)
    found = env.reconcile("defender.update_alert", **asked)
    assert found is not None and found.assignedTo == "soc@contoso.com"
    assert env.reconcile("defender.update_alert", **{**asked, "assigned_to": "other@contoso.com"}) is None
    assert env.reconcile("defender.update_alert", alert_id=alert["id"], status="InProgress") is None


def test_machines_find_and_alerts(env):
    machines = env.call("defender.list_machines")
    m = machines[0]
    found = env.call("defender.find_machine", dns_name=m["computerDnsName"])
    assert [x["id"] for x in found] == [m["id"]]
    if m.get("lastIpAddress"):
        assert m["id"] in [x["id"] for x in env.call("defender.find_machine", ip=m["lastIpAddress"])]
    assert env.call("defender.get_machine", machine_id=m["id"])["id"] == m["id"]
    alerts = env.call("defender.list_alerts", max_items=5)
    assert 0 < len(alerts) <= 5
    one = env.call("defender.get_alert", alert_id=alerts[0]["id"])
    assert one["id"] == alerts[0]["id"]
    upd = env.call("defender.update_alert", alert_id=one["id"], status="InProgress")
    assert upd["status"] == "InProgress"


def test_no_recent_machines_is_an_empty_list(host):
    cloud = SimulatedCloud(defender={"tenant_devices": {"contoso": 0}})
    e = Env(host, cloud)
    try:
        assert e.call("defender.list_machines") == []
    finally:
        e.close()


def test_duplicate_isolate_returns_the_open_action(env):
    mid = a_machine(env)
    first = env.call("defender.isolate_machine", machine_id=mid, comment="first", isolation_type="Selective")
    assert first["type"] == "Isolate" and first["status"] in ("Pending", "InProgress") and not first["reused"]
    second = env.call("defender.isolate_machine", ctx=env.ctx(step="other"), machine_id=mid, comment="again")
    assert second["id"] == first["id"] and second["reused"]
    assert env.cloud.defender.count(method="POST", path_suffix="/isolate") == 1


def test_timeout_after_effect_still_one_isolate(env):
    mid = a_machine(env)
    env.cloud.defender.faults.timeout("*/isolate", after=True)
    out = env.call("defender.isolate_machine", machine_id=mid)
    assert out["reused"] and out["type"] == "Isolate"
    posts = [r for r in env.cloud.defender.requests(method="POST") if r["path"].endswith("/isolate")]
    assert len(posts) == 1
    actions = env.call("defender.list_machine_actions", machine_id=mid, type="Isolate")
    assert len(actions) == 1 and actions[0]["id"] == out["id"]


def test_timeout_before_effect_is_retryable(env):
    mid = a_machine(env)
    env.cloud.defender.faults.timeout("*/restrictCodeExecution")
    with pytest.raises(errors.TransientApiError) as info:
        env.call("defender.restrict_code_execution", machine_id=mid)
    assert info.value.retryable  # looked up: nothing was created, so a step retry may send it
    out = env.call("defender.restrict_code_execution", machine_id=mid)
    assert out["type"] == "RestrictCodeExecution" and not out["reused"]


def test_reconcile_finds_what_this_step_sent(env):
    mid = a_machine(env)
    ctx = env.ctx(step="iso", item=3, run_id="run-r")
    assert env.reconcile("defender.isolate_machine", ctx=ctx, machine_id=mid) is None
    sent = env.call("defender.isolate_machine", ctx=ctx, machine_id=mid)
    found = env.reconcile("defender.isolate_machine", ctx=env.ctx(step="iso", item=3, run_id="run-r"),
                          machine_id=mid)
    assert found is not None and found.id == sent["id"]
    assert env.reconcile("defender.isolate_machine", ctx=env.ctx(step="iso", item=4, run_id="run-r"),
                         machine_id=mid) is None


def test_wait_cancel_and_other_machine_actions(env):
    mid = a_machine(env)
    scan = env.call("defender.run_antivirus_scan", machine_id=mid, scan_type="Full")
    env.cloud.defender.advance(3600)
    done = env.call("defender.wait_machine_action", action_id=scan["id"], timeout="5s", interval="10ms")
    assert done["status"] in ("Succeeded", "Failed", "TimeOut")
    pkg = env.call("defender.collect_investigation_package", machine_id=mid)
    cancelled = env.call("defender.cancel_machine_action", action_id=pkg["id"], comment="not needed")
    assert cancelled["status"] == "Cancelled"
    again = env.call("defender.cancel_machine_action", action_id=pkg["id"])
    assert again["status"] == "Cancelled" and again["reused"]
    q = env.call("defender.stop_and_quarantine_file", machine_id=mid, sha1="a" * 40)
    assert q["type"] == "StopAndQuarantineFile"


def test_indicators_add_list_delete(env):
    added = env.call("defender.add_indicator", value="evil.example.com", type="DomainName", title="evil",
                     action="Block")
    assert added["indicatorValue"] == "evil.example.com"
    assert env.reconcile("defender.add_indicator", value="evil.example.com", type="DomainName", title="evil",
                         action="Block") is not None
    listed = env.call("defender.list_indicators", value="evil.example.com")
    assert [i["id"] for i in listed] == [added["id"]]
    gone = env.call("defender.delete_indicator", indicator_id=added["id"])
    assert gone["deleted"] == [str(added["id"])]
    assert env.call("defender.delete_indicator", indicator_id=added["id"])["absent"] == [str(added["id"])]


def test_get_token_output_is_a_secret(env):
    from runner import Secret

    out = env.call("entra.get_token", api="mde", roles=["Machine.Read.All"])
    assert isinstance(out["token"], Secret) and str(out["token"]) == "***"
    assert out["tenant"] == "contoso" and "Machine.Read.All" in out["roles"]


def test_missing_role_is_permission_missing(env):
    env.cloud.set_roles("contoso", "mde", ["Machine.Read.All"])
    mid = a_machine(env)
    with pytest.raises(errors.PermissionMissing) as info:
        env.call("defender.isolate_machine", machine_id=mid)
    assert "Machine.Isolate" in str(info.value)


PLAYBOOK = """\
name: isolate-risky-devices
tenants: [contoso]
steps:
  - id: incidents
    action: defender.list_incidents
    with: {status: Active}
  - id: isolate
    action: defender.isolate_machine
    foreach: "${{ steps.incidents.output | devices }}"
    when: "${{ item.riskScore == 'High' }}"
    with:
      machine_id: "${{ item.deviceId }}"
      comment: "Isolated by ${{ playbook.name }}"
      isolation_type: Full
outputs:
  devices: "${{ steps.incidents.output | devices | length }}"
  isolated: "${{ steps.isolate.output | select | map(attribute='id') | list }}"
"""


def test_playbook_lists_incidents_and_isolates_high_risk_devices(tmp_path):
    pb = tmp_path / "pb.yaml"
    pb.write_text(PLAYBOOK)
    from runner.cli import main

    args = ["--store", f"sqlite:///{tmp_path}/s.db", "run", str(pb), "--simulate", "--auto-approve", "--json"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["status"] == "succeeded", doc
    outputs = doc["outputs"].get("contoso", doc["outputs"])
    outputs = outputs.get("outputs", outputs)
    assert outputs["devices"] > 0
    assert len(outputs["isolated"]) == len(set(outputs["isolated"])) >= 1
