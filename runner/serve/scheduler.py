"""Schedules: cron, interval and poll jobs on APScheduler 3 — the only module that imports it.

Jobs live in the run store's database (table ``soar_schedule_jobs``, APScheduler's
``SQLAlchemyJobStore``), so a restart knows which runs were missed while the process was down.
A job's id is derived from its trigger (``catalog.JobSpec``): an unchanged trigger keeps its
persisted job, a changed one replaces it.

Misfire policy (docs/serve.md): missed occurrences of a job are *coalesced* into one — the latest.
It fires if it is at most ``misfire_grace`` seconds late (default 1 h); otherwise it is reported
to ``on_missed`` (recorded, not run) and the job waits for its next time.

Firing does not run anything here: a custom executor hands ``(job id, scheduled time)`` to
``on_fire``, which records a trigger event (one insert) — the run starts from the inbox. So one
slow run never delays other schedules, and APScheduler's own "max instances" never applies:
per-playbook concurrency is the dispatcher's job.

APScheduler 3 supports one scheduler per job store: run one ``soar serve`` per run store.
"""

from __future__ import annotations

import logging
import zlib
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable

from apscheduler.events import EVENT_JOB_EXECUTED, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.executors.base import BaseExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import select

log = logging.getLogger("soar.serve.scheduler")

UTC = timezone.utc
TABLE = "soar_schedule_jobs"
DEFAULT_MISFIRE_GRACE = 3600.0
FUNC = "runner.serve.scheduler:fire"
ADD_COST = 0.0015  # seconds to persist one new job (measured: ~0.8 ms on a loaded 2-core machine)


def fire(*_args: Any) -> None:
    """The job function stored with every job (a text reference survives pickling). Never called:
    the executor below hands jobs to the running service instead."""


class _FireExecutor(BaseExecutor):
    """Hands a due job to ``on_fire`` at once (or to ``on_missed`` when it is too late)."""

    def __init__(self, on_fire: Callable[[str, datetime], None], on_missed: Callable[[str, datetime], None],
                 grace: float):
        super().__init__()
        self._on_fire, self._on_missed = on_fire, on_missed
        self.grace = grace  # ours, not the job's: a job keeps the grace it was created with

    def _do_submit_job(self, job, run_times) -> None:
        run_time = run_times[-1]  # coalesced: the latest occurrence stands for all missed ones
        late = (datetime.now(UTC) - run_time).total_seconds()
        try:
            if late > self.grace:
                self._on_missed(job.id, run_time)
                kind = EVENT_JOB_MISSED
            else:
                self._on_fire(job.id, run_time)
                kind = EVENT_JOB_EXECUTED
        except Exception as exc:  # noqa: BLE001 - a failing fire must not stop the scheduler
            self._run_job_error(job.id, exc, exc.__traceback__)
            return
        self._run_job_success(job.id, [JobExecutionEvent(kind, job.id, job._jobstore_alias, run_time)])


class _JobStore(SQLAlchemyJobStore):
    def shutdown(self) -> None:
        """Keep the engine: it is the run store's."""


def _phase(job_id: str, seconds: float) -> float:
    """A stable offset in [0, seconds): interval jobs loaded together do not all fire at once."""
    return (zlib.crc32(job_id.encode()) % 10_000) / 10_000 * seconds


def make_trigger(job: Any, now: datetime | None = None):
    """The APScheduler trigger of a :class:`~runner.serve.catalog.JobSpec`."""
    if job.kind == "schedule":
        return CronTrigger.from_crontab(job.cron, timezone=job.timezone or "UTC")
    now = now or datetime.now(UTC)
    first = now + timedelta(seconds=_phase(job.id, job.every))
    return IntervalTrigger(seconds=job.every, start_date=first, timezone=UTC)


class Schedules:
    """The process's scheduler. ``engine``: the run store's SQLAlchemy engine (jobs are kept in
    it); ``on_fire(job_id, scheduled_time)`` and ``on_missed(job_id, scheduled_time)`` are
    called in the event loop."""

    def __init__(self, engine: Any, *, on_fire: Callable[[str, datetime], None],
                 on_missed: Callable[[str, datetime], None], misfire_grace: float = DEFAULT_MISFIRE_GRACE):
        self._jobstore = _JobStore(engine=engine, tablename=TABLE)
        self._executor = _FireExecutor(on_fire, on_missed, misfire_grace)
        self.misfire_grace = misfire_grace
        self._scheduler: AsyncIOScheduler | None = None

    def start(self, loop: Any) -> None:
        """Start (paused until the first :meth:`sync`) on ``loop``."""
        self._scheduler = AsyncIOScheduler(
            event_loop=loop, timezone=UTC,
            jobstores={"default": self._jobstore}, executors={"default": self._executor},
            job_defaults={"coalesce": True, "misfire_grace_time": None,  # the executor applies ours
                          "max_instances": 1_000_000})
        self._scheduler.start(paused=True)

    def sync(self, jobs: Iterable[Any]) -> tuple[int, int]:
        """Make the persisted jobs exactly ``jobs``: add the new, remove the gone, keep the rest
        (with their next run time, so missed runs are known). Returns (added, removed)."""
        assert self._scheduler is not None, "start() first"
        wanted = {job.id: job for job in jobs}
        table = self._jobstore.jobs_t
        with self._jobstore.engine.connect() as conn:
            stored = {row[0] for row in conn.execute(select(table.c.id))}
        removed = 0
        for job_id in stored - wanted.keys():
            self._scheduler.remove_job(job_id)
            removed += 1
        new = wanted.keys() - stored
        # interval jobs start after a stable phase counted from when the last of them is in the
        # store (about a millisecond each), so a big first load does not make them all late
        now = datetime.now(UTC) + timedelta(seconds=ADD_COST * len(new))
        added = 0
        for job_id in sorted(new):
            job = wanted[job_id]
            self._scheduler.add_job(FUNC, trigger=make_trigger(job, now), id=job_id, name=job_id,
                                    args=[job.playbook], replace_existing=True)
            added += 1
        self._scheduler.resume()
        self._scheduler.wakeup()
        if added or removed:
            log.info("schedules: %d added, %d removed, %d in all", added, removed, len(wanted))
        return added, removed

    def next_run_time(self, job_id: str) -> datetime | None:
        job = self._scheduler.get_job(job_id) if self._scheduler else None
        return job.next_run_time if job else None

    def pause(self) -> None:
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.pause()

    def shutdown(self) -> None:
        """Stop firing (jobs stay persisted for the next start)."""
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        self._scheduler = None
