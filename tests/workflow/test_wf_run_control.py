"""Run control: `soar runs cancel` (a waiting run at once, a run another process executes by a
request it honours between steps and items, a finished run refused), `POST /runs/{id}/cancel` on
`soar serve`, and `soar runs rerun` (same inputs, trigger, tenants and origin; a new run id,
recorded as a rerun)."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "serve"))

from serve_helpers import SECRET, Harness, run_status, signed, until  # noqa: E402

SLOW = """
name: slow
steps:
  - id: tick
    action: core.sleep
    foreach: "${{ range(80) | list }}"
    with: {duration: 100ms}
  - id: after
    action: core.set
    with: {reached: true}
"""


@pytest.fixture(autouse=True)
def _serve_secrets(monkeypatch):
    monkeypatch.setenv("SOAR_TEST_HOOK_SECRET", SECRET)
    monkeypatch.setenv("SOAR_TEST_API_TOKEN", "api-token-canary-51d0")


def _wait_running(soar, proc) -> str:
    """The id of the run `proc` executes, once it has run for a moment (its read steps' records
    are buffered in that process: they are not visible yet)."""
    from runner.store import RunStore

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        store = RunStore.open(soar.store)
        try:
            runs = store.list_runs()
        finally:
            store.close()
        if runs and runs[0].status == "running":
            time.sleep(1.0)
            return runs[0].id
        time.sleep(0.1)
    raise AssertionError("the run did not start")


def test_cancelling_a_waiting_run_ends_it_at_once_and_closes_its_gates(soar, sim):
    pb = soar.playbook("hunt-file-hash.yaml")
    assert soar("run", str(pb), "--simulate").exit_code == 3
    parent = soar.json("runs", "list")[0]["run_id"]
    result = soar("runs", "cancel", parent, "--as", "alice", "--reason", "wrong hash")
    assert result.exit_code == 0, result.output
    assert f"cancelled: run {parent}" in result.output and "approval closed" in result.output
    doc = soar.json("runs", "show", parent)
    assert doc["status"] == "cancelled" and doc["cancel_requested_by"] == "alice"
    assert {c["status"] for c in doc["children"]} == {"cancelled"}
    assert {a["status"] for a in doc["approvals"]} == {"cancelled"}
    assert soar.json("approvals", "list") == []
    late = soar("approve", doc["children"][0]["run_id"], "isolate")
    assert late.exit_code != 0 and "cancelled" in late.output
    events = [(e["kind"], e["actor"]) for e in doc["events"]]
    assert ("run_cancelled", "alice") in events
    for child in doc["children"]:  # nothing was isolated
        assert not [s for s in soar.json("runs", "show", child["run_id"])["steps"] if s["step_id"] == "isolate"]


def test_cancelling_a_run_another_process_executes_stops_it_between_items(soar):
    pb = soar.write("slow.yaml", SLOW)
    proc = soar.popen("run", str(pb))
    try:
        run_id = _wait_running(soar, proc)
        result = soar("runs", "cancel", run_id, "--as", "bob")
        assert result.exit_code == 0, result.output
        assert "cancel requested" in result.output and f"cancelled: run {run_id}" in result.output
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 4, (out, err)  # cancelled
    assert "cancelled" in out
    doc = soar.json("runs", "show", run_id)
    assert doc["status"] == "cancelled"
    ticks = [s for s in doc["steps"] if s["step_id"] == "tick"]
    assert 0 < len(ticks) < 80 and not [s for s in doc["steps"] if s["step_id"] == "after"]
    assert ("run_cancelled", "bob") in [(e["kind"], e["actor"]) for e in doc["events"]]


def test_a_run_no_process_executes_any_more_ends_cancelled_on_resume(soar):
    pb = soar.write("slow.yaml", SLOW)
    proc = soar.popen("run", str(pb))
    try:
        run_id = _wait_running(soar, proc)
    finally:
        proc.send_signal(signal.SIGKILL)  # it crashed: the run stays `running`
        proc.communicate(timeout=30)
    result = soar("runs", "cancel", run_id, "--wait", "0")
    assert result.exit_code == 0, result.output
    assert "still running" in result.output and f"soar runs resume {run_id}" in result.output
    resumed = soar("runs", "resume", run_id)
    assert resumed.exit_code == 4, resumed.output  # cancelled
    doc = soar.json("runs", "show", run_id)
    assert doc["status"] == "cancelled" and len([s for s in doc["steps"] if s["step_id"] == "tick"]) < 80


def test_a_finished_run_cannot_be_cancelled(soar):
    pb = soar.write("quick.yaml", "name: quick\nsteps:\n  - id: a\n    action: core.set\n    with: {x: 1}\n")
    run_id = soar.json("run", str(pb))["run_id"]
    result = soar("runs", "cancel", run_id)
    assert result.exit_code == 2, result.output
    assert "already succeeded; nothing to cancel" in result.output and "rerun" in result.output


HOOKED = """
name: hooked
on:
  - webhook: {path: /go, secret: env:SOAR_TEST_HOOK_SECRET}
