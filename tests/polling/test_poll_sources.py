"""Poll sources and modes: the trigger's filter ANDed in, alerts, Graph incidents, batch mode."""

from __future__ import annotations

from poll_helpers import MINUTE, PollEnv

from runner.serve.polling import parse_time


def test_filter_is_anded_with_the_watermark(env):
    poller = env.poller(filter="status eq 'Active'")
    env.poll(poller)
    env.sim.advance(MINUTE)
    active = env.sim.add_incident("contoso", status="Active")
    env.sim.add_incident("contoso", status="Resolved")
    result = env.poll(poller)
    assert result.submitted == 1 and [p["item"]["incidentId"] for _e, _k, p in env.inbox.events] == [
        active["incidentId"]]
    flt = env.sim.requests(path_suffix="/api/incidents")[-1]["query"]["$filter"]
    assert flt == f"lastUpdateTime ge {result.since} and (status eq 'Active')"
    # a filter is part of the cursor's scope: another filter starts its own cursor
    assert env.poller(filter="status eq 'Resolved'").scope != poller.scope != "defender.incidents"


def test_alerts_source_polls_mde_alerts_by_last_update_time(env):
    poller = env.poller(source="defender.alerts")
    env.poll(poller)
    env.sim.advance(5 * MINUTE)
    now = env.now()
    a1 = env.sim.add_alert("contoso", severity="High")
    a2 = env.sim.add_alert("contoso", created=now - 20 * MINUTE, last_update=now - 20 * MINUTE)  # late
    first = env.poll(poller)
    assert first.submitted == 2
    env.sim.advance(MINUTE)
    env.sim.touch_alert("contoso", a1["id"], status="InProgress")
    env.poll(poller)
    env.poll(poller)
    requests = env.sim.requests(path_suffix="/api/alerts")
    assert requests and all(r["host"] == "api.securitycenter.microsoft.com" for r in requests)
    assert requests[-1]["query"]["$filter"].startswith("lastUpdateTime ge ")
    got = env.inbox.versions()
    assert max(got.values()) == 1 and len(got) == 3
    assert {i for i, _t in got} == {a1["id"], a2["id"]}
    _e, key, payload = env.inbox.events[-1]
    assert payload["source"] == "defender.alerts" and payload["api"] == "mde"
    assert payload["item"]["status"] == "InProgress" and key.startswith("poll:contoso:defender.alerts:")


def test_graph_incidents_when_the_tenant_prefers_graph(tmp_path):
    env = PollEnv(f"sqlite:///{tmp_path / 'soar.db'}", incidents_api="graph")
    try:
        poller = env.poller(filter="status eq 'active'")
        env.poll(poller)
        env.sim.advance(MINUTE)
        inc = env.sim.add_incident("contoso")
        env.sim.add_incident("contoso", status="Resolved")
        assert env.poll(poller).submitted == 1
        request = env.sim.requests(path_suffix="/security/incidents")[-1]
        assert request["host"] == "graph.microsoft.com" and request["query"]["$expand"] == "alerts"
        assert request["query"]["$filter"].startswith("lastUpdateDateTime ge ")
        item = env.inbox.events[0][2]["item"]
        # the Defender plugin's one incident shape, as defender.list_incidents gives it
        assert item["incidentId"] == inc["incidentId"] and item["api"] == "graph" and item["status"] == "Active"
        assert item["alerts"] and item["alerts"][0]["devices"]
    finally:
        env.close()


def test_batch_mode_submits_one_event_per_poll(env):
    poller = env.poller(batch=True)
    env.poll(poller)
    assert env.inbox.events == []  # nothing new: no event at all
    env.sim.advance(MINUTE)
    now = env.now()
    incs = [env.sim.add_incident("contoso", last_update=now - k * MINUTE) for k in (3, 1, 2)]
    first = env.poll(poller)
    assert (first.events, first.submitted) == (1, 3)
    _e, key, payload = env.inbox.events[0]
    assert payload["tenant"] == "contoso" and key.startswith("poll:contoso:defender.incidents:batch:")
    times = [parse_time(i["lastUpdateTime"]) for i in payload["items"]]
    assert times == sorted(times)  # oldest first
    assert {i["incidentId"] for i in payload["items"]} == {i["incidentId"] for i in incs}

    again = env.poll(poller)
    assert (again.events, again.duplicates) == (0, 3) and len(env.inbox.events) == 1
    env.sim.advance(MINUTE)
    env.sim.touch_incident("contoso", incs[0]["incidentId"], status="Resolved")
    env.poll(poller)
    assert len(env.inbox.events) == 2 and [i["status"] for i in env.inbox.events[1][2]["items"]] == ["Resolved"]
    assert max(env.inbox.versions().values()) == 1


def test_batch_key_depends_only_on_the_set_of_versions(tmp_path):
    keys = []
    for run in range(2):  # two separate stores: the same items give the same batch key
        env = PollEnv(f"sqlite:///{tmp_path / f'soar{run}.db'}")
        try:
            poller = env.poller(batch=True)
            env.poll(poller)
            env.sim.add_incident("contoso", incident_id=5001, last_update=env.now() - 60)
            env.sim.add_incident("contoso", incident_id=5002, last_update=env.now() - 30)
            env.poll(poller)
            keys.append(env.inbox.events[0][1])
        finally:
            env.close()
    assert keys[0] == keys[1]
