"""Approval bookkeeping: who may decide a gate, gates that timed out, runs whose gate was
decided and that wait to be continued, and claiming a run so that one process continues it.

:meth:`RunStore.decide_approval` — the one function every human decision goes through
(``soar approve``/``deny``, ``POST /approvals``, library callers) — refuses a decider the gate's
``approvers:`` do not name (:func:`may_decide`), and a gate whose ``expires_at`` passed (a human
can no longer decide it). :func:`decide_timed_out` is how the playbook's own policy is recorded —
the timeout's ``on_timeout``, or ``--auto-approve`` — with ``decided_by = "timeout"`` /
``"auto-approve"`` and the time, so the run's history says who decided and when.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import and_, or_, select, update

from . import tables as t
from runner.errors import NotAnApprover

from .records import ApprovalRecord, approval_record, to_json

UTC = timezone.utc


def may_decide(record: ApprovalRecord, actor: str) -> bool:
    """Whether ``actor`` may decide the gate: anyone when its ``approvers:`` is empty, else
    only a name on that list (exact match: a name is an identity, not a pattern)."""
    return not record.approvers or actor in record.approvers


def not_an_approver(record: ApprovalRecord, actor: str, gate: str) -> NotAnApprover:
    allowed = ", ".join(record.approvers)
    who = f"only {allowed} may" if len(record.approvers) == 1 else f"one of {allowed} may"
    return NotAnApprover(f"{actor!r} may not decide the approval for {gate}: its approvers are {allowed}",
                         hint=f"{who} decide it; nothing was changed (the attempt is in the audit trail)")


def refused_event(record: ApprovalRecord, actor: str, approved: bool, now: datetime) -> dict:
    """The audit row of a refused decision (written in the transaction that refused it)."""
    return dict(run_id=record.run_id, ts=now, kind="approval.refused", step_id=record.step_id,
                data=to_json({"item": record.item, "decision": "approve" if approved else "deny",
                              "approvers": list(record.approvers)}), actor=actor)


def due_approvals(store: Any, *, default_timeout: float | None = None,
                  now: datetime | None = None) -> list[ApprovalRecord]:
    """Pending gates whose time is up: ``expires_at`` passed, or — for gates without a timeout
    of their own — requested more than ``default_timeout`` seconds ago. Oldest first."""
    now = now or datetime.now(UTC)
    due = and_(t.approvals.c.expires_at.is_not(None), t.approvals.c.expires_at <= now)
    if default_timeout is not None:
        due = or_(due, and_(t.approvals.c.expires_at.is_(None),
                            t.approvals.c.requested_at <= now - timedelta(seconds=default_timeout)))
    query = (select(t.approvals).where(t.approvals.c.status == "pending", due)
             .order_by(t.approvals.c.requested_at))
    with store._db.read("list timed-out approvals") as conn:
        return [approval_record(r) for r in conn.execute(query)]


def stamp_expiry(store: Any, default_timeout: float) -> int:
    """Give the pending gates without an expiry of their own the one ``soar serve`` applies to
    them (requested + ``default_timeout``), so what ``soar approvals list`` shows is when they
    really expire. Returns how many were stamped."""
    query = select(t.approvals.c.run_id, t.approvals.c.step_id, t.approvals.c.item, t.approvals.c.requested_at) \
        .where(t.approvals.c.status == "pending", t.approvals.c.expires_at.is_(None))

    def work(conn) -> int:
        rows = list(conn.execute(query))
        for row in rows:
            conn.execute(update(t.approvals).where(
                t.approvals.c.run_id == row.run_id, t.approvals.c.step_id == row.step_id,
                t.approvals.c.item == row.item, t.approvals.c.expires_at.is_(None)).values(
                expires_at=row.requested_at + timedelta(seconds=default_timeout)))
        return len(rows)

    with store._db.read("list approvals without an expiry") as conn:  # usually none: no write
        if conn.execute(query.limit(1)).first() is None:
            return 0
    return store._db.commit(work, doing="record approval expiries")


def with_run_details(store: Any, records: list[ApprovalRecord]) -> list[ApprovalRecord]:
    """Gates recorded before they kept their tenant and playbook, completed from their run."""
    out, runs = [], {}
    for record in records:
        if record.playbook is None:
            run = runs.get(record.run_id)
            if run is None:
                run = runs[record.run_id] = store.get_run(record.run_id)
            record = replace(record, tenant=run.tenant, playbook=run.playbook_name)
        out.append(record)
    return out


def decide_timed_out(store: Any, record: ApprovalRecord, *, approved: bool, actor: str = "timeout",
                     reason: str = "approval timed out") -> bool:
    """Record the timeout's decision on a still-pending gate (durably, with an
    ``approval.approved``/``.denied`` audit event). False if someone decided it first."""
    now = datetime.now(UTC)
    decision = "approved" if approved else "denied"
    key = (t.approvals.c.run_id == record.run_id, t.approvals.c.step_id == record.step_id,
           t.approvals.c.item == (t.NO_ITEM if record.item is None else record.item))

    def work(conn) -> bool:
        done = conn.execute(update(t.approvals).where(*key, t.approvals.c.status == "pending").values(
            status=decision, decided_at=now, decided_by=actor, reason=reason))
        if done.rowcount != 1:
            return False
        conn.execute(t.events.insert().values(
            run_id=record.run_id, ts=now, kind=f"approval.{decision}", step_id=record.step_id,
            data=to_json({"item": record.item, "reason": reason}), actor=actor))
        return True

    return store._db.commit(work, doing="record an approval timeout")


def decided_waiting_runs(store: Any, *, decided_before: datetime | None = None) -> list[str]:
    """Top-level runs in ``waiting_approval`` with a gate that has been decided (before
    ``decided_before``), i.e. runs to continue. Oldest decision first."""
    runs = t.runs
    query = (select(runs.c.id, runs.c.parent_id, t.approvals.c.decided_at)
             .select_from(t.approvals.join(runs, runs.c.id == t.approvals.c.run_id))
             .where(runs.c.status == "waiting_approval",
                    t.approvals.c.status.in_(("approved", "denied")))
             .order_by(t.approvals.c.decided_at))
    if decided_before is not None:
        query = query.where(t.approvals.c.decided_at <= decided_before)
    out: list[str] = []
    with store._db.read("list decided approvals") as conn:
        for row in conn.execute(query):
            top = row.parent_id or row.id
            if top not in out:
                out.append(top)
    return out


def claim_waiting_run(store: Any, run_id: str) -> bool:
    """Move a run from ``waiting_approval`` to ``running``; True for the one caller that did it
    (so only one process continues the run)."""
    def work(conn) -> bool:
        done = conn.execute(update(t.runs).where(t.runs.c.id == run_id, t.runs.c.status == "waiting_approval")
                            .values(status="running", updated_at=datetime.now(UTC), finished_at=None))
        return done.rowcount == 1

    return store._db.commit(work, doing="claim a run to continue")
