"""The job queue on procrastinate 3 — the only module that imports it.

Three tasks, all idempotent (the run store, not the job, says what is left to do):

- ``soar.start_run`` (an inbox event): start the event's run under the id the event chose; if
  the run exists already (an earlier attempt of the job died), continue it.
- ``soar.resume_run`` (a decided approval, a recovery): continue a run that is in flight.
- ``soar.run_tenant``: execute (or continue) one tenant run of a run over several tenants, then
  end the parent run if it was the last (:mod:`runner.engine.spread`). Its lock is
  ``<playbook>#<lane>@<tenant>`` (:func:`tenant_lock`): the tenant runs of one run go on at
  once, on any workers, while ``max_runs: N`` still bounds the runs of a playbook on each tenant.

Every job of a run carries ``queueing_lock = <run id>`` (one job of a run waits in the queue at
a time: a second defer is refused and dropped) and ``lock = <playbook>#<lane>`` (procrastinate
never runs two jobs with one lock at once): a playbook with ``max_runs: N`` gets N lanes, a run
always the same lane, so at most N runs of it execute at once over all workers, and two jobs of
one run never overlap. The worker also takes a lease on the run itself
(:class:`runner.queue.locks.RunLeases`), which holds even when a job was wrongly judged stalled.

Stalled jobs: each worker records a heartbeat every ``heartbeat`` seconds; every worker looks,
every ``heartbeat`` seconds, for jobs ``doing`` on a worker whose heartbeat is older than
``stalled_after`` seconds (``JobManager.get_stalled_jobs``) and puts them back in the queue
(``retry_job``): a worker killed with SIGKILL loses its jobs to another within
``stalled_after + heartbeat`` seconds.

The queue's schema is procrastinate's own (``schema_sql``; ``migrations`` for an upgrade), put
in place by ``soar db upgrade`` (:mod:`runner.queue.schema`). The SQL that reads procrastinate's
tables (what is queued, for the sweep, ``soar queue status`` and the metrics) is here too.
"""

from __future__ import annotations

import asyncio
import logging
import re
import zlib
from dataclasses import dataclass
from typing import Any, Protocol

import procrastinate
from procrastinate import exceptions as pq_exceptions
from procrastinate import jobs as pq_jobs
from procrastinate.schema import SchemaManager, migrations_path
from sqlalchemy.engine import make_url

from runner.errors import StoreError

log = logging.getLogger("soar.queue")

START = "soar.start_run"
RESUME = "soar.resume_run"
TENANT = "soar.run_tenant"
DEFAULT_QUEUE = "runs"
BUSY_RETRY = 2.0     # seconds before a job whose run is leased elsewhere is tried again
STORE_RETRY = 5.0    # seconds before a job a store error stopped is tried again
MAX_ATTEMPTS = 500   # a job is retried this often at most (store outages, busy leases)


def library_version() -> str:
    return procrastinate.__version__


def quiet(verbose: int) -> None:
    """procrastinate logs every job at INFO: its lines only at ``-vvv`` (soar says it itself)."""
    logging.getLogger("procrastinate").setLevel(logging.DEBUG if verbose >= 3 else logging.WARNING)


def conninfo(store_url: str) -> str:
    """The libpq URI of a PostgreSQL store URL (``postgresql+psycopg://`` ... → ``postgresql://``)."""
    url = make_url(store_url)
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def lane(playbook: str, run_id: str, limit: int) -> str:
    """The job lock of a run of ``playbook`` allowed ``limit`` runs at once (see the module doc)."""
    return f"{playbook}#{zlib.crc32(run_id.encode()) % max(1, int(limit))}"


def tenant_lock(playbook: str, parent_id: str, limit: int, tenant: str) -> str:
    """The job lock of a tenant run of ``parent_id`` (see the module doc)."""
    return f"{lane(playbook, parent_id, limit)}@{tenant}"


# ---- schema -------------------------------------------------------------------------------------

def schema_sql() -> str:
    """procrastinate's whole schema (a fresh database)."""
    return SchemaManager.get_schema()


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def migrations(after: str) -> list[tuple[str, str]]:
    """procrastinate's migration scripts newer than version ``after`` up to this library's, in
    order: (file name, SQL). Its pre- and post-migrations both, as one upgrade applies them."""
    since, until = _version(after), _version(library_version())
    out = []
    for path in sorted(migrations_path.glob("*.sql")):
        version = _version(path.name.split("_")[0])
        if since < version <= until:
            out.append((path.name, path.read_text(encoding="utf-8")))
    return out


# ---- reading procrastinate's tables (plain SQL on the store's engine) -----------------------------

