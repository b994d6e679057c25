"""Serve lifecycle in process: reload, schedules (overlap, misfire), approvals over HTTP and by
timeout, shutdown checkpoints and recovery, health and metrics."""

from __future__ import annotations

import asyncio
import os
from datetime import datetime, timedelta, timezone

from serve_helpers import HOOK, run_status, signed, until

from runner.serve.catalog import JobSpec
from runner.serve.scheduler import Schedules
from runner.store import RunStore

UTC = timezone.utc

SLOW = """
name: slow
on:
  - every: 1h
  - webhook: {path: /slow, secret: env:SOAR_TEST_HOOK_SECRET}
steps:
  - id: nap
    action: core.sleep
    with: {duration: "%s"}
  - id: after
    action: core.set
    with: {done: true}
"""

GATED = """
name: gated
on:
  - webhook: {path: /gated, secret: env:SOAR_TEST_HOOK_SECRET}
steps:
  - id: ask
    action: core.log
    approval: {message: "go?"%s}
    with: {message: approved}
"""


def test_edited_playbook_replaces_the_old_one_and_an_invalid_edit_keeps_it(harness):
    async def main():
        path = harness.write("hook.yaml", HOOK)
        service = await harness.start()
        path.write_text(HOOK.replace("got: \"${{ steps.echo.output.got }}\"", "got: v2"))
        os.utime(path, (1, 1))  # a different mtime even within the same clock tick
        change = service.reload()
        assert change.loaded == ["hooked"] and not change.rejected
        assert service.catalog.get("hooked").outputs["got"] == "v2"
        path.write_text(HOOK.replace("action: core.set", "action: core.nope"))
        change = service.reload()
        (error,) = change.rejected.values()
        assert "hook.yaml:7:" in str(error) and "core.nope" in str(error)
        assert service.catalog.get("hooked").outputs["got"] == "v2"  # the old version keeps running
        async with harness.client() as http:
            body = b'{"delivery": {"id": 1}}'
            r = await http.post("/hooks/phish", content=body, headers=signed(body))
            assert r.status_code == 202
            assert (await http.get("/healthz")).json()["rejected"] == 1
        await until(lambda: run_status(service.store, r.json()["run_id"]) == "succeeded")
        assert service.store.get_run(r.json()["run_id"]).outputs["got"] == "v2"
        assert service.reload().rejected == {}  # the same invalid version is reported once
        path.unlink()
        assert service.reload().removed == ["hooked"] and "/hooks/phish" not in service.catalog.hooks
        await harness.stop()

    asyncio.run(main())


def test_a_schedule_that_finds_the_playbook_busy_is_skipped_and_recorded(harness):
    async def main():
        harness.write("slow.yaml", SLOW % "2s")
        service = await harness.start(max_runs=1, grace=0.1)
        (job_id,) = [j for j in service._jobs if "/every/" in j]
        now = datetime.now(UTC)
        service._on_fire(job_id, now)
        service._on_fire(job_id, now + timedelta(seconds=1))  # the first run still naps
        events = service.inbox.events(source="schedule")
        assert len(events) == 1
        service.store.flush()
        with service.store._db.read("t") as conn:
            from runner.store import tables as t

            skipped = [r for r in conn.execute(t.events.select()) if r.kind == "schedule.skipped"]
        assert len(skipped) == 1 and skipped[0].data["playbook"] == "slow"
        text = service.metrics.render().decode()
        assert 'soar_schedule_skipped_total{playbook="slow"} 1.0' in text
        service._on_fire(job_id, now)  # the same occurrence again (as after a crash): one event
        assert len(service.inbox.events(source="schedule")) == 1
        await harness.stop()

    asyncio.run(main())


def test_missed_schedules_are_coalesced_and_late_ones_recorded_not_run(tmp_path):
    store = RunStore.open(f"sqlite:///{tmp_path}/s.db")
    from runner.store.inbox import TriggerInbox

    inbox = TriggerInbox(store)
    job = JobSpec("pb/every/abc", "pb", "every", every=60.0)

    async def restart_after_downtime(grace: float, down: float) -> tuple[list, list]:
        fired, missed = [], []
        schedules = Schedules(inbox, on_fires=lambda fires, _write: fired.extend(fires),
                              on_missed=lambda j, t: missed.append((j, t)), misfire_grace=grace)
        schedules.start(asyncio.get_running_loop())
        schedules.sync([job])
        # the process was down: the persisted next run time is `down` seconds in the past
        schedules._scheduler.modify_job(job.id, next_run_time=datetime.now(UTC) - timedelta(seconds=down))
        schedules._scheduler.wakeup()
        await until(lambda: fired or missed, timeout=10, what="the scheduler")
        await asyncio.sleep(0.2)
        schedules.shutdown()
        return fired, missed

    fired, missed = asyncio.run(restart_after_downtime(grace=3600, down=200))
    assert len(fired) == 1 and not missed  # 4 missed occurrences, one run
    # occurrences at -100 s and -40 s: the latest is 40 s late, beyond a 30 s grace
    fired, missed = asyncio.run(restart_after_downtime(grace=30, down=100))
    assert not fired and len(missed) == 1
    store.close()


