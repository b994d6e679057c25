"""RunStore contract: approvals (lifecycle, concurrency across stores) and the audit trail."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from store_helpers import make_run

from runner.errors import RunNotFound, StoreError
from runner.store import ApprovalRecord, EventRecord, RunStore


def test_request_is_idempotent_and_listed_as_pending(store):
    run_id = make_run(store)
    store.request_approval(run_id, "isolate", message="Isolate 3 devices?", approvers=["soc-leads"])
    store.request_approval(run_id, "isolate", message="asked again", approvers=[])

    approval = store.get_approval(run_id, "isolate")
    assert isinstance(approval, ApprovalRecord)
    assert (approval.status, approval.message, approval.approvers) == (
        "pending", "Isolate 3 devices?", ["soc-leads"])
    assert approval.item is None and approval.decided_at is None
    assert approval.requested_at.tzinfo is not None
    assert store.pending_approvals() == [approval]
    assert store.get_approval(run_id, "other") is None


def test_approve_records_decision_and_audit_event(store, other):
    run_id = make_run(store)
    store.request_approval(run_id, "isolate", message="ok?")

    decided = store.decide_approval(run_id, "isolate", approved=True, actor="alice", reason="confirmed")

    assert (decided.status, decided.decided_by, decided.reason) == ("approved", "alice", "confirmed")
    assert decided.decided_at >= decided.requested_at
    assert other.get_approval(run_id, "isolate") == decided  # durable
    assert store.pending_approvals() == []
    [event] = other.events(run_id)
    assert isinstance(event, EventRecord)
    assert (event.kind, event.step_id, event.actor) == ("approval.approved", "isolate", "alice")
    assert event.data == {"item": None, "reason": "confirmed"}


def test_deciding_twice_says_who_decided(store):
    run_id = make_run(store)
    store.request_approval(run_id, "isolate")
    store.decide_approval(run_id, "isolate", approved=False, actor="bob", reason="not now")
    with pytest.raises(StoreError, match="not pending: it was denied by bob") as info:
        store.decide_approval(run_id, "isolate", approved=True, actor="alice")
    assert info.value.hint
    assert store.get_approval(run_id, "isolate").status == "denied"


def test_deciding_what_was_never_requested_lists_what_exists(store):
    run_id = make_run(store)
    store.request_approval(run_id, "isolate", item=0)
    store.request_approval(run_id, "isolate", item=1)
    with pytest.raises(StoreError) as info:
        store.decide_approval(run_id, "isolate", approved=True, actor="alice")
    assert "no approval was requested for step 'isolate' of run" in info.value.message
    assert "step 'isolate' item 0 (pending); step 'isolate' item 1 (pending)" in info.value.message

    bare = make_run(store)
    with pytest.raises(StoreError, match="this run has no approval requests"):
        store.decide_approval(bare, "isolate", approved=True, actor="alice")
    with pytest.raises(RunNotFound):
        store.decide_approval("r-ghost", "isolate", approved=True, actor="alice")
    with pytest.raises(RunNotFound):
        store.request_approval("r-ghost", "isolate")


def test_approvals_per_item(store):
    run_id = make_run(store)
    store.request_approval(run_id, "isolate", item=0)
    store.request_approval(run_id, "isolate", item=1)
    store.decide_approval(run_id, "isolate", item=1, approved=True, actor="alice")
    assert store.get_approval(run_id, "isolate", 0).status == "pending"
    assert store.get_approval(run_id, "isolate", 1).status == "approved"
    assert [(a.step_id, a.item) for a in store.pending_approvals()] == [("isolate", 0)]


def test_expired_approval_cannot_be_decided(store):
    run_id = make_run(store)
    past = datetime.now(timezone.utc) - timedelta(minutes=1)
    store.request_approval(run_id, "isolate", expires_at=past)
    assert store.get_approval(run_id, "isolate").status == "expired"
    assert store.pending_approvals() == []
    with pytest.raises(StoreError, match="expired"):
        store.decide_approval(run_id, "isolate", approved=True, actor="alice")
    assert store.get_approval(run_id, "isolate").status == "expired"


def test_a_second_store_decides_while_the_first_has_buffered_rows(store, store_url):
    run_id = make_run(store)
    store.step_started(run_id, "list", item=None, attempt=1, action="core.set", effect="read",
                       inputs={}, durable=False)
    store.audit(run_id, "step.waiting", step_id="isolate")
    store.request_approval(run_id, "isolate", message="ok?")  # durable: writes the buffer too
    store.step_finished(run_id, "list", item=None, attempt=1, status="succeeded", output=[1],
                        durable=False)  # buffered again while `soar approve` runs elsewhere

    with RunStore.open(store_url) as approver:  # e.g. `soar approve` in another process
        assert [a.step_id for a in approver.pending_approvals()] == ["isolate"]
        approver.decide_approval(run_id, "isolate", approved=True, actor="alice")

    assert store.get_approval(run_id, "isolate").status == "approved"
    store.flush()
    assert [r.status for r in store.step_records(run_id)] == ["succeeded"]
    assert [e.kind for e in store.events(run_id)] == ["step.waiting", "approval.approved"]


def test_audit_events_are_ordered_and_buffered_unless_durable(store, other):
    run_id = make_run(store)
    store.audit(run_id, "run.started", data={"by": "cli"}, actor="alice")
    store.audit(run_id, "step.started", step_id="a")
    assert other.events(run_id) == []
    store.audit(run_id, "step.write", step_id="b", durable=True)

    events = other.events(run_id)
    assert [(e.kind, e.step_id, e.actor) for e in events] == [
        ("run.started", None, "alice"), ("step.started", "a", None), ("step.write", "b", None)]
    assert events[0].data == {"by": "cli"} and events[1].data is None
    assert events[0].id < events[1].id < events[2].id
    assert events[0].ts <= events[2].ts and events[0].ts.tzinfo is not None


def test_events_reads_include_buffered_events(store):
    run_id = make_run(store)
    store.audit(run_id, "x")
    assert [e.kind for e in store.events(run_id)] == ["x"]


def test_audit_without_a_run(store):
    store.audit(None, "config.reloaded", data={"file": "soar.yaml"}, durable=True)
    with store._db.read("test") as conn:
        rows = conn.exec_driver_sql("SELECT kind FROM events WHERE run_id IS NULL").all()
    assert [r[0] for r in rows] == ["config.reloaded"]