def live_job(run_id_sql: str) -> str:
    """SQL: a job of the run whose id is the SQL expression ``run_id_sql`` is waiting or running."""
    return ("select 1 from procrastinate_jobs j where j.queueing_lock = " + run_id_sql
            + " and j.status in ('todo', 'doing')")


# runs of a playbook with a job waiting or running: the tenant jobs of a run count as that run
BUSY_SQL = ("select count(distinct coalesce(args->>'parent_id', queueing_lock)) from procrastinate_jobs "
            "where status in ('todo', 'doing') and args->>'playbook' = :playbook")
COUNTS_SQL = "select queue_name, status::text, count(*) from procrastinate_jobs group by 1, 2"
# a job waits from when it was queued (or, retried, from when it was due again)
OLDEST_SQL = (
    "select j.queue_name, extract(epoch from now() - min(greatest(coalesce(j.scheduled_at, d.at), d.at))) "
    "from procrastinate_jobs j join lateral (select min(at) as at from procrastinate_events e "
    "where e.job_id = j.id and e.type = 'deferred') d on true "
    "where j.status = 'todo' and (j.scheduled_at is null or j.scheduled_at <= now()) group by 1")
HEARTBEATS_SQL = "select count(*), extract(epoch from now() - max(last_heartbeat)) from procrastinate_workers"
INSTALLED_SQL = "select to_regclass('procrastinate_jobs')"


# ---- retries ------------------------------------------------------------------------------------

class RunBusy(Exception):
    """The run is leased by another worker (it is being executed there): try the job later."""


class _Retries(procrastinate.BaseRetryStrategy):
    """A job goes back to the queue when its worker stops (SIGTERM past the grace: handed back at
    once), when its run is busy elsewhere, or when the run store failed; any other error ends it
    (the run records its own failure)."""

    def get_retry_decision(self, *, exception: BaseException, job: Any) -> Any:
        if job.attempts >= MAX_ATTEMPTS:
            return None
        if isinstance(exception, (asyncio.CancelledError, pq_exceptions.JobAborted)):
            return procrastinate.RetryDecision(retry_in={"seconds": 0})
        if isinstance(exception, RunBusy):
            return procrastinate.RetryDecision(retry_in={"seconds": BUSY_RETRY})
        if isinstance(exception, StoreError):
            return procrastinate.RetryDecision(retry_in={"seconds": STORE_RETRY})
        return None


class Handler(Protocol):
    """What executes the jobs (:class:`runner.queue.worker.RunExecutor`)."""

    async def start_run(self, *, event_id: str, run_id: str, playbook: str, text: str, path: str | None) -> str: ...

    async def resume_run(self, *, run_id: str, playbook: str) -> str: ...

    async def run_tenant(self, *, run_id: str, parent_id: str, playbook: str) -> str: ...


@dataclass(frozen=True)
class JobRequest:
    """One job to defer: ``task`` (START or RESUME) with ``args``, for run ``run_id``."""

    task: str
    run_id: str
    lock: str
    queue: str
    args: dict


# ---- the queue ----------------------------------------------------------------------------------