def test_approval_over_http_records_who_and_when_and_continues_the_run(harness):
    async def main():
        harness.write("gated.yaml", GATED % "")
        service = await harness.start(api_token=__import__("runner.secrets", fromlist=["x"]).resolve(
            "env:SOAR_TEST_API_TOKEN"))
        async with harness.client() as http:
            body = b"{}"
            run_id = (await http.post("/hooks/gated", content=body, headers=signed(body))).json()["run_id"]
            await until(lambda: run_status(service.store, run_id) == "waiting_approval")
            assert (await http.get("/approvals")).status_code == 401
            auth = {"Authorization": "Bearer api-token-canary-51d0"}
            pending = (await http.get("/approvals", headers=auth)).json()
            assert [(p["run_id"], p["step"], p["message"]) for p in pending] == [(run_id, "ask", "go?")]
            r = await http.post(f"/approvals/{run_id}/nope", headers=auth, json={"decision": "approve"})
            assert r.status_code == 404
            r = await http.post(f"/approvals/{run_id}/ask", headers=auth,
                                json={"decision": "approve", "actor": "alice", "reason": "looked fine"})
            assert r.status_code == 200, r.text
            await until(lambda: run_status(service.store, run_id) == "succeeded", what="the approved run")
            again = await http.post(f"/approvals/{run_id}/ask", headers=auth, json={"decision": "deny"})
            assert again.status_code == 409 and "alice" in again.json()["message"]
        record = service.store.get_approval(run_id, "ask")
        assert record.status == "approved" and record.decided_by == "alice" and record.decided_at is not None
        await harness.stop()

    asyncio.run(main())


def test_an_approval_that_times_out_is_denied_or_approved_as_configured(harness):
    async def main():
        harness.write("gated.yaml", GATED % ", timeout: 300ms")
        harness.write("lenient.yaml", (GATED % ", timeout: 300ms, on_timeout: approve").replace(
            "name: gated", "name: lenient").replace("/gated", "/lenient"))
        service = await harness.start()
        async with harness.client() as http:
            body = b"{}"
            denied = (await http.post("/hooks/gated", content=body, headers=signed(body))).json()["run_id"]
            approved = (await http.post("/hooks/lenient", content=body, headers=signed(body))).json()["run_id"]
        await until(lambda: run_status(service.store, denied) == "failed", what="the timed-out run")
        await until(lambda: run_status(service.store, approved) == "succeeded", what="the lenient run")
        record = service.store.get_approval(denied, "ask")
        assert record.status == "denied" and record.decided_by == "timeout" and record.decided_at
        assert "approval denied by timeout" in service.store.get_run(denied).error["message"]
        assert service.store.get_approval(approved, "ask").decided_by == "timeout"
        await harness.stop()

    asyncio.run(main())


def test_shutdown_checkpoints_running_runs_and_the_next_start_resumes_them(harness):
    async def main():
        harness.write("slow.yaml", SLOW % "1s")
        service = await harness.start(grace=0.1)
        async with harness.client() as http:
            body = b"{}"
            run_id = (await http.post("/hooks/slow", content=body, headers=signed(body))).json()["run_id"]
            await until(lambda: run_status(service.store, run_id) == "running")
            await asyncio.sleep(0.1)
            service.request_stop()
            assert (await http.get("/healthz")).status_code == 503
            assert (await http.post("/hooks/slow", content=body, headers=signed(body))).status_code == 503
        interrupted = await harness.stop()
        assert interrupted == [run_id]
        store = RunStore.open(harness.url)
        assert store.get_run(run_id).status == "running"  # left resumable, not cancelled
        assert any(e.kind == "run_interrupted" for e in store.events(run_id))
        store.close()
        service = await harness.start()
        assert harness.summary["resumed"] == 1
        await until(lambda: run_status(service.store, run_id) == "succeeded", what="the resumed run")
        await harness.stop()

    asyncio.run(main())


def test_metrics_name_runs_steps_and_triggers(harness):
    async def main():
        harness.write("hook.yaml", HOOK)
        service = await harness.start()
        async with harness.client() as http:
            body = b'{"delivery": {"id": 7}}'
            run_id = (await http.post("/hooks/phish", content=body, headers=signed(body))).json()["run_id"]
            await until(lambda: run_status(service.store, run_id) == "succeeded")
            await http.post("/hooks/phish", content=body, headers=signed(body, "bad"))
            assert (await http.get("/healthz")).json()["status"] == "ok"
            text = (await http.get("/metrics")).text
        for line in ('soar_runs_started_total{playbook="hooked"} 1.0',
                     'soar_runs_finished_total{playbook="hooked",status="succeeded"} 1.0',
                     'soar_step_duration_seconds_count{action="core.set",playbook="hooked",status="succeeded"} 1.0',
                     'soar_trigger_events_total{playbook="hooked",source="webhook"} 1.0',
                     'soar_webhook_rejected_total{status="401"} 1.0',
                     "soar_serve_up 1.0"):
            assert line in text, line
        await harness.stop()

    asyncio.run(main())
