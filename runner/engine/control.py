"""Run control inside the engine: honouring ``soar runs cancel`` for a run this process executes.

``soar runs cancel`` in another process records a request on the run's row
(:func:`runner.store.runcontrol.request_cancel`). The execution reads it at its cancel points —
before each top-level step and each foreach item — but from the store at most once every
:data:`CHECK_INTERVAL` seconds per run, so a run of thousands of quick steps pays one primary-key
read per half second, not one per step; a run shorter than that never reads it at all.
"""

from __future__ import annotations

import time

from runner.store.runcontrol import cancel_requested

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