class JobQueue:
    """A procrastinate App on the run store's PostgreSQL database. ``handler`` executes the jobs
    (a worker); a front only defers. Open it (:meth:`open`) before use, :meth:`close` at the end."""

    def __init__(self, store_url: str, *, handler: Handler | None = None, pool_size: int = 3,
                 name: str = "soar"):
        self.store_url = store_url
        self.handler = handler
        connector = procrastinate.PsycopgConnector(
            conninfo=conninfo(store_url), min_size=1, max_size=max(2, pool_size),
            kwargs={"application_name": name})
        self.app = procrastinate.App(connector=connector)
        retries = _Retries()

        @self.app.task(name=START, retry=retries)
        async def start_run(**args: Any) -> str:
            return await self._handler().start_run(**args)

        @self.app.task(name=RESUME, retry=retries)
        async def resume_run(**args: Any) -> str:
            return await self._handler().resume_run(**args)

        @self.app.task(name=TENANT, retry=retries)
        async def run_tenant(**args: Any) -> str:
            return await self._handler().run_tenant(**args)

    def _handler(self) -> Handler:
        if self.handler is None:
            raise RuntimeError("this process only defers jobs")
        return self.handler

    async def open(self) -> None:
        try:
            await self.app.open_async()
            installed = await self.app.check_connection_async()
        except Exception as exc:  # noqa: BLE001 - the driver's error, shown as the store's
            raise StoreError(f"the job queue on {_shown(self.store_url)} cannot be opened: {exc}",
                             hint="check that PostgreSQL is running and the store URL is right") from None
        if not installed:
            await self.close()
            raise StoreError(f"the job queue's tables are not in {_shown(self.store_url)}",
                             hint="run `soar db upgrade` once (it is safe to run again)")

    async def close(self) -> None:
        try:
            await self.app.close_async()
        except Exception as exc:  # noqa: BLE001 - closing a pool whose database went away
            log.debug("closing the job queue: %s", exc)

    # ---- deferring --------------------------------------------------------------------------------

    def _job(self, request: JobRequest) -> Any:
        return pq_jobs.Job(queue=request.queue, lock=request.lock, queueing_lock=request.run_id,
                           task_name=request.task, task_kwargs=request.args)

    async def defer(self, requests: list[JobRequest]) -> int:
        """Defer jobs (one statement for all when it can); a job whose run already has one waiting
        is dropped (that one does the work). Returns how many were deferred. Raises StoreError."""
        if not requests:
            return 0
        manager = self.app.job_manager
        try:
            try:
                await manager.batch_defer_jobs_async([self._job(r) for r in requests])
                return len(requests)
            except pq_exceptions.AlreadyEnqueued:
                pass
            deferred = 0
            for request in requests:  # one by one: only the runs with a job waiting are dropped
                try:
                    await manager.defer_job_async(self._job(request))
                    deferred += 1
                except pq_exceptions.AlreadyEnqueued:
                    continue
            return deferred
        except pq_exceptions.ProcrastinateException as exc:
            raise StoreError(f"cannot queue {len(requests)} job(s) on {_shown(self.store_url)}: {exc}",
                             hint="check that PostgreSQL is running; the runs are picked up again") from None

    async def live(self, run_ids: list[str], *, waiting: bool = True) -> set[str]:
        """Those of ``run_ids`` with a job being executed now (by any worker) or, ``waiting``,
        waiting in the queue. Raises StoreError."""
        if not run_ids:
            return set()
        statuses = ["todo", "doing"] if waiting else ["doing"]
        try:
            rows = await self.app.connector.execute_query_all_async(
                "select queueing_lock from procrastinate_jobs where status::text = any(%(statuses)s) "
                "and queueing_lock = any(%(ids)s)", ids=list(run_ids), statuses=statuses)
        except pq_exceptions.ProcrastinateException as exc:
            raise StoreError(f"cannot read the job queue on {_shown(self.store_url)}: {exc}",
                             hint="check that PostgreSQL is running") from None
        return {row["queueing_lock"] for row in rows}

    def defer_now(self, request: JobRequest) -> bool:
        """:meth:`defer` for a process without an event loop (``soar approve``), on a connection
        of its own. False: the run had a job waiting already."""
        try:
            with self.app.open():
                self.app.job_manager.defer_job(self._job(request))
            return True
        except pq_exceptions.AlreadyEnqueued:
            return False
        except pq_exceptions.ProcrastinateException as exc:
            raise StoreError(f"cannot queue the job of run {request.run_id}: {exc}",
                             hint="check that PostgreSQL is running, and that `soar db upgrade` was run") from None

    # ---- working ----------------------------------------------------------------------------------

    async def work(self, *, concurrency: int, queues: list[str] | None, name: str, grace: float | None,
                   heartbeat: float, stalled_after: float, poll_interval: float) -> None:
        """Execute jobs until this coroutine is cancelled: then no job is fetched any more, running
        jobs get ``grace`` seconds, and the rest are cancelled and go back to the queue at once
        (:class:`_Retries`)."""
        await self.app.run_worker_async(
            concurrency=concurrency, queues=queues or None, name=name, wait=True,
            fetch_job_polling_interval=poll_interval, abort_job_polling_interval=max(poll_interval, 5.0),
            shutdown_graceful_timeout=grace, listen_notify=True, delete_jobs="successful",
            install_signal_handlers=False, update_heartbeat_interval=heartbeat,
            stalled_worker_timeout=stalled_after)

    async def requeue_stalled(self, stalled_after: float) -> list[int]:
        """Put back in the queue the jobs whose worker's heartbeat is older than ``stalled_after``
        seconds (a dead worker); returns their ids. Another worker may do it at the same time:
        a job it requeued first is skipped."""
        manager = self.app.job_manager
        requeued = []
        for job in await manager.get_stalled_jobs(seconds_since_heartbeat=stalled_after):
            try:
                await manager.retry_job(job)
            except Exception as exc:  # noqa: BLE001 - requeued by another worker meanwhile
                log.debug("stalled job %s: %s", job.id, exc)
                continue
            requeued.append(job.id)
        return requeued


def _shown(store_url: str) -> str:
    return make_url(store_url).render_as_string(hide_password=True)
