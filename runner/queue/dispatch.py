"""The dispatcher of a front (``soar serve --role front``): it queues jobs instead of running runs.

It stands in for :class:`runner.serve.dispatch.Dispatcher` (same methods, so the service, the
approval desk and the HTTP side are unchanged): an accepted event becomes a ``soar.start_run``
job, a decided approval a ``soar.resume_run`` job. The jobs of one loop turn are deferred in one
statement. The job of an event carries the playbook's text as this front serves it, so a worker
runs exactly the version the front validated (and needs the playbook directory only for
sub-playbooks).

What a crash or an outage between recording an event (or claiming a run) and queueing its job
leaves behind is found by :meth:`QueueDispatcher.recover`, on the leading front only, every few
seconds: an event with neither a run nor a job waiting or running, and a run started from the
inbox that is in flight with no job — each older than ``settle`` seconds (the front that
recorded it is queueing it right now) — a run whose tenant runs have a job (a run spread over
the workers: :mod:`runner.engine.spread`) is not left behind. Jobs are idempotent (:mod:`runner.queue.jobs`), so a job
queued twice does the work once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import text

from runner.errors import SoarError, StepError

from . import jobs
from .roles import route

log = logging.getLogger("soar.serve")
UTC = timezone.utc
SETTLE = 5.0  # seconds before an event or run without a job is taken as left behind

_ORPHAN_EVENTS = text(
    "select e.id from trigger_events e left join runs r on r.id = e.run_id "
    "where r.id is null and e.received_at < :cutoff and not exists (" + jobs.live_job("e.run_id") + ") "
    "order by e.received_at limit 1000")
_ORPHAN_RUNS = text(
    "select r.id, r.playbook_name from runs r join trigger_events e on e.run_id = r.id "
    "where r.parent_id is null and r.status in ('pending', 'running') and r.updated_at < :cutoff "
    "and not exists (" + jobs.live_job("r.id") + ") "
    "and not exists (select 1 from runs c where c.parent_id = r.id and exists (" + jobs.live_job("c.id") + ")) "
    "order by r.updated_at limit 1000")
_BUSY = text(jobs.BUSY_SQL)


class _Recent(dict):
    """``trigger.since`` per playbook, forgotten after a few seconds: runs finish on workers,
    which this front does not see, so the value is read again (one query per fire batch)."""

    ttl = 5.0

    def __init__(self) -> None:
        super().__init__()
        self._at: dict[str, float] = {}

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        self._at[key] = time.monotonic()

    def setdefault(self, key: str, value: Any = None) -> Any:
        if key not in self:
            self[key] = value
        return self[key]

    def __contains__(self, key: object) -> bool:
        if not super().__contains__(key):
            return False
        if time.monotonic() - self._at.get(key, 0.0) > self.ttl:  # type: ignore[arg-type]
            del self[key]
            self._at.pop(key, None)  # type: ignore[arg-type]
            return False
        return True


class QueueDispatcher:
    """Queues the runs of a front. ``queue``: an open :class:`~runner.queue.jobs.JobQueue` (set
    by the front once it is open); ``leader``: this front sweeps for what was left behind."""

    def __init__(self, engine: Any, inbox: Any, playbooks: Any, metrics: Any, *, max_runs: int = 1,
                 routes: list[tuple[str, str]] | None = None, default_queue: str = jobs.DEFAULT_QUEUE,
                 settle: float = SETTLE):
        self.engine = engine
        self.store = engine.services.store
        self.inbox = inbox
        self.playbooks = playbooks
        self.metrics = metrics
        self.max_runs = max(1, int(max_runs))
        self.routes = list(routes or [])
        self.default_queue = default_queue
        self.settle = settle
        self.queue: jobs.JobQueue | None = None
        self.leader = False
        self.last_success: dict[str, str | None] = _Recent()
        self._pending: list[jobs.JobRequest] = []
        self._flushing: asyncio.Task | None = None
        self._accepting = True
        self.deferred = 0   # jobs queued by this front
        self.running = 0    # a front executes nothing

    # ---- what the service asks ----------------------------------------------------------------

    def limit(self, playbook: str) -> int:
        served = self.playbooks(playbook)
        own = getattr(served, "max_runs", None) if served is not None else None
        return own or self.max_runs

    def busy(self, playbook: str) -> int:
        """Runs of ``playbook`` waiting in the queue or running on a worker (a schedule at the
        limit is skipped)."""
        pending = sum(1 for r in self._pending if r.args.get("playbook") == playbook)
        with self.inbox.engine.connect() as conn:
            return pending + int(conn.execute(_BUSY, {"playbook": playbook}).scalar() or 0)

    @property
    def queued(self) -> int:
        return len(self._pending)

    def is_running(self, run_id: str) -> bool:
        return False  # runs go on workers; a run is claimed before it is queued

    def knows(self, run_id: str) -> bool:
        return any(r.run_id == run_id for r in self._pending)

    def queue_of(self, playbook: str) -> str:
        return route(self.routes, playbook, self.default_queue)

    # ---- queueing -----------------------------------------------------------------------------

    def submit(self, event: Any) -> None:
        """Queue the start of an accepted event's run."""
        served = self.playbooks(event.playbook)
        if served is None:
            from runner.serve.dispatch import record_failed_start

            error = StepError(f"playbook '{event.playbook}' is no longer served", hint="the file was removed or renamed")
            log.error("run %s of %s failed to start: %s", event.run_id, event.playbook, error.message)
            record_failed_start(self.store, event, None, error)
            return
        path = served.source_path
        if path and not path.startswith("<"):
            path = os.path.abspath(path)
        self._add(jobs.JobRequest(
            jobs.START, event.run_id, jobs.lane(event.playbook, event.run_id, self.limit(event.playbook)),
            self.queue_of(event.playbook),
            {"event_id": event.id, "run_id": event.run_id, "playbook": event.playbook,
             "text": served.source_text, "path": path}))

    def resume(self, run_id: str, playbook: str) -> bool:
        """Queue the continuation of a run (claimed already: a decided approval)."""
        if not self._accepting:
            return False
        self._add(jobs.JobRequest(jobs.RESUME, run_id, jobs.lane(playbook, run_id, self.limit(playbook)),
                                  self.queue_of(playbook), {"run_id": run_id, "playbook": playbook}))
        return True

    def _add(self, request: jobs.JobRequest) -> None:
        self._pending.append(request)
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.get_running_loop().create_task(self._flush(), name="queue jobs")

    async def _flush(self) -> None:
        """Defer what was queued during this loop turn (and what comes while that is sent)."""
        while self._pending and self.queue is not None:
            batch, self._pending = self._pending, []
            try:
                self.store.flush()  # what was recorded before (a `run_continued`) precedes the job
                self.deferred += await self.queue.defer(batch)
            except SoarError as exc:  # the events are in the inbox: the leader's sweep queues them
                log.error("%d job(s) could not be queued: %s; the leading front queues them again "
                          "once the database answers", len(batch), exc)

    # ---- what was left behind -----------------------------------------------------------------

    def recover(self, _unstarted: list | None = None) -> tuple[int, int]:
        """(leader only) Queue the events and inbox runs that have no job (see the module doc).
        Returns (events queued, runs queued)."""
        if not self.leader or not self._accepting:
            return 0, 0
        cutoff = datetime.now(UTC) - timedelta(seconds=self.settle)
        with self.inbox.engine.connect() as conn:
            event_ids = list(conn.execute(_ORPHAN_EVENTS, {"cutoff": cutoff}).scalars())
            runs = [tuple(r) for r in conn.execute(_ORPHAN_RUNS, {"cutoff": cutoff})]
        started = 0
        for event_id in event_ids:
            event = self.inbox.get(event_id)
            if event is not None and not self.knows(event.run_id):
                self.submit(event)
                started += 1
        resumed = sum(self.resume(run_id, playbook) for run_id, playbook in runs if not self.knows(run_id))
        return started, resumed

    async def drain(self, grace: float) -> list[str]:
        """Stop: queue what is pending (within ``grace`` seconds). Nothing runs here."""
        self._accepting = False
        if self._flushing is not None and not self._flushing.done():
            try:
                await asyncio.wait_for(asyncio.shield(self._flushing), timeout=max(grace, 1.0))
            except (asyncio.TimeoutError, SoarError):
                pass
        if self._pending and self.queue is not None:
            await self._flush()
        return []
