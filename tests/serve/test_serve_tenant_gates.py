"""Deciding the gates of a run over several tenants one tenant at a time, under `soar serve`:
each tenant run continues as soon as its own gate is decided, even while the family's task is
still busy with another tenant's run, and nothing is continued or sent twice."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

from serve_helpers import Harness, run_status, until

from runner.engine.outcomes import RunResult
from runner.secrets import resolve
from runner.serve.approvals import ApprovalDesk
from runner.serve.dispatch import Dispatcher
from runner.store import RunStore

TRIAGE = Path(__file__).resolve().parents[2] / "plugins/defender/soar_defender/playbooks/triage-high-severity-incidents.yaml"
NAME = "triage-high-severity-incidents"
AUTH = {"Authorization": "Bearer api-token-canary-51d0"}


def test_the_second_tenants_decision_continues_its_run_at_once(tmp_path):
    from runner.sim import SimulatedCloud

    cloud = SimulatedCloud()
    harness = Harness(tmp_path, cloud=cloud)

    async def decide(http, run_id: str) -> None:
        r = await http.post(f"/approvals/{run_id}/isolate", headers=AUTH, json={"decision": "approve", "actor": "alice"})
        assert r.status_code == 200, r.text

    async def main() -> tuple[float, str, dict]:
        harness.write("triage.yaml", TRIAGE.read_text())
        service = await harness.start(api_token=resolve("env:SOAR_TEST_API_TOKEN"), sweep_interval=0.5)
        store = service.store
        parent = service.accept(NAME, "manual", {}).run_id
        await until(lambda: run_status(store, parent) == "waiting_approval", what="the run to wait at its gates")
        first, second = store.children(parent)
        assert {first.status, second.status} == {"waiting_approval"}
        async with harness.client() as http:
            await decide(http, first.id)
            await until(lambda: run_status(store, first.id) != "waiting_approval", what="the first tenant run")
            # the family's task went through the second tenant run again, up to its gate, and is
            # busy with the first tenant's run (it waits for its isolations)
            await until(lambda: [e.kind for e in store.events(second.id)].count("run_waiting_approval") == 2,
                        what="the second tenant run at its gate again")
            assert service.dispatcher.is_running(parent)
            assert run_status(store, second.id) == "waiting_approval"
            t0 = time.monotonic()
            await decide(http, second.id)
            await until(lambda: run_status(store, second.id) != "waiting_approval", timeout=30,
                        what="the second tenant run")
            delay = time.monotonic() - t0
        await until(lambda: run_status(store, parent) in ("succeeded", "failed"), timeout=60, what="the family")
        status = run_status(store, parent)
        records = {c.tenant: store.step_records(c.id) for c in (first, second)}
        continued = {r: [e.data for e in store.events(r) if e.kind == "run_continued"]
                     for r in (parent, first.id, second.id)}
        await harness.stop()
        return delay, status, {"records": records, "continued": continued, "ids": (parent, first.id, second.id)}

    delay, status, seen = asyncio.run(main())
    assert delay < 3.0, f"the second tenant run went on {delay:.1f} s after its decision"
    assert status == "succeeded"
    parent, first, second = seen["ids"]
    # the family was continued once (the first decision); the second tenant run once, in its task
    assert {r: len(c) for r, c in seen["continued"].items()} == {parent: 1, first: 0, second: 1}
    for tenant, records in seen["records"].items():
        attempts = Counter((r.step_id, r.item) for r in records)
        assert attempts and max(attempts.values()) == 1, (tenant, attempts)  # no step or item ran twice
        isolated = [r for r in records if r.step_id == "isolate" and r.status == "succeeded"]
        assert isolated, tenant
    sent = Counter(e["machine_id"] for e in cloud.defender.requests(method="POST", path_suffix="/isolate"))
    assert sent and set(sent.values()) == {1}  # each device isolated once
    assert sum(sent.values()) == sum(1 for rs in seen["records"].values() for r in rs
                                     if r.step_id == "isolate" and r.status == "succeeded")


class _SlowEngine:
    """Stands in for the engine: each resume waits until ``release`` is set."""

    def __init__(self, store):
        self.services = SimpleNamespace(store=store)
        self.release = asyncio.Event()
        self.resumed: list[float] = []

    async def resume(self, run_id: str) -> RunResult:
        self.resumed.append(time.monotonic())
        await self.release.wait()
        return RunResult(run_id, "waiting_approval")


class _Metrics:
    def run_started(self, playbook):
        pass

    def run_finished(self, playbook, status):
        pass


def test_a_decision_while_the_runs_task_is_going_continues_it_when_the_task_ends(tmp_path):
    store = RunStore.open(f"sqlite:///{tmp_path}/soar.db")

    async def main():
        run_id = store.create_run(playbook_name="p", playbook_path=None, playbook_text="", inputs={},
                                  status="running")
        store.request_approval(run_id, "ask", message="go?")
        store.update_run(run_id, status="waiting_approval")
        engine = _SlowEngine(store)
        dispatcher = Dispatcher(engine, None, lambda name: None, _Metrics())
        desk = ApprovalDesk(store, dispatcher, None, settle=3600)
        assert dispatcher.resume(run_id, "p")  # its task is still going (its end not handled yet, say)
        await until(lambda: engine.resumed, what="the first resume")
        desk.decide(run_id, "ask", approved=True, actor="alice")
        desk._continue(run_id)  # asked again meanwhile (the sweep, say): still one look at the task's end
        assert len(engine.resumed) == 1 and store.get_run(run_id).status == "waiting_approval"
        engine.release.set()  # the task ends; the decided gate still waits: continued at once
        await until(lambda: len(engine.resumed) == 2, timeout=5, what="the continuation")
        await until(lambda: not dispatcher.is_running(run_id), timeout=5, what="the second task")
        await asyncio.sleep(0.1)
        assert len(engine.resumed) == 2  # continued once, not once per request
        assert [e.kind for e in store.events(run_id)].count("run_continued") == 1

    try:
        asyncio.run(main())
    finally:
        store.close()


FAMILY = """
name: family
tenants: all
steps:
  - id: call
    action: core.playbook
    with: {playbook: gated-sub.yaml}
