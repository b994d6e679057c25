"""Tokens and roles, quotas (429 + Retry-After), fault injection, the request log, the hunting hook."""

from __future__ import annotations

import httpx
import pytest
from simdefender_helpers import GRAPH, MDE, XDR, Api

from runner.sim import SimulatedCloud


def test_missing_invalid_and_wrong_resource_tokens_are_401(api, cloud):
    for headers in ({}, {"Authorization": "Bearer not-a-jwt"}):
        r = api.http.get(f"{MDE}/api/machines", headers=headers)
        assert r.status_code == 401 and r.json()["error"]["code"] == "Unauthorized"
        assert set(r.json()["error"]) == {"code", "message", "target"}
    xdr_token = api.token("contoso", "xdr")
    assert api.get(f"{MDE}/api/machines", token=xdr_token).status_code == 401
    assert api.get(f"{XDR}/api/machines", token=xdr_token).status_code == 401  # MDE paths want MDE tokens
    assert api.get(f"{GRAPH}/v1.0/security/incidents", token=xdr_token).status_code == 401
    expired = cloud.issue_token("contoso", "mde", lifetime=-10)
    assert api.get(f"{MDE}/api/machines", token=expired).status_code == 401


def test_missing_role_is_403_naming_the_role(api, cloud):
    token = cloud.issue_token("contoso", "mde", roles=["Machine.Read.All"])
    device = cloud.defender.tenant("contoso").devices[0]
    assert api.get(f"{MDE}/api/machines", token=token).status_code == 200
    r = api.post(f"{MDE}/api/machines/{device['id']}/isolate", {"Comment": "x"}, token=token)
    assert r.status_code == 403 and r.json()["error"]["code"] == "Forbidden"
    assert r.json()["error"]["message"] == "Missing application roles. API required roles: Machine.Isolate."
    read_only = cloud.issue_token("contoso", "xdr", roles=["Incident.Read.All"])
    inc = cloud.defender.tenant("contoso").incidents[0]["incidentId"]
    r = api.patch(f"{XDR}/api/incidents/{inc}", {"status": "Active"}, token=read_only)
    assert r.status_code == 403 and "Incident.ReadWrite.All" in r.json()["error"]["message"]
    assert cloud.defender.tenant("contoso").actions == []


