"""Schedules due together are recorded in one transaction with their jobs' next run times, on
the run store's own connection; a playbook's `max_runs:` limits its runs (overlaps recorded);
finished inbox events are pruned once their dedup window has passed."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

from serve_helpers import run_status, signed, until
from sqlalchemy import event, select

from runner.serve import scheduler as sched
from runner.serve.catalog import JobSpec
from runner.serve.scheduler import Schedules
from runner.store import RunStore
from runner.store import tables as t
from runner.store.inbox import TriggerInbox

UTC = timezone.utc

WIDE = """
name: wide
max_runs: 2
on:
  - every: 1h
steps:
  - id: nap
    action: core.sleep
    with: {duration: "3s"}
"""

NARROW = WIDE.replace("name: wide\nmax_runs: 2\n", "name: narrow\n")

NO_DEDUP_HOOK = """
name: plain
on:
  - webhook: {path: /plain, secret: env:SOAR_TEST_HOOK_SECRET, dedup_window: 0}  # no dedup: not even on the body
steps:
  - id: s
    action: core.set
    with: {ok: true}
"""


def _skips(store) -> list:
    store.flush()
    with store._db.read("t") as conn:
        return [r.data for r in conn.execute(t.events.select()) if r.kind == "schedule.skipped"]


def test_max_runs_key_limits_each_playbook_and_overlaps_are_recorded(harness):
    async def main():
        harness.write("wide.yaml", WIDE)
        harness.write("narrow.yaml", NARROW)
        service = await harness.start(max_runs=1, grace=0.1)
        assert service.dispatcher.limit("wide") == 2 and service.dispatcher.limit("narrow") == 1
        (wide,) = [j for j in service._jobs if j.startswith("wide/")]
        (narrow,) = [j for j in service._jobs if j.startswith("narrow/")]
        now = datetime.now(UTC)
        # one wake-up with three occurrences of each: the batch itself counts against the limit
        service._on_fires([(wide, now), (wide, now + timedelta(seconds=1)), (wide, now + timedelta(seconds=2)),
                           (narrow, now), (narrow, now + timedelta(seconds=1))])
        events = service.inbox.events(source="schedule")
        assert sorted(e.playbook for e in events) == ["narrow", "wide", "wide"]
        assert service.dispatcher.running == 3  # both runs of `wide` go at once
        skips = _skips(service.store)
        assert sorted(s["playbook"] for s in skips) == ["narrow", "wide"]
        assert [s["reason"] for s in skips if s["playbook"] == "wide"] == ["at most 2 run(s) at once"]
        # an invalid value is a located error and the served version stays
        harness.write("wide.yaml", WIDE.replace("max_runs: 2", "max_runs: 0"))
        (error,) = service.reload(force=True).rejected.values()
        assert "wide.yaml:3:" in str(error) and "max_runs" in str(error)
        assert service.dispatcher.limit("wide") == 2
        await harness.stop()

    asyncio.run(main())


def test_a_herd_is_one_transaction_on_the_store_connection_and_a_failed_one_fires_again(tmp_path, monkeypatch):
    monkeypatch.setattr(sched, "RETRY_AFTER", 0.2)
    store = RunStore.open(f"sqlite:///{tmp_path}/s.db")
    inbox = TriggerInbox(store)
    opened = []
    event.listen(inbox.engine, "connect", lambda *_a: opened.append(1))
    # a yearly cron: no natural occurrence can fall between `due` and now (a minute boundary would)
    jobs = [JobSpec(f"pb{i}/schedule/x", f"pb{i}", "schedule", cron="0 0 1 1 *") for i in range(50)]
    calls: list[list] = []

    def on_fires(fires, write_jobs):
        calls.append(list(fires))
        if len(calls) == 1:  # the first try fails after the jobs were written: all rolled back
            inbox.transaction(lambda conn: (write_jobs(conn), 1 / 0), doing="t", write=True)
        inbox.accept_many([dict(playbook=j.split("/")[0], source="schedule", payload={}, scheduled_for=when,
                                dedup_key=f"{j}@{when.isoformat()}") for j, when in fires], also=write_jobs)

    async def main():
        schedules = Schedules(inbox, on_fires=on_fires, on_missed=lambda *_a: None)
        schedules.start(asyncio.get_running_loop())
        schedules.sync(jobs)
        due = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=5)
        schedules._scheduler.pause()
        for job in jobs:
            schedules._scheduler.modify_job(job.id, next_run_time=due)
        schedules._scheduler.resume()
        await until(lambda: len(calls) >= 2, timeout=10, what="the retried wake-up")
        await asyncio.sleep(0.3)
        nexts = [schedules.next_run_time(job.id) for job in jobs]
        schedules.shutdown()
        return due, nexts

    due, nexts = asyncio.run(main())
    assert len(calls) == 2  # the herd: one call each time, not one per job
    assert [sorted(c) for c in calls] == [sorted((j.id, due) for j in jobs)] * 2  # the same occurrences again
    assert inbox.count() == 50 and all(n > datetime.now(UTC) for n in nexts)
    assert opened == []  # no second connection to the SQLite file
    store.close()


def test_prune_deletes_finished_events_whose_dedup_window_passed(tmp_path):
    store = RunStore.open(f"sqlite:///{tmp_path}/s.db")
    inbox = TriggerInbox(store)
    t0 = datetime.now(UTC)
    accepted = {name: inbox.accept("pb", "webhook", {"n": name}, dedup_key=key, dedup_window=60, now=t0)
                for name, key in [("done", None), ("done_keyed", "k1"), ("running", None), ("unstarted", None)]}
    for name in ("done", "done_keyed", "running"):
        store.create_run(playbook_name="pb", playbook_path=None, playbook_text="", inputs={}, trigger={},
                         tenant=None, status="running", run_id=accepted[name].run_id)
    for name in ("done", "done_keyed"):
        store.update_run(accepted[name].run_id, status="succeeded")
    store.flush()

    def left():
        return sorted(e.payload["n"] for e in inbox.events())

    assert inbox.prune(now=t0 + timedelta(seconds=30)) == 1  # the keyed one still guards its key
    assert left() == ["done_keyed", "running", "unstarted"]
    assert inbox.accept("pb", "webhook", {}, dedup_key="k1", now=t0 + timedelta(seconds=30)).duplicate
    assert inbox.prune(now=t0 + timedelta(seconds=61)) == 1
    assert left() == ["running", "unstarted"]
    with store._db.read("t") as conn:  # the run keeps its trigger
        assert conn.execute(select(t.runs.c.id).where(t.runs.c.id == accepted["done"].run_id)).first()
    store.close()


def test_serve_prunes_the_inbox_periodically(harness):
    async def main():
        harness.write("plain.yaml", NO_DEDUP_HOOK.replace("/plain", "/plain"))
        service = await harness.start(prune_interval=0)
        async with harness.client() as http:
            body = b'{"n": 1}'
            r = await http.post("/hooks/plain", content=body, headers=signed(body))
            assert r.status_code == 202
        run_id = r.json()["run_id"]
        await until(lambda: run_status(service.store, run_id) == "succeeded", what="the run")
        await until(lambda: service.inbox.count() == 0, what="the sweeper's prune")
        assert service.store.get_run(run_id).status == "succeeded"
        await harness.stop()

    asyncio.run(main())
