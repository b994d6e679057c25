"""Engine robustness: a multi-tenant run is created whole, an expired approval gate is decided
by its timeout on resume, and the engine keeps no per-step locks after a run."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import update

from runner.engine.run import Engine
from runner.errors import StoreError
from runner.store import runstore
from runner.store import tables as t
from runner.testing import SoarRunner, make_cloud

GATED = """
name: gated
steps:
  - id: ask
    action: core.set
    approval: {timeout: 1h, on_timeout: %s}
    with: {value: 1}
outputs:
  asked: "${{ steps.ask.status }}"
"""

FANOUT = """
name: fan
tenants: all
steps:
  - id: each
    action: core.set
    foreach: [1, 2, 3, 4]
    concurrency: 4
    approval: true
    with: {value: "${{ item }}"}
"""


@pytest.fixture
def runner(tmp_path):
    with SoarRunner(make_cloud(["contoso", "fabrikam"]), workdir=tmp_path) as r:
        yield r


def _expire(store, run_id: str) -> None:
    past = datetime.now(timezone.utc) - timedelta(seconds=5)
    store._db.commit(lambda conn: conn.execute(
        update(t.approvals).where(t.approvals.c.run_id == run_id).values(expires_at=past)),
        doing="expire a gate (test)")


@pytest.mark.parametrize("on_timeout, status", [("deny", "failed"), ("approve", "succeeded")])
def test_resume_records_the_timeout_decision_of_an_expired_gate(runner, on_timeout, status):
    first = runner.run(GATED % on_timeout, tenant="contoso")
    assert first.status == "waiting_approval"
    store = runner.services.store
    _expire(store, first.run_id)
    assert store.get_approval(first.run_id, "ask").status == "expired"

    result = asyncio.run(Engine(runner.services).resume(first.run_id))

    assert result.status == status, result.error
    gate = store.get_approval(first.run_id, "ask")
    assert gate.status == ("denied" if on_timeout == "deny" else "approved")
    assert (gate.decided_by, gate.reason) == ("timeout", "approval timed out")
    if on_timeout == "deny":
        assert "denied by timeout" in result.error.message
        assert result.error.where is not None and result.error.where.step == "ask"
    kinds = [e.kind for e in store.events(first.run_id)]
    assert f"approval.{gate.status}" in kinds


def test_multi_tenant_run_is_created_whole_or_not_at_all(runner, monkeypatch):
    store = runner.services.store
    taken = store.create_run(playbook_name="x", playbook_path=None, playbook_text="", inputs={},
                             run_id="r-taken")
    monkeypatch.setattr(runstore, "new_run_id", lambda: taken)  # creating a tenant run fails
    playbook = runner.load(FANOUT)

    with pytest.raises(StoreError, match="already exists"):
        asyncio.run(Engine(runner.services).start(playbook, run_id="r-parent"))

    assert [r.id for r in store.list_runs()] == [taken]  # no parent without its tenant runs


def test_engine_keeps_no_step_locks_after_runs(runner):
    engine = Engine(runner.services)
    runner.services.auto_approve = True
    playbook = runner.load(FANOUT)

    result = asyncio.run(engine.start(playbook))

    assert result.status == "succeeded"
    assert set(result.children) == {"contoso", "fabrikam"}
    assert all(len(c.steps) == 1 and c.steps[0]["status"] == "succeeded" for c in result.children.values())
    assert engine._locks == {}
