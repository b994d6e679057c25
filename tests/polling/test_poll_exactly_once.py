"""The must-show: a poll trigger against the simulator, incidents arriving late and out of order,
and updates of the same incident: each incident update is processed exactly once."""

from __future__ import annotations

import random

import pytest
from poll_helpers import MINUTE, PollEnv, version

from runner.serve.polling import parse_time
from runner.store.cursors import CursorStore


def _scenario(env: PollEnv, poller, rounds: int, seed: int) -> tuple[set, list]:
    """Random arrivals between polls; returns every version visible at some poll, and results."""
    rng = random.Random(seed)
    ids: list[int] = []
    visible: set = set()
    results = [env.poll(poller)]  # first poll: watermark = now, nothing there yet
    for _ in range(rounds):
        env.sim.advance(2 * MINUTE)
        now = env.now()
        for _ in range(rng.randint(0, 4)):  # new incidents, on time or up to 50 min late
            late = rng.choice([0.0, rng.uniform(0, 50 * MINUTE)])
            ids.append(env.sim.add_incident("contoso", last_update=now - late)["incidentId"])
        for _ in range(rng.randint(0, 3) if ids else 0):  # updates, some delivered late
            inc_id = rng.choice(ids)
            previous = parse_time(env.sim.tenant("contoso").incident(inc_id)["lastUpdateTime"]).timestamp()
            when = max(previous + 1, now - rng.choice([0.0, rng.uniform(0, 40 * MINUTE)]))
            env.sim.touch_incident("contoso", inc_id, last_update=min(when, now), status="InProgress")
        visible |= env.visible_incidents()
        results.append(env.poll(poller))
    return visible, results


@pytest.mark.parametrize("mode", ["xdr", "xdr-nextlink", "graph"])
def test_each_incident_update_is_processed_exactly_once(tmp_path, mode):
    env = PollEnv(f"sqlite:///{tmp_path / 'soar.db'}", incidents_api="graph" if mode == "graph" else None,
                  xdr_next_link=mode == "xdr-nextlink")
    try:
        poller = env.poller(page_size=5)  # small pages: the overlap window spans many of them
        visible, results = _scenario(env, poller, rounds=25, seed=11)

        delivered = env.inbox.versions()
        assert delivered, "the scenario produced incidents"
        assert max(delivered.values()) == 1, [v for v, n in delivered.items() if n > 1]
        assert set(delivered) == visible  # and none missed: every version seen at a poll was run
        assert env.inbox.rejected == 0  # the poller itself never handed an item over twice
        # the overlap window re-read items many times; they were recognised, not resubmitted
        assert sum(r.duplicates for r in results) > len(delivered)
        assert max(r.pages for r in results) > 3
        assert all(r.failed_pages == 0 and not r.held_back for r in results)
        # every event carries the normalized incident and the tenant
        _eid, key, payload = env.inbox.events[0]
        assert payload["tenant"] == "contoso" and payload["source"] == "defender.incidents"
        assert key.startswith("poll:contoso:defender.incidents:")
        assert isinstance(payload["item"]["incidentId"], int) and payload["item"]["api"] == env.poller().listing.api
        # seen keys are pruned to the overlap window, not kept forever
        kept = CursorStore(env.store).seen_keys("triage", "contoso", "defender.incidents")
        assert 0 < len(kept) < len(delivered)
    finally:
        env.close()


def test_late_item_inside_overlap_is_caught_and_older_one_is_missed(env):
    poller = env.poller(overlap="1h")
    env.poll(poller)
    env.sim.advance(10 * MINUTE)
    on_time = env.sim.add_incident("contoso")
    assert env.poll(poller).submitted == 1
    watermark = env.now()

    env.sim.advance(2 * MINUTE)
    late = env.sim.add_incident("contoso", last_update=watermark - 55 * MINUTE)           # inside the window
    too_late = env.sim.add_incident("contoso", last_update=watermark - 65 * MINUTE)       # behind it: missed
    result = env.poll(poller)

    got = {i for (i, _t) in env.inbox.versions()}
    assert str(late["incidentId"]) in got and str(on_time["incidentId"]) in got
    assert str(too_late["incidentId"]) not in got  # documented: older than watermark - overlap
    assert (result.submitted, result.duplicates) == (1, 1)
    # the query asked from watermark - overlap, to the millisecond
    query = env.sim.requests(path_suffix="/api/incidents")[-1]["query"]
    assert query["$filter"] == f"lastUpdateTime ge {result.since}"
    assert parse_time(result.since).timestamp() == pytest.approx(watermark - 3600, abs=0.001)

    # an update of the missed incident is a new version, inside the window: processed
    env.sim.touch_incident("contoso", too_late["incidentId"], status="Resolved")
    assert env.poll(poller).submitted == 1
    assert (str(too_late["incidentId"]), parse_time(
        env.sim.tenant("contoso").incident(too_late["incidentId"])["lastUpdateTime"])) in env.inbox.versions()


def test_update_of_a_processed_incident_is_processed_once_more(env):
    poller = env.poller()
    env.poll(poller)
    inc = env.sim.add_incident("contoso")
    env.poll(poller)
    env.poll(poller)
    env.sim.advance(30)
    env.sim.touch_incident("contoso", inc["incidentId"], status="InProgress")
    env.poll(poller)
    env.poll(poller)
    assert [p["item"]["status"] for _e, _k, p in env.inbox.events] == ["Active", "InProgress"]
    assert len({version(p["item"]) for _e, _k, p in env.inbox.events}) == 2
