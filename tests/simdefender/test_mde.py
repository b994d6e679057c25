"""MDE: alerts, machines, machine actions on the simulated clock, indicators."""

from __future__ import annotations

import pytest
from simdefender_helpers import MDE, START, XDR, Api

from runner.sim import SimulatedCloud


def test_machines_list_filter_get(api, cloud):
    devices = cloud.defender.tenant("contoso").devices
    body = api.get(f"{MDE}/api/machines").json()
    assert body["@odata.context"].endswith("#Machines") and len(body["value"]) == 25
    d = devices[3]
    for flt in (f"computerDnsName eq '{d['computerDnsName']}'", f"lastIpAddress eq '{d['lastIpAddress']}'"):
        got = api.get(f"{MDE}/api/machines", params={"$filter": flt}).json()["value"]
        assert d["id"] in [m["id"] for m in got]
    high = api.get(f"{MDE}/api/machines", params={"$filter": "riskScore eq 'High' and healthStatus eq 'Active'"})
    assert high.json()["value"] and all(m["riskScore"] == "High" for m in high.json()["value"])
    tagged = next(x for x in devices if x["machineTags"])
    tag = tagged["machineTags"][0]
    got = api.get(f"{MDE}/api/machines", params={"$filter": f"machineTags/any(t: t eq '{tag}')"}).json()["value"]
    assert tagged["id"] in [m["id"] for m in got] and all(tag in m["machineTags"] for m in got)
    assert api.get(f"{MDE}/api/machines/{d['id']}").json()["computerDnsName"] == d["computerDnsName"]
    missing = api.get(f"{MDE}/api/machines/{'0' * 40}")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "ResourceNotFound"
    # current docs put MDE under api.security.microsoft.com too, with /api/v1.0 as an alias
    assert len(api.get(f"{XDR}/api/v1.0/machines").json()["value"]) == 25


def test_machines_404_when_the_tenant_has_none():
    cloud = SimulatedCloud(defender={"time_scale": 0, "tenant_devices": {"fabrikam": 0}})
    client = Api(cloud)
    try:
        r = client.get(f"{MDE}/api/machines", tenant="fabrikam")
        assert r.status_code == 404 and r.json()["error"]["code"] == "ResourceNotFound"
        assert client.get(f"{MDE}/api/machines", tenant="contoso").status_code == 200
    finally:
        client.close()


def test_alerts_filter_and_expand(api, cloud):
    t = cloud.defender.tenant("contoso")
    body = api.get(f"{MDE}/api/alerts").json()
    assert len(body["value"]) == 30 and body["value"][0]["evidence"] == []  # as Microsoft's example 1
    inc = t.incidents[-1]["incidentId"]
    got = api.get(f"{MDE}/api/alerts", params={"$filter": f"incidentId eq {inc}", "$expand": "evidence"}).json()
    assert got["value"] and all(a["incidentId"] == inc and a["evidence"] for a in got["value"])
    one = got["value"][0]["id"]
    assert api.get(f"{MDE}/api/alerts/{one}").json()["id"] == one
    r = api.patch(f"{MDE}/api/alerts/{one}", {"status": "Resolved", "comment": "done"})
    assert r.status_code == 200 and t.alert(one)["status"] == "Resolved" and t.alert(one)["comments"]
    assert api.get(f"{MDE}/api/alerts", params={"$top": "10001"}).status_code == 400


def test_isolate_runs_to_succeeded_on_the_sim_clock(api, cloud):
    sim = cloud.defender
    device = sim.tenant("contoso").devices[0]
    url = f"{MDE}/api/machines/{device['id']}/isolate"
    r = api.post(url, {"Comment": "triage", "IsolationType": "Full"})
    assert r.status_code == 201, r.text
    action = r.json()
    assert action["type"] == "Isolate" and action["status"] == "Pending" and action["scope"] == "Full"
    assert action["machineId"] == device["id"] and action["requestor"] == cloud.app.client_id
    poll = f"{MDE}/api/machineactions/{action['id']}"
    sim.advance(sim.timing.pending_seconds)
    assert api.get(poll).json()["status"] == "InProgress"
    assert not sim.tenant("contoso").is_isolated(device["id"])
    sim.advance(sim.timing.running_seconds)
    assert api.get(poll).json()["status"] == "Succeeded"
    assert sim.tenant("contoso").isolated[device["id"]] == "Full"
    listed = api.get(f"{MDE}/api/machineactions",
                     params={"$filter": f"machineId eq '{device['id']}' and type eq 'Isolate'"}).json()["value"]
    assert [a["id"] for a in listed] == [action["id"]]
    assert api.post(f"{MDE}/api/machines/{device['id']}/unisolate", {"Comment": "ok"}).status_code == 201
    sim.advance(600)
    assert not sim.tenant("contoso").is_isolated(device["id"])
    assert sim.count(method="POST", path_suffix="/isolate", machine_id=device["id"]) == 1


def test_duplicate_isolate_is_400_or_the_pending_action(api, cloud):
    device = cloud.defender.tenant("contoso").devices[1]
    url = f"{MDE}/api/machines/{device['id']}/isolate"
    first = api.post(url, {"Comment": "a", "IsolationType": "Selective"}).json()
    dup = api.post(url, {"Comment": "b", "IsolationType": "Selective"})
    assert dup.status_code == 400
    assert dup.json()["error"]["code"] == "ActiveRequestAlreadyExists"
    assert dup.json()["error"]["message"] == "Action is already in progress"
    cloud.defender.tenant("contoso").settings.duplicate_action = "pending"
    again = api.post(url, {"Comment": "c"})
    assert again.status_code == 201 and again.json()["id"] == first["id"]
    assert len(cloud.defender.tenant("contoso").actions) == 1


