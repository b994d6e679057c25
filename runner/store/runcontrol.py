"""Cancelling runs: at once for a run nobody is executing, by request for one that another
process (``soar serve``, another ``soar run``) is executing.

A run is cancelled as a whole: the top-level run, its tenant runs and their sub-playbook runs
(its *tree*). :func:`request_cancel` — in one transaction — marks every unfinished run of the
tree with the request (who, when), ends the ones waiting for an approval as ``cancelled`` with
their pending gates closed (``cancelled``, so nobody can approve them any more), and writes the
audit trail. A run being executed is not touched otherwise: the engine reads the request
(:func:`cancel_requested`, at most every half second per run) between steps and foreach items and
ends the run ``cancelled`` itself (:func:`finish_cancelled`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

from sqlalchemy import select, update

from runner.errors import UsageError

from . import tables as t
from .records import to_json

UTC = timezone.utc
LIVE = ("pending", "running", "waiting_approval")


@dataclass
class CancelOutcome:
    """What :func:`request_cancel` did. ``cancelled``: runs ended at once (they were waiting);
    ``requested``: runs being executed, which stop at their next step or item; ``approvals``:
    gates closed."""

    run_id: str
    cancelled: list[str] = field(default_factory=list)
    requested: list[str] = field(default_factory=list)
    approvals: list[tuple[str, str]] = field(default_factory=list)  # (run id, step id)


def _tree(conn, run_id: str) -> list:
    """The run and every run under it (rows: id, parent_id, status, tenant)."""
    runs = t.runs
    cols = (runs.c.id, runs.c.parent_id, runs.c.status, runs.c.tenant)
    rows = list(conn.execute(select(*cols).where(runs.c.id == run_id)))
    frontier = [run_id]
    while frontier:
        found = list(conn.execute(select(*cols).where(runs.c.parent_id.in_(frontier))))
        rows.extend(found)
        frontier = [r.id for r in found]
    return rows


def request_cancel(store, run_id: str, *, actor: str, reason: str = "", actor_oid: str | None = None) -> CancelOutcome:
    """Cancel the run ``run_id`` (a full id) and everything under it; see the module docstring.
    ``actor_oid``: the signed-in user's Entra object id, kept in the audit events' data.
    Raises :class:`UsageError` when nothing of it is left to cancel."""
    now = datetime.now(UTC)
    runs = t.runs

    def work(conn) -> CancelOutcome:
        tree = _tree(conn, run_id)
        top = tree[0]
        live = [r for r in tree if r.status in LIVE]
        if not live:
            raise UsageError(f"run {run_id} already {top.status}; nothing to cancel",
                             hint=f"`soar runs rerun {run_id}` starts it again")
        out = CancelOutcome(run_id)
        ids = [r.id for r in live]
        conn.execute(update(runs).where(runs.c.id.in_(ids)).values(
            cancel_requested_at=now, cancel_requested_by=actor, updated_at=now))
        waiting = [r.id for r in live if r.status == "waiting_approval"]
        if waiting:
            # nobody executes a waiting run: it ends now (the condition keeps a run that another
            # process has just claimed to continue: that process honours the request instead)
            done = conn.execute(select(runs.c.id).where(runs.c.id.in_(waiting),
                                                        runs.c.status == "waiting_approval"))
            out.cancelled = [r.id for r in done]
            if out.cancelled:
                conn.execute(update(runs).where(runs.c.id.in_(out.cancelled),
                                                runs.c.status == "waiting_approval")
                             .values(status="cancelled", finished_at=now))
        out.requested = [i for i in ids if i not in out.cancelled]
        out.approvals = _close_gates(conn, [r.id for r in live], actor, now)
        said = {**({"reason": reason} if reason else {}), **({"actor_oid": actor_oid} if actor_oid else {})}
        data = to_json(said or None)
        conn.execute(t.events.insert(), [
            dict(run_id=i, ts=now, kind="run_cancelled" if i in out.cancelled else "run_cancel_requested",
                 step_id=None, data=data, actor=actor) for i in ids])
        return out

    # the request is read by other processes: commit it (and what was buffered) now
    return store._db.commit(work, doing="cancel a run")


def _close_gates(conn, run_ids: list[str], actor: str, now: datetime) -> list[tuple[str, str]]:
    approvals = t.approvals
    pending = (approvals.c.run_id.in_(run_ids), approvals.c.status == "pending")
    closed = [(r.run_id, r.step_id) for r in conn.execute(
        select(approvals.c.run_id, approvals.c.step_id).where(*pending))]
    if closed:
        conn.execute(update(approvals).where(*pending).values(
            status="cancelled", decided_at=now, decided_by=actor, reason="the run was cancelled"))
    return closed


def cancel_requested(store, run_id: str) -> str | None:
    """Who asked to cancel the run (``"someone"`` if that is not known), or None. One primary-key
    read: the engine calls it at most every half second per run."""
    query = select(t.runs.c.cancel_requested_at, t.runs.c.cancel_requested_by).where(t.runs.c.id == run_id)
    with store._db.read("read a cancel request") as conn:
        row = conn.execute(query).first()
    if row is None or row.cancel_requested_at is None:
        return None
    return row.cancel_requested_by or "someone"


def finish_cancelled(store, run_id: str, *, actor: str) -> None:
    """End a run the engine stopped on a cancel request: status ``cancelled``, its pending gates
    closed, an audit event naming who cancelled it. Durable."""
    now = datetime.now(UTC)

    def work(conn) -> None:
        conn.execute(update(t.runs).where(t.runs.c.id == run_id).values(
            status="cancelled", finished_at=now, updated_at=now))
        _close_gates(conn, [run_id], actor, now)
        conn.execute(t.events.insert().values(run_id=run_id, ts=now, kind="run_cancelled",
                                              data=None, actor=actor))

    store._db.commit(work, doing="record a cancelled run")