"""

SUB = """
name: gated-sub
steps:
  - id: first
    action: core.set
    with: {tenant: "${{ tenant.name }}"}
  - id: ask
    action: core.log
    approval: {message: "go on in ${{ tenant.name }}?"}
    with: {message: "going on"}
  - id: nap
    action: core.sleep
    with: {duration: "${{ '5s' if tenant.name == 'contoso' else '0s' }}"}
"""


def test_a_gate_in_a_tenant_runs_sub_playbook_continues_it_at_once(tmp_path):
    from runner.sim import SimulatedCloud

    harness = Harness(tmp_path, cloud=SimulatedCloud())

    async def main() -> tuple[float, str, dict]:
        harness.write("family.yaml", FAMILY)
        harness.write("gated-sub.yaml", SUB)
        service = await harness.start(api_token=resolve("env:SOAR_TEST_API_TOKEN"))
        store = service.store
        parent = service.accept("family", "manual", {}).run_id
        await until(lambda: run_status(store, parent) == "waiting_approval", what="the family to wait")
        subs = {c.tenant: store.children(c.id)[0] for c in store.children(parent)}
        async with harness.client() as http:
            r = await http.post(f"/approvals/{subs['contoso'].id}/ask", headers=AUTH, json={"decision": "approve"})
            assert r.status_code == 200, r.text
            await until(lambda: run_status(store, subs["contoso"].id) == "running", what="contoso's sub-run")
            fabrikam = subs["fabrikam"].parent_id  # its tenant run: at its sub-playbook's gate again
            await until(lambda: [e.kind for e in store.events(fabrikam)].count("run_waiting_approval") == 2,
                        what="fabrikam's tenant run to stop again")
            assert service.dispatcher.running == 1  # the family's task: contoso's sub-playbook naps
            t0 = time.monotonic()
            r = await http.post(f"/approvals/{subs['fabrikam'].id}/ask", headers=AUTH, json={"decision": "approve"})
            assert r.status_code == 200, r.text
            await until(lambda: run_status(store, subs["fabrikam"].id) != "waiting_approval", timeout=30,
                        what="fabrikam's sub-run")
            delay = time.monotonic() - t0
            fabrikam_done = run_status(store, subs["fabrikam"].id)
            assert service.dispatcher.running <= 1  # continued in the family's task, not in a second one
        await until(lambda: run_status(store, parent) == "succeeded", timeout=30, what="the family")
        kinds = {c.tenant: [e.kind for e in store.events(c.id)] for c in store.children(parent)}
        await harness.stop()
        return delay, fabrikam_done, kinds

    delay, fabrikam_done, kinds = asyncio.run(main())
    assert delay < 3.0, f"fabrikam's sub-run went on {delay:.1f} s after its decision"
    assert fabrikam_done in ("running", "succeeded")
    assert kinds["fabrikam"].count("run_continued") == 1 and kinds["contoso"].count("run_continued") == 0
