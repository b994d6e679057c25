"""Schedules: cron, interval and poll jobs on APScheduler 3 — the only module that imports it.

Jobs live in the run store's database (table ``soar_schedule_jobs``), so a restart knows which
runs were missed while the process was down. A job's id is derived from its trigger
(``catalog.JobSpec``): an unchanged trigger keeps its persisted job, a changed one replaces it.

Misfire policy (docs/serve.md): missed occurrences of a job are *coalesced* into one — the latest.
It fires if it is at most ``misfire_grace`` seconds late (default 1 h); otherwise it is reported
to ``on_missed`` (recorded, not run) and the job waits for its next time.

Firing does not run anything here: a custom executor collects ``(job id, scheduled time)`` and
hands them to ``on_fires``, which records trigger events — the runs start from the inbox. So one
slow run never delays other schedules, and APScheduler's own "max instances" never applies:
per-playbook concurrency is the dispatcher's job.

**One connection, one transaction per wake-up.** The job store is APScheduler's
``SQLAlchemyJobStore`` with every statement sent through the run store's own connection and lock
(``TriggerInbox.transaction``): with SQLite there is no second connection in the process that
could wait on a write lock held by the first (which the event loop, blocked in that wait, could
never release). And the jobs due in one wake-up (a herd of crons due the same second) are saved
together with their trigger events in one transaction (``on_fires(fires, write_jobs)``), instead
of two commits per fire.

APScheduler 3 supports one scheduler per job store: ``soar serve`` takes a lock on the run
store (``runner.serve.lock``) so there is one per run store.
"""

from __future__ import annotations

import logging
import pickle
import zlib
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable

from apscheduler.events import EVENT_JOB_EXECUTED, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.executors.base import BaseExecutor
from apscheduler.jobstores.base import BaseJobStore, ConflictingIdError, JobLookupError
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger
from apscheduler.util import datetime_to_utc_timestamp, utc_timestamp_to_datetime
from sqlalchemy import bindparam, null, select

from runner.errors import SoarError

log = logging.getLogger("soar.serve.scheduler")

UTC = timezone.utc
TABLE = "soar_schedule_jobs"
DEFAULT_MISFIRE_GRACE = 3600.0
RETRY_AFTER = 10.0  # seconds before a wake-up whose transaction failed is tried again
FUNC = "runner.serve.scheduler:fire"
ADD_COST = 0.0005  # seconds to add one new job (saved in one transaction per sync; measured ~0.1 ms)

Fire = tuple[str, datetime]  # (job id, scheduled time)


def fire(*_args: Any) -> None:
    """The job function stored with every job (a text reference survives pickling). Never called:
    the executor below hands jobs to the running service instead."""


class _FireExecutor(BaseExecutor):
    """Hands a due job to the job store's batch (or to ``on_missed`` when it is too late)."""

    def __init__(self, jobstore: "_JobStore", on_missed: Callable[[str, datetime], None], grace: float):
        super().__init__()
        self._jobstore, self._on_missed = jobstore, on_missed
        self.grace = grace  # ours, not the job's: a job keeps the grace it was created with

    def _do_submit_job(self, job, run_times) -> None:
        run_time = run_times[-1]  # coalesced: the latest occurrence stands for all missed ones
        late = (datetime.now(UTC) - run_time).total_seconds()
        try:
            if late > self.grace:
                self._on_missed(job.id, run_time)
                kind = EVENT_JOB_MISSED
            else:
                self._jobstore.fired(job.id, run_time)
                kind = EVENT_JOB_EXECUTED
        except Exception as exc:  # noqa: BLE001 - a failing fire must not stop the scheduler
            self._run_job_error(job.id, exc, exc.__traceback__)
            return
        self._run_job_success(job.id, [JobExecutionEvent(kind, job.id, job._jobstore_alias, run_time)])