def test_mde_quota_gives_429_with_retry_after(api, cloud):
    sim = cloud.defender
    sim.quotas.set_limit("mde", (3, 60))
    sim.clock.time_scale = 60  # one simulated minute per real second
    codes = [api.get(f"{MDE}/api/alerts?$top=1").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    r = api.get(f"{MDE}/api/alerts?$top=1")
    assert r.json()["error"]["code"] == "TooManyRequests" and 1 <= int(r.headers["Retry-After"]) <= 1
    assert api.get(f"{MDE}/api/alerts?$top=1", tenant="fabrikam").status_code == 200  # per tenant
    sim.clock.time_scale = 0
    sim.advance(61)
    assert api.get(f"{MDE}/api/alerts?$top=1").status_code == 200


def test_xdr_quota_body_says_when_it_resets(api, cloud):
    cloud.defender.quotas.set_limit("xdr_incidents", (2, 60))
    codes = [api.get(f"{XDR}/api/incidents?$top=1").status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    r = api.get(f"{XDR}/api/incidents?$top=1")
    assert "Quota resets at" in r.json()["error"]["message"] and "Retry-After" not in r.headers


def test_default_quota_is_100_per_minute_and_can_be_disabled():
    cloud = SimulatedCloud(defender={"time_scale": 0})
    client = Api(cloud)
    try:
        codes = [client.get(f"{MDE}/api/alerts?$top=1").status_code for _ in range(101)]
        assert codes.count(200) == 100 and codes[-1] == 429
        cloud.defender.quotas.enabled = False
        assert client.get(f"{MDE}/api/alerts?$top=1").status_code == 200
    finally:
        client.close()


def test_fault_rules_status_and_count(api, cloud):
    sim = cloud.defender
    sim.faults.add("/api/machines", status=503, times=2, method="GET")
    assert [api.get(f"{MDE}/api/machines").status_code for _ in range(3)] == [503, 503, 200]
    assert sim.count(path="/api/machines", status=503) == 2


def test_timeout_before_effect_changes_nothing(api, cloud):
    sim = cloud.defender
    device = sim.tenant("contoso").devices[0]
    sim.faults.timeout("*/isolate", after=False)
    with pytest.raises(httpx.ReadTimeout):
        api.post(f"{MDE}/api/machines/{device['id']}/isolate", {"Comment": "x"})
    assert sim.tenant("contoso").actions == []


def test_timeout_after_effect_leaves_the_action_queued(api, cloud):
    sim = cloud.defender
    device = sim.tenant("contoso").devices[0]
    sim.faults.timeout("*/isolate", after=True)
    with pytest.raises(httpx.ReadTimeout):
        api.post(f"{MDE}/api/machines/{device['id']}/isolate", {"Comment": "x"})
    assert [a.data["status"] for a in sim.tenant("contoso").actions] == ["Pending"]
    entry = sim.requests(path_suffix="/isolate")[-1]
    assert entry["fault"] == "timeout-after" and entry["effect"] and entry["action_type"] == "Isolate"
    # an idempotent client looks the open action up instead of isolating twice
    open_ = api.get(f"{MDE}/api/machineactions",
                    params={"$filter": f"machineId eq '{device['id']}' and status eq 'Pending'"}).json()["value"]
    assert len(open_) == 1
    assert api.post(f"{MDE}/api/machines/{device['id']}/isolate", {"Comment": "x"}).status_code == 400


def test_error_rate_and_status_after_effect(api, cloud):
    sim = cloud.defender
    sim.faults.error_rate = 1.0
    assert api.get(f"{MDE}/api/machines").status_code in (500, 502, 503)
    sim.faults.clear()
    device = sim.tenant("contoso").devices[0]
    sim.faults.add("*/isolate", status=500, when="after")
    assert api.post(f"{MDE}/api/machines/{device['id']}/isolate", {"Comment": "x"}).status_code == 500
    assert len(sim.tenant("contoso").actions) == 1


def test_request_log_records_calls(api, cloud):
    sim = cloud.defender
    device = sim.tenant("contoso").devices[0]
    api.get(f"{MDE}/api/machines", params={"$top": "2"})
    api.post(f"{MDE}/api/machines/{device['id']}/isolate", {"Comment": "x"})
    entry = sim.requests(method="POST")[0]
    assert entry["host"] == "api.securitycenter.microsoft.com" and entry["tenant"] == "contoso"
    assert entry["status"] == 201 and entry["machine_id"] == device["id"] and entry["action_type"] == "Isolate"
    assert sim.requests(method="GET")[0]["query"] == {"$top": "2"}
    assert sim.count(tenant="contoso") == 2
    sim.clear_log()
    assert sim.count() == 0


def test_hunting_hook_is_the_kql_simulator_and_replaceable(api, cloud):
    r = api.post(f"{XDR}/api/advancedhunting/run", {"Query": "DeviceInfo | take 1"})
    assert r.status_code == 200 and len(r.json()["Results"]) == 1
    cloud.defender.hunting = None
    r = api.post(f"{XDR}/api/advancedhunting/run", {"Query": "DeviceInfo | take 1"})
    assert r.status_code == 501 and r.json()["error"]["message"] == "Advanced hunting is not yet simulated"
    cloud.defender.hunting = lambda tenant, flavour, body: {"Schema": [], "Results": [{"t": tenant.name}]}
    r = api.post(f"{MDE}/api/advancedqueries/run", {"Query": "DeviceInfo"})
    assert r.status_code == 200 and r.json()["Results"] == [{"t": "contoso"}]
    assert api.post(f"{GRAPH}/v1.0/security/runHuntingQuery", {"Query": "x"}).status_code == 200


def test_unknown_route_is_404(api):
    r = api.get(f"{MDE}/api/nothing")
    assert r.status_code == 404 and r.json()["error"]["code"] == "NotFound"
