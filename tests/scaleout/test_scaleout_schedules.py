"""Two fronts on one store: one leads and fires the schedules; every occurrence is recorded once
and queued as one job; when the leader is killed (SIGKILL) the other front takes the lead and
the schedule goes on, still once per period."""

from __future__ import annotations

import time
from datetime import datetime

import pytest
from scaleout_helpers import fresh_database, health, metric, soar_env, start_front, start_worker, wait_for
from sqlalchemy import text

from runner.queue.schema import upgrade
from runner.store import RunStore
from runner.store.inbox import TriggerInbox

pytestmark = pytest.mark.postgres

TICK = """
name: tick
on:
  - every: 1s
steps:
  - id: t
    action: core.set
    with: {at: "${{ trigger.scheduled_for }}"}
"""


def _ticks(inbox: TriggerInbox) -> list[datetime]:
    return [e.scheduled_for for e in inbox.events(playbook="tick", source="schedule")]


def _jobs(inbox: TriggerInbox) -> int:
    with inbox.engine.connect() as conn:
        return conn.execute(text("select count(*) from procrastinate_jobs where args->>'playbook' = 'tick'")).scalar()


def test_two_fronts_fire_each_occurrence_once_and_the_other_front_leads_when_the_leader_dies(tmp_path):
    pb = tmp_path / "pb"
    pb.mkdir()
    (pb / "tick.yaml").write_text(TICK)
    env = soar_env()
    with fresh_database() as url:
        upgrade(url)
        fronts = [start_front(url, pb, cwd=tmp_path, env=env, name=f"front{i}") for i in range(2)]
        store = RunStore.open(url)
        inbox = TriggerInbox(store)
        try:
            urls = [f.info["url"] for f in fronts]
            leaders = [health(u)["leader"] for u in urls]
            assert sorted(leaders) == [False, True], leaders
            leader, follower = (fronts[0], fronts[1]) if leaders[0] else (fronts[1], fronts[0])
            wait_for(lambda: len(_ticks(inbox)) >= 5, timeout=20, what="five occurrences")
            ticks = _ticks(inbox)
            assert len(ticks) == len(set(ticks)), "an occurrence was recorded twice"
            # only the leader fired; neither front saw a duplicate (the follower fired nothing)
            assert metric(leader.info["url"], "soar_trigger_events_total", source="schedule") >= 5
            assert metric(follower.info["url"], "soar_trigger_events_total", source="schedule") == 0
            for u in urls:
                assert metric(u, "soar_trigger_duplicates_total", source="schedule") == 0
            assert _jobs(inbox) == len(_ticks(inbox))  # one job per occurrence (no worker runs them yet)

            leader.kill9()
            killed_at = time.monotonic()
            wait_for(lambda: health(follower.info["url"])["leader"], timeout=15, what="the other front to lead")
            took = time.monotonic() - killed_at
            before = len(_ticks(inbox))
            wait_for(lambda: len(_ticks(inbox)) >= before + 3, timeout=15, what="the schedule to go on")
            ticks = _ticks(inbox)
            assert len(ticks) == len(set(ticks))
            # an occurrence the killed leader recorded but did not queue is queued by the new leader
            wait_for(lambda: _jobs(inbox) == len(_ticks(inbox)), timeout=15, what="a job for every occurrence")
            assert took < 10, f"the lead moved after {took:.1f}s"

            # a worker then runs each occurrence once
            worker = start_worker(url, cwd=tmp_path, env=env)
            try:
                wait_for(lambda: len(store.list_runs(limit=None, playbook="tick")) >= len(ticks), timeout=30,
                         what="the queued occurrences to run")
            finally:
                worker.terminate()
            runs = store.list_runs(limit=None, playbook="tick")
            occurrences = [r.trigger["scheduled_for"] for r in runs]
            assert len(occurrences) == len(set(occurrences)), "an occurrence ran twice"
        finally:
            store.close()
            for front in fronts:
                front.close()