class _JobStore(SQLAlchemyJobStore):
    """APScheduler's SQLAlchemy job store on the run store's connection (``inbox.transaction``),
    batching a wake-up's fires and job updates into one transaction (see the module doc)."""

    def __init__(self, inbox: Any, on_fires: Callable[[list[Fire], Callable | None], None]):
        super().__init__(engine=inbox.engine, tablename=TABLE)
        self._inbox = inbox
        self._on_fires = on_fires
        self._batching = False
        self._known: set[str] | None = None
        self._fires: list[Fire] = []
        self._updates: list[dict] = []
        self._inserts: list[dict] = []  # new jobs of a sync, saved together
        self.retry_at: datetime | None = None

    def _run(self, work: Callable, doing: str, *, write: bool = False) -> Any:
        return self._inbox.transaction(work, doing=doing, write=write)

    # ---- batching: one transaction per wake-up --------------------------------------------------

    def begin_batch(self, known: set[str] | None = None) -> None:
        """Collect fires, updates and (given the ids ``known`` to be stored) new jobs."""
        self._batching = True
        self._known = known

    def end_batch(self) -> None:
        self._batching, self._known = False, None
        self.flush()

    def fired(self, job_id: str, run_time: datetime) -> None:
        self._fires.append((job_id, run_time))
        if not self._batching:
            self.flush()

    def _write_updates(self, updates: list[dict]) -> Callable:
        def write(conn) -> None:
            if updates:
                table = self.jobs_t
                conn.execute(table.update().where(table.c.id == bindparam("b_id"))
                             .values(next_run_time=bindparam("b_next"), job_state=bindparam("b_state")),
                             updates)
        return write

    def flush(self) -> None:
        """Record the collected fires and save the collected job updates, in one transaction."""
        if self._inserts:
            rows, self._inserts = self._inserts, []
            self._run(lambda conn: conn.execute(self.jobs_t.insert(), rows), "save new schedules", write=True)
        fires, updates = self._fires, self._updates
        self._fires, self._updates = [], []
        if not fires and not updates:
            return
        write = self._write_updates(updates)
        written = []

        def write_jobs(conn) -> None:
            write(conn)
            written.append(True)

        try:
            if fires:
                self._on_fires(fires, write_jobs)
            if not written:
                self._run(write, "save the schedules' next run times", write=True)
        except Exception as exc:  # noqa: BLE001 - retried at the next wake-up
            # nothing was saved: the jobs are still due, so the next wake-up fires them again
            # (the same occurrences: deduplicated on (job, scheduled time))
            self.retry_at = datetime.now(UTC) + timedelta(seconds=RETRY_AFTER)
            log.error("schedules: %d fire(s) could not be recorded, retrying in %gs: %s",
                      len(fires), RETRY_AFTER, exc)

    # ---- the job store's statements, on the run store's connection ------------------------------

    def start(self, scheduler, alias):
        BaseJobStore.start(self, scheduler, alias)
        self._run(lambda conn: self.jobs_t.create(conn, checkfirst=True), "create the schedule table", write=True)

    def lookup_job(self, job_id):
        query = select(self.jobs_t.c.job_state).where(self.jobs_t.c.id == job_id)
        state = self._run(lambda conn: conn.execute(query).scalar(), "read a schedule")
        return self._reconstitute_job(state) if state else None

    def get_next_run_time(self):
        self.flush()
        query = (select(self.jobs_t.c.next_run_time).where(self.jobs_t.c.next_run_time != null())
                 .order_by(self.jobs_t.c.next_run_time).limit(1))
        try:
            value = utc_timestamp_to_datetime(self._run(lambda conn: conn.execute(query).scalar(),
                                                        "read the next schedule"))
        except SoarError as exc:
            log.error("schedules: %s", exc)
            self.retry_at = datetime.now(UTC) + timedelta(seconds=RETRY_AFTER)
            value = None
        retry, self.retry_at = self.retry_at, None
        if retry is not None and (value is None or value < retry):
            return retry
        return value

    def add_job(self, job):
        table = self.jobs_t
        row = {"id": job.id, "next_run_time": datetime_to_utc_timestamp(job.next_run_time),
               "job_state": pickle.dumps(job.__getstate__(), self.pickle_protocol)}

        def work(conn) -> bool:  # one scheduler per store (runner.serve.lock): no race here
            if conn.execute(select(table.c.id).where(table.c.id == job.id)).first() is not None:
                return False
            conn.execute(table.insert(), row)
            return True

        if self._batching and self._known is not None and job.id not in self._known:
            self._known.add(job.id)
            self._inserts.append(row)  # a sync adding many: one transaction for all (flush)
            return
        self.flush()
        if not self._run(work, "save a schedule", write=True):
            raise ConflictingIdError(job.id)

    def update_job(self, job):
        update = {"b_id": job.id, "b_next": datetime_to_utc_timestamp(job.next_run_time),
                  "b_state": pickle.dumps(job.__getstate__(), self.pickle_protocol)}
        self._updates.append(update)
        if self._batching:
            return
        table = self.jobs_t
        found = self._run(lambda conn: conn.execute(select(table.c.id).where(table.c.id == job.id)).first(),
                          "read a schedule")
        if found is None:
            self._updates.pop()
            raise JobLookupError(job.id)
        self.flush()

    def remove_job(self, job_id):
        self.flush()
        table = self.jobs_t
        count = self._run(lambda conn: conn.execute(table.delete().where(table.c.id == job_id)).rowcount,
                          "remove a schedule", write=True)
        if count == 0:
            raise JobLookupError(job_id)

    def remove_all_jobs(self):
        self.flush()
        self._run(lambda conn: conn.execute(self.jobs_t.delete()), "remove the schedules", write=True)

    def _get_jobs(self, *conditions):
        self.flush()
        table = self.jobs_t
        query = select(table.c.id, table.c.job_state).order_by(table.c.next_run_time)
        if conditions:
            query = query.where(*conditions)
        rows = self._run(lambda conn: conn.execute(query).all(), "read the schedules")
        jobs, failed = [], []
        for row in rows:
            try:
                jobs.append(self._reconstitute_job(row.job_state))
            except BaseException:  # noqa: BLE001 - as APScheduler: a job that cannot load is dropped
                log.exception("schedule %s cannot be restored; removing it", row.id)
                failed.append(row.id)
        if failed:
            self._run(lambda conn: conn.execute(table.delete().where(table.c.id.in_(failed))),
                      "remove broken schedules", write=True)
        return jobs

    def shutdown(self) -> None:
        """Keep the engine: it is the run store's."""
        self.flush()


