"""The simulator's injection API (late, out-of-order, updated items) and page-specific faults."""

from __future__ import annotations

import asyncio

import pytest
from poll_helpers import MINUTE, START

from runner.errors import TransientApiError
from soar_defender.sim.clock import iso


def _list(env, api: str, path: str, params: dict) -> dict:
    roles = {"xdr": ("Incident.Read.All",), "mde": ("Alert.Read.All",), "graph": ("SecurityIncident.Read.All",)}

    async def go():
        return await env.apis.client(env.tenant, api, roles[api]).get(path, params)
    return asyncio.run(go())


def test_late_incidents_are_listed_by_their_last_update_time(env):
    env.sim.advance(30 * MINUTE)
    fresh = env.sim.add_incident("contoso", severity="Medium")
    late = env.sim.add_incident("contoso", last_update=START + 60, created=START)
    iso_late = env.sim.add_incident("contoso", last_update=iso(START + 120))
    assert late["lastUpdateTime"] == "2026-01-01T00:01:00.000Z" and late["createdTime"] == iso(START)
    assert fresh["lastUpdateTime"] == iso(START + 30 * MINUTE) and fresh["incidentId"] > 1000
    body = _list(env, "xdr", "/api/incidents", {"$filter": "lastUpdateTime ge 2026-01-01T00:01:30Z"})
    assert [i["incidentId"] for i in body["value"]] == [fresh["incidentId"], iso_late["incidentId"]]
    whole = _list(env, "xdr", "/api/incidents", {})["value"]
    assert [i["incidentId"] for i in whole] == [fresh["incidentId"], iso_late["incidentId"], late["incidentId"]]
    assert whole[0]["alerts"] and whole[0]["alerts"][0]["devices"] and whole[0]["severity"] == "Medium"


def test_touch_moves_an_incident_and_checks_its_arguments(env):
    inc = env.sim.add_incident("contoso", incident_id=4242, last_update=START - 3600)
    env.sim.advance(MINUTE)
    touched = env.sim.touch_incident("contoso", 4242, status="Resolved")
    assert touched["lastUpdateTime"] == iso(START + MINUTE) and touched["status"] == "Resolved"
    assert env.sim.touch_incident("contoso", 4242, last_update=START - 10)["lastUpdateTime"] == iso(START - 10)
    assert inc["incidentId"] == 4242
    with pytest.raises(ValueError, match="already exists"):
        env.sim.add_incident("contoso", incident_id=4242)
    with pytest.raises(KeyError):
        env.sim.touch_incident("contoso", 999999)
    with pytest.raises(TypeError, match="cannot set bogus"):
        env.sim.touch_incident("contoso", 4242, bogus=1)
    with pytest.raises(ValueError, match="not a time"):
        env.sim.touch_incident("contoso", 4242, last_update="yesterday")


def test_alerts_join_their_incident_and_can_be_touched(env):
    inc = env.sim.add_incident("contoso", alerts=0)
    alert = env.sim.add_alert("contoso", incident_id=inc["incidentId"], last_update=START - 600, title="Late one")
    own = env.sim.add_alert("contoso")  # gets an incident of its own
    assert alert["incidentId"] == inc["incidentId"] and own["incidentId"] != inc["incidentId"]
    assert env.sim.tenant("contoso").incident(inc["incidentId"])["alertIds"] == [alert["id"]]
    env.sim.advance(MINUTE)
    env.sim.touch_alert("contoso", alert["id"], status="InProgress")
    body = _list(env, "mde", "/api/alerts", {"$filter": f"lastUpdateTime ge {iso(START)}"})
    by_id = {a["id"]: a for a in body["value"]}
    assert by_id[alert["id"]]["status"] == "InProgress" and by_id[alert["id"]]["title"] == "Late one"
    assert own["id"] in by_id


def test_a_fault_can_target_one_page(env):
    for k in range(4):
        env.sim.add_incident("contoso", last_update=START - k)
    env.sim.faults.add("/api/incidents", status=500, times=None, params={"$skip": "2"})
    assert len(_list(env, "xdr", "/api/incidents", {"$top": 2, "$skip": 0})["value"]) == 2
    with pytest.raises(TransientApiError, match="HTTP 500"):
        _list(env, "xdr", "/api/incidents", {"$top": 2, "$skip": 2})
    assert [r["fault"] for r in env.sim.requests(path_suffix="/api/incidents")] == [None, 500, 500]
