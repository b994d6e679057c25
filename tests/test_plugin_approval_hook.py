"""soar_approval_requested: an observer hears of each approval gate once, when it opens, with
what the gate asks (rendered, masked, as the store keeps it); and a run over several tenants
ends once for the family (soar_run_finished of the parent) besides each tenant run."""

from __future__ import annotations

import pytest

from runner.hookspecs import hookimpl
from runner.plugin import ApprovalInfo, RunInfo
from runner.plugins import PluginHost
from runner.testing import SoarRunner

GATED = """
name: gated
inputs: {host: {type: string, default: laptop-17}}
steps:
  - id: look
    action: core.set
    with: {risk: high}
  - id: isolate
    name: Isolate ${{ inputs.host }}
    action: core.log
    approval:
      message: "Isolate ${{ inputs.host }} (risk ${{ steps.look.output.risk }})?"
      approvers: [alice@contoso.example]
      timeout: 1h
    with: {message: isolating}
"""


class Observer:
    def __init__(self, broken: bool = False) -> None:
        self.approvals: list[tuple[RunInfo, ApprovalInfo]] = []
        self.finished: list[RunInfo] = []
        self.broken = broken

    @hookimpl
    def soar_approval_requested(self, run, approval):
        self.approvals.append((run, approval))
        if self.broken:
            raise RuntimeError("an observer bug must not fail the run")

    @hookimpl
    def soar_run_finished(self, run):
        self.finished.append(run)


@pytest.fixture
def watched(tmp_path):
    observer = Observer()
    runner = SoarRunner(workdir=tmp_path, plugins=[observer])
    yield runner, observer
    runner.close()


def test_a_gate_is_announced_once_with_what_it_asks(watched):
    runner, seen = watched
    outcome = runner.run(GATED, tenant="contoso")
    assert outcome.status == "waiting_approval"
    [(run, approval)] = seen.approvals
    assert (run.run_id, run.status, run.tenant, run.playbook) == \
        (outcome.run_id, "waiting_approval", "contoso", "gated")
    assert (approval.run_id, approval.step_id, approval.playbook, approval.tenant) == \
        (outcome.run_id, "isolate", "gated", "contoso")
    assert approval.message == "Isolate laptop-17 (risk high)?" and approval.step_name == "Isolate laptop-17"
    assert approval.approvers == ("alice@contoso.example",)
    assert approval.plan["action"] == "core.log"
    assert approval.expires_at is not None and approval.requested_at is not None
    assert 3590 <= (approval.expires_at - approval.requested_at).total_seconds() <= 3610
    # the same record the store keeps
    [gate] = runner.services.store.pending_approvals()
    assert (gate.message, gate.step_name) == (approval.message, approval.step_name)
    # then the run pauses
    assert [r.status for r in seen.finished] == ["waiting_approval"]


def test_a_resumed_run_still_waiting_is_not_announced_again(watched):
    import asyncio

    from runner.engine.run import Engine

    runner, seen = watched
    outcome = runner.run(GATED, tenant="contoso")
    asyncio.run(Engine(runner.services).resume(outcome.run_id))
    assert len(seen.approvals) == 1


def test_no_announcement_without_a_person_to_ask(watched):
    runner, seen = watched
    assert runner.run(GATED, tenant="contoso", auto_approve=True).status == "succeeded"
    assert seen.approvals == []


def test_a_dry_run_opens_no_gate_so_nobody_is_asked(watched):
    runner, seen = watched
    runner.run(GATED, tenant="contoso", dry_run=True)
    assert seen.approvals == []  # a dry run never waits for an approval (it warns that a real run would)


def test_a_broken_approval_observer_is_logged_and_the_run_waits_as_it_would(tmp_path, caplog):
    broken = Observer(broken=True)
    with SoarRunner(workdir=tmp_path, plugins=[broken]) as runner:
        assert runner.run(GATED, tenant="contoso").status == "waiting_approval"
    assert len(broken.approvals) == 1
    assert "an observer bug must not fail the run" in caplog.text


def test_a_run_over_several_tenants_finishes_once_as_a_family(watched):
    runner, seen = watched
    outcome = runner.run("name: all\nsteps:\n  - id: boom\n    action: core.fail\n    with: {message: no}\n")
    assert outcome.status == "failed"
    parent = [r for r in seen.finished if r.run_id == outcome.run_id]
    children = [r for r in seen.finished if r.parent_id == outcome.run_id]
    assert len(parent) == 1 and parent[0].tenant is None and parent[0].parent_id is None
    assert parent[0].status == "failed" and "contoso" in parent[0].error and "fabrikam" in parent[0].error
    assert sorted(r.tenant for r in children) == ["contoso", "fabrikam"]


def test_plugin_host_knows_the_hook():
    assert PluginHost(entry_points=False).pm.hook.soar_approval_requested.spec is not None