steps:
  - id: tick
    action: core.sleep
    foreach: "${{ range(trigger.payload.n) | list }}"
    with: {duration: 50ms}
  - id: act
    action: core.set
    approval: "act?"
    with: {done: true}
"""


def test_serve_cancels_a_waiting_run_and_one_it_executes(tmp_path):
    harness = Harness(tmp_path)

    async def main():
        from runner.secrets import resolve

        harness.write("hooked.yaml", HOOKED)
        service = await harness.start(api_token=resolve("env:SOAR_TEST_API_TOKEN"))
        auth = {"Authorization": "Bearer api-token-canary-51d0"}
        async with harness.client() as http:
            body = json.dumps({"n": 1}).encode()
            waiting = (await http.post("/hooks/go", content=body, headers=signed(body))).json()["run_id"]
            await until(lambda: run_status(service.store, waiting) == "waiting_approval")
            assert (await http.post(f"/runs/{waiting}/cancel")).status_code == 401
            r = await http.post(f"/runs/{waiting}/cancel", headers=auth, json={"actor": "carol", "reason": "dup"})
            assert r.status_code == 200, r.text
            assert r.json()["status"] == "cancelled"
            assert r.json()["approvals_closed"] == [{"run_id": waiting, "step": "act"}]
            assert service.store.get_approval(waiting, "act").status == "cancelled"

            body = json.dumps({"n": 200}).encode()
            busy = (await http.post("/hooks/go", content=body, headers=signed(body))).json()["run_id"]
            await until(lambda: run_status(service.store, busy) == "running")
            await asyncio.sleep(0.3)
            r = await http.post(f"/runs/{busy}/cancel", headers=auth, json={"actor": "carol"})
            assert r.status_code == 202, r.text
            assert r.json()["requested"] == [busy]
            await until(lambda: run_status(service.store, busy) == "cancelled", timeout=10, what="the cancel")
            assert (await http.post(f"/runs/{busy}/cancel", headers=auth)).status_code == 409
            assert (await http.post("/runs/r-nope/cancel", headers=auth)).status_code == 404
        ticks = [s for s in service.store.step_records(busy) if s.step_id == "tick"]
        assert len(ticks) < 200
        kinds = [(e.kind, e.actor) for e in service.store.events(busy)]
        assert ("run_cancelled", "carol") in kinds
        await harness.stop()

    asyncio.run(main())


INPUTS = """
name: echo
inputs:
  n: {type: integer, default: 1}
steps:
  - id: a
    action: core.set
    with: {n: "${{ inputs.n }}", version: 1, payload: "${{ trigger.payload }}"}
outputs:
  n: "${{ steps.a.output.n }}"
  version: "${{ steps.a.output.version }}"
"""


def test_rerun_repeats_inputs_with_the_stored_playbook_or_the_file(soar):
    pb = soar.write("echo.yaml", INPUTS)
    first = soar.json("run", str(pb), "--input", "n=7")
    pb.write_text(INPUTS.replace("version: 1", "version: 2"))
    result = soar("runs", "rerun", first["run_id"])
    assert result.exit_code == 0, result.output
    assert f"rerun of {first['run_id']}: new run r-" in result.output
    new = result.output.rsplit("new run ", 1)[1].split()[0]
    assert new != first["run_id"]
    doc = soar.json("runs", "show", new)
    assert doc["rerun_of"] == first["run_id"] and doc["inputs"] == {"n": 7}
    assert doc["outputs"] == {"n": 7, "version": 1}  # the version the first run ran
    from_file = soar.json("runs", "rerun", first["run_id"], "--from-file")
    assert from_file["rerun_of"] == first["run_id"] and from_file["outputs"] == {"n": 7, "version": 2}


def test_rerun_keeps_the_tenants_and_origin(soar, sim):
    pb = soar.playbook("hunt-file-hash.yaml")
    one = soar.json("run", str(pb), "--simulate", "--auto-approve", "--tenant", "fabrikam")
    assert one["status"] == "succeeded" and one.get("tenant") == "fabrikam"
    again = soar.json("runs", "rerun", one["run_id"], "--auto-approve")  # no --simulate: the run remembers
    assert again["status"] == "succeeded" and again.get("tenant") == "fabrikam" and "tenants" not in again
    family = soar.json("run", str(pb), "--simulate", "--auto-approve")
    rerun = soar.json("runs", "rerun", family["run_id"], "--auto-approve")
    assert set(rerun["tenants"]) == {"contoso", "fabrikam"} and rerun["rerun_of"] == family["run_id"]