class _Scheduler(AsyncIOScheduler):
    def _process_jobs(self):
        """One wake-up: its fires and job updates go to the database in one transaction."""
        store = self._jobstores.get("default")
        store.begin_batch()
        try:
            return super()._process_jobs()
        finally:
            store.end_batch()


def _phase(job_id: str, seconds: float) -> float:
    """A stable offset in [0, seconds): interval jobs loaded together do not all fire at once."""
    return (zlib.crc32(job_id.encode()) % 10_000) / 10_000 * seconds


def make_trigger(job: Any, now: datetime | None = None):
    """The APScheduler trigger of a :class:`~runner.serve.catalog.JobSpec`."""
    if job.kind == "schedule":
        from runner.playbook.cron import cron_trigger  # crontab's day-of-week numbering

        return cron_trigger(job.cron, job.timezone)
    now = now or datetime.now(UTC)
    first = now + timedelta(seconds=_phase(job.id, job.every))
    return IntervalTrigger(seconds=job.every, start_date=first, timezone=UTC)


def next_fire_times(job: Any, count: int = 3, now: datetime | None = None) -> list[datetime]:
    """The next ``count`` times (UTC) ``job`` (a :class:`~runner.serve.catalog.JobSpec`) fires
    after ``now``, as this scheduler computes them. An interval job's first time is the one a
    ``soar serve`` started at ``now`` would give it (its phase; a running serve keeps its own)."""
    now = now or datetime.now(UTC)
    trigger = make_trigger(job, now)
    times: list[datetime] = []
    previous = None
    while len(times) < count:
        following = trigger.get_next_fire_time(previous, previous or now)
        if following is None:
            break
        times.append(following.astimezone(UTC))
        previous = following
    return times


class Schedules:
    """The process's scheduler. ``inbox``: the run store's :class:`~runner.store.inbox.TriggerInbox`
    (jobs are kept in the same database, through the same connection).

    ``on_fires(fires, write_jobs)`` gets the ``(job id, scheduled time)`` due in one wake-up; it
    should call ``write_jobs(conn)`` inside the transaction that records their events, so both
    are saved together (if it does not, the jobs are saved after it returns). If it raises,
    nothing is saved and the same occurrences fire again ``RETRY_AFTER`` seconds later.
    ``on_missed(job_id, scheduled_time)`` is called for an occurrence beyond the misfire grace.
    Both are called in the event loop."""

    def __init__(self, inbox: Any, *, on_fires: Callable[[list[Fire], Callable | None], None],
                 on_missed: Callable[[str, datetime], None], misfire_grace: float = DEFAULT_MISFIRE_GRACE):
        self._jobstore = _JobStore(inbox, on_fires)
        self._executor = _FireExecutor(self._jobstore, on_missed, misfire_grace)
        self.misfire_grace = misfire_grace
        self._scheduler: AsyncIOScheduler | None = None

    def start(self, loop: Any) -> None:
        """Start (paused until the first :meth:`sync`) on ``loop``."""
        self._scheduler = _Scheduler(
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
        stored = set(self._jobstore._run(lambda conn: conn.execute(select(table.c.id)).scalars().all(),
                                         "list the schedules"))
        removed = 0
        for job_id in stored - wanted.keys():
            self._scheduler.remove_job(job_id)
            removed += 1
        new = wanted.keys() - stored
        # interval jobs start after a stable phase counted from when the last of them is in the
        # store (about a millisecond each), so a big first load does not make them all late
        now = datetime.now(UTC) + timedelta(seconds=ADD_COST * len(new))
        added = 0
        self._jobstore.begin_batch(known=stored & wanted.keys())  # the jobs kept
        try:
            for job_id in sorted(new):
                job = wanted[job_id]
                self._scheduler.add_job(FUNC, trigger=make_trigger(job, now), id=job_id, name=job_id,
                                        args=[job.playbook], replace_existing=True)
                added += 1
        finally:
            self._jobstore.end_batch()
        self._scheduler.resume()
        self._scheduler.wakeup()
        if added or removed:
            log.info("schedules: %d added, %d removed, %d in all", added, removed, len(wanted))
        return added, removed

    @property
    def started(self) -> bool:
        return self._scheduler is not None

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