@pytest.mark.parametrize("action, body, message", [
    ("isolate", {"comment": "lowercase", "IsolationType": "Full"}, "Comment is required"),
    ("isolate", {"Comment": "x", "IsolationType": "Partial"}, "Invalid IsolationType"),
    ("runAntiVirusScan", {"Comment": "x", "ScanType": "quick"}, "Invalid ScanType"),
    ("StopAndQuarantineFile", {"Comment": "x"}, "Sha1 is required"),
])
def test_machine_action_bodies_are_case_sensitive(api, cloud, action, body, message):
    device = cloud.defender.tenant("contoso").devices[2]
    r = api.post(f"{MDE}/api/machines/{device['id']}/{action}", body)
    assert r.status_code == 400 and r.json()["error"]["code"] == "InvalidRequestBody"
    assert r.json()["error"]["message"].startswith(message)
    assert cloud.defender.tenant("contoso").actions == []


def test_other_actions_and_cancel(api, cloud):
    t = cloud.defender.tenant("contoso")
    windows = next(d for d in t.devices if d["osPlatform"].startswith("Windows"))
    for action, body in (("runAntiVirusScan", {"Comment": "x", "ScanType": "Full"}),
                         ("collectInvestigationPackage", {"Comment": "x"}),
                         ("restrictCodeExecution", {"Comment": "x"}),
                         ("StopAndQuarantineFile", {"Comment": "x", "Sha1": "a" * 40})):
        assert api.post(f"{MDE}/api/machines/{windows['id']}/{action}", body).status_code == 201, action
    scan = next(a for a in t.actions if a.data["type"] == "RunAntiVirusScan")
    r = api.post(f"{MDE}/api/machineactions/{scan.data['id']}/cancel", {"Comment": "oops"})
    assert r.status_code == 200 and r.json()["status"] == "Cancelled"
    assert api.post(f"{MDE}/api/machineactions/{scan.data['id']}/cancel", {"Comment": "x"}).status_code == 400
    cloud.defender.advance(3600)
    assert windows["id"] in t.restricted and (windows["id"], "a" * 40) in t.quarantined
    assert api.get(f"{MDE}/api/machineactions/nope").status_code == 404


def test_failure_rate_makes_actions_fail():
    cloud = SimulatedCloud(defender={"time_scale": 0, "action_failure_rate": 1.0})
    client = Api(cloud)
    try:
        device = cloud.defender.tenant("contoso").devices[0]
        action = client.post(f"{MDE}/api/machines/{device['id']}/isolate", {"Comment": "x"}).json()
        cloud.defender.advance(3600)
        assert client.get(f"{MDE}/api/machineactions/{action['id']}").json()["status"] == "Failed"
        assert not cloud.defender.tenant("contoso").is_isolated(device["id"])
    finally:
        client.close()


def test_time_scale_moves_actions_in_real_time():
    clock = iter(range(0, 10_000, 1))
    from soar_defender.sim import SimClock

    fake = SimClock(60, START, real=lambda: float(next(clock)))
    assert fake.now() - START == pytest.approx(60, abs=60)
    assert fake.to_real(120) == 2


def test_indicators(api, cloud):
    t = cloud.defender.tenant("contoso")
    seeded = len(t.indicators)
    body = {"indicatorValue": "198.51.100.7", "indicatorType": "IpAddress", "action": "Block",
            "title": "bad ip", "description": "from soar", "severity": "High"}
    r = api.post(f"{MDE}/api/indicators", body)
    assert r.status_code == 200 and r.json()["indicatorValue"] == "198.51.100.7"
    assert api.post(f"{MDE}/api/indicators", {**body, "title": "updated"}).json()["title"] == "updated"
    assert len(t.indicators) == seeded + 1
    for bad, code in (({**body, "indicatorValue": "198.51.100.0/24"}, "InvalidIpAddress"),
                      ({**body, "action": "Audit"}, "InvalidRequestBody"),
                      ({k: v for k, v in body.items() if k != "title"}, "InvalidRequestBody"),
                      ({**body, "indicatorType": "FileSha1", "indicatorValue": "abc"}, "InvalidHash"),
                      ({**body, "IndicatorType": "Url"}, None)):
        r = api.post(f"{MDE}/api/indicators", bad)
        if code:
            assert r.status_code == 400 and r.json()["error"]["code"] == code, bad
    assert api.post(f"{MDE}/api/indicators", {**body, "action": "Audit", "generateAlert": True}).status_code == 200
    new_id = r.json()["id"]
    listed = api.get(f"{MDE}/api/indicators", params={"$filter": "indicatorType eq 'IpAddress'"}).json()["value"]
    assert any(i["id"] == new_id for i in listed)
    assert api.call("DELETE", f"{MDE}/api/indicators/{new_id}").status_code == 204
    assert api.call("DELETE", f"{MDE}/api/indicators/{new_id}").status_code == 404
    cloud.defender.config.max_indicators = len(t.indicators)
    r = api.post(f"{MDE}/api/indicators", {**body, "indicatorValue": "198.51.100.8"})
    assert r.status_code == 400 and "Maximum" in r.json()["error"]["message"]
