"""Run control inside the engine: honouring ``soar runs cancel`` for a run this process executes.

``soar runs cancel`` in another process records a request on the run's row
(:func:`runner.store.runcontrol.request_cancel`). The execution reads it at its cancel points —
before each top-level step and each foreach item — but from the store at most once every
:data:`CHECK_INTERVAL` seconds per run, so a run of thousands of quick steps pays one primary-key
read per half second, not one per step; a run shorter than that never reads it at all.

A cancel also decides how a run ends: a parent run's status from its tenant runs'
(:func:`family_status`), and a run resumed after its process was gone (:func:`end_cancelled`).
"""

from __future__ import annotations

import time

from runner.engine.outcomes import FINAL, RunResult
from runner.store.runcontrol import cancel_requested, finish_cancelled

CHECK_INTERVAL = 0.5  # seconds between two reads of a run's cancel request


class RunCancelled(Exception):
    """The run was cancelled (``soar runs cancel``) by ``by``: it stops at this point. Not a
    :class:`~runner.errors.SoarError`, so no step catches it as its own failure."""

    def __init__(self, by: str):
        self.by = by
        super().__init__(f"cancelled by {by}")


class CancelWatch:
    """The cancel point of one run: :meth:`check` raises :class:`RunCancelled` once a request is
    recorded (and seen)."""

    __slots__ = ("store", "run_id", "_next", "_by")

    def __init__(self, store, run_id: str):
        self.store = store
        self.run_id = run_id
        self._next = time.monotonic() + CHECK_INTERVAL
        self._by: str | None = None

    def check(self) -> None:
        if self._by is None:
            now = time.monotonic()
            if now < self._next:
                return
            self._next = now + CHECK_INTERVAL
            self._by = cancel_requested(self.store, self.run_id)
            if self._by is None:
                return
        raise RunCancelled(self._by)

    def requested(self) -> str | None:
        """Who asked to cancel the run, read now (for a run about to pause or end)."""
        if self._by is None:
            self._by = cancel_requested(self.store, self.run_id)
        return self._by


def family_status(store, parent: str, results: list) -> str:
    """A parent run's status from its tenant runs': cancelled, else waiting for an approval,
    else failed, else succeeded. A tenant run that paused at a gate while ``soar runs cancel``
    cancelled the run (it ended at once, in the store) is cancelled, not waiting."""
    statuses = {r.status for r in results}
    if "waiting_approval" in statuses and "cancelled" not in statuses:
        by = cancel_requested(store, parent)
        if by is not None:
            for r in results:
                if r.status == "waiting_approval":
                    r.status, r.waiting = "cancelled", []
            statuses = {r.status for r in results}
    if "cancelled" in statuses:
        finish_cancelled(store, parent, actor=cancel_requested(store, parent) or "someone")
        return "cancelled"
    if "waiting_approval" in statuses:
        return "waiting_approval"
    return "failed" if "failed" in statuses else "succeeded"


def end_cancelled(store, run) -> RunResult:
    """A run cancelled while no process executed it (``soar runs cancel`` asked; it had
    crashed or was interrupted): resuming it ends it, and its unfinished tenant runs, cancelled."""
    by = run.cancel_requested_by or "someone"
    children = {}
    for child in store.children(run.id):
        if child.status not in FINAL:
            finish_cancelled(store, child.id, actor=by)
        children[child.tenant or child.id] = RunResult(
            child.id, "cancelled" if child.status not in FINAL else child.status, child.outputs,
            tenant=child.tenant)
    finish_cancelled(store, run.id, actor=by)
    return RunResult(run.id, "cancelled", children=children, tenant=run.tenant)
