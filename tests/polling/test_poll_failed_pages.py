"""A page that keeps failing is recorded, holds the cursor back, and is skipped after N polls."""

from __future__ import annotations

import logging

from poll_helpers import MINUTE

from runner.serve.polling import parse_time
from runner.store.cursors import CursorStore


def _five_incidents(env) -> list[int]:
    env.sim.advance(10 * MINUTE)
    now = env.now()
    return [env.sim.add_incident("contoso", last_update=now - k * MINUTE)["incidentId"] for k in range(5, 0, -1)]


def test_failing_page_is_recorded_then_skipped_after_three_polls(env, caplog):
    caplog.set_level(logging.WARNING, logger="soar.poll")
    cursors = CursorStore(env.store)
    poller = env.poller(page_size=2)  # 5 incidents: pages at $skip 0, 2, 4
    env.poll(poller)
    start_watermark = cursors.get("triage", "contoso", "defender.incidents").watermark
    ids = _five_incidents(env)  # newest first in the API: ids[4], ids[3] | ids[2], ids[1] | ids[0]
    env.sim.faults.add("/api/incidents", status=500, times=None, params={"$skip": "2"})

    first, second, third = (env.poll(poller) for _ in range(3))

    assert (first.submitted, first.failed_pages, first.held_back) == (2, 1, True)
    assert (second.submitted, second.duplicates, second.held_back) == (0, 2, True)
    # held back: the watermark did not move, so the next poll asked for the same window again
    assert first.cursor == second.cursor and parse_time(first.cursor) == start_watermark
    assert (third.skipped_pages, third.held_back, third.submitted) == (1, False, 1)  # went past it to $skip=4
    cursor = cursors.get("triage", "contoso", "defender.incidents")
    assert cursor.failures == 0 and cursor.watermark > start_watermark
    failures = cursors.failures("triage", "contoso")
    assert [(f.page, f.offset, f.skipped) for f in failures] == [(1, 2, False), (1, 2, False), (1, 2, True)]
    assert "HTTP 500" in failures[0].error and failures[0].since is not None
    delivered = {int(i) for i, _t in env.inbox.versions()}
    assert delivered == {ids[4], ids[3], ids[0]}
    # logged with playbook and tenant; the skip is an error-level line
    lines = [r for r in caplog.records if r.name == "soar.poll"]
    assert len(lines) == 3 and all("playbook 'triage', tenant 'contoso'" in r.getMessage() for r in lines)
    assert [r.levelname for r in lines] == ["WARNING", "WARNING", "ERROR"] and "SKIPPED" in lines[2].getMessage()

    # the page recovers while its items are still inside the overlap window: processed, once
    env.sim.faults.clear()
    env.sim.advance(2 * MINUTE)
    fourth = env.poll(poller)
    assert fourth.submitted == 2 and fourth.failed_pages == 0
    assert sorted(int(i) for i, _t in env.inbox.versions()) == sorted(ids)
    assert env.inbox.rejected == 0


def test_failure_that_recovers_in_time_loses_nothing(env):
    poller = env.poller(page_size=2, skip_after=3)
    env.poll(poller)
    ids = _five_incidents(env)
    env.sim.faults.add("/api/incidents", status=503, times=2 * 2, params={"$skip": "2"})  # 2 polls x 2 attempts
    held = [env.poll(poller) for _ in range(2)]
    assert all(r.held_back and r.skipped_pages == 0 for r in held)
    done = env.poll(poller)
    assert not done.held_back and done.failed_pages == 0
    assert sorted(int(i) for i, _t in env.inbox.versions()) == sorted(ids)
    assert max(env.inbox.versions().values()) == 1


def test_api_down_never_stalls_the_cursor_and_loses_nothing(env):
    poller = env.poller(page_size=2, skip_after=2)
    env.poll(poller)
    ids = _five_incidents(env)
    env.sim.faults.add("/api/incidents", status=503, times=None)
    results = [env.poll(poller) for _ in range(4)]
    # polls 1 and 3 are held back; polls 2 and 4 skip page 0, try page 1 once, and stop
    assert [r.held_back for r in results] == [True, False, True, False]
    assert [r.failed_pages for r in results] == [1, 2, 1, 2]
    assert CursorStore(env.store).get("triage", "contoso", "defender.incidents").failures == 0
    assert env.inbox.events == []
    env.sim.faults.clear()
    env.poll(poller)  # nothing was seen, so the watermark never moved past the backlog
    assert sorted(int(i) for i, _t in env.inbox.versions()) == sorted(ids)


def test_a_filter_the_api_rejects_is_recorded_with_the_apis_reason(env, caplog):
    caplog.set_level(logging.WARNING, logger="soar.poll")
    poller = env.poller(filter="severity eq 'High'")  # XDR incidents cannot filter on severity
    result = env.poll(poller)
    assert result.failed_pages == 1 and result.held_back
    [failure] = CursorStore(env.store).failures("triage")
    assert "property 'severity' is not supported" in failure.error
    assert "HTTP 400" in failure.error
    [line] = [r.getMessage() for r in caplog.records if r.name == "soar.poll"]
    assert "playbook 'triage', tenant 'contoso'" in line and "severity" in line
    assert "Traceback" not in line
