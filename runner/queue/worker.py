"""``soar worker``: executes the runs a front queued (docs/scale-out.md).

:class:`RunExecutor` does one job: it leases the run (:class:`~runner.queue.locks.RunLeases`),
then reads the run store, which says what is left — a run that does not exist yet is started
from its inbox event (under the id the event chose), a run in flight is continued from its
durable step records (``Engine.resume``: finished steps are not run again, a write step caught
mid-call is reconciled by its action, never blindly sent again), a run that is finished or waits
for an approval is left alone. So a job that runs twice does the work once. A run over several
tenants is spread: each tenant run is a job of its own (:class:`~runner.queue.tenants.TenantJobs`),
and the worker that ends the last one ends the run.

:class:`QueueWorker` is the process: the runtime built as ``soar serve`` builds it, procrastinate's
worker (``--concurrency`` jobs at once from ``--queues``), a sweep that puts the jobs of dead
workers back in the queue, its row in ``soar_queue_workers``, ``/healthz`` and ``/metrics``.
SIGTERM: no new job; running ones get ``--grace`` seconds, the rest are interrupted at their
current step, checkpointed, and handed back to the queue for another worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from runner.errors import RunNotFound, SoarError, StepError, StoreError
from runner.logfmt import fields
from runner.serve.dispatch import checkpoint, log_end, one_line, record_failed_start

from . import jobs
from .locks import RunLeases
from .roles import register_worker, store_url_of, unregister_worker, worker_seen

log = logging.getLogger("soar.worker")
IN_FLIGHT = ("pending", "running")
PLAYBOOK_CACHE = 64  # parsed playbook versions kept per worker


class RunExecutor:
    """Executes ``soar.start_run`` / ``soar.resume_run`` / ``soar.run_tenant`` jobs
    (:class:`runner.queue.jobs.Handler`)."""

    def __init__(self, services: Any, leases: RunLeases, metrics: Any):
        from runner.engine.run import Engine
        from runner.playbook.loader import PlaybookLoader
        from runner.store.inbox import TriggerInbox

        self.services = services
        self.store = services.store
        self.engine = Engine(services)
        self.inbox = TriggerInbox(self.store)
        self.loader = PlaybookLoader(services.plugins)
        self.leases = leases
        self.metrics = metrics
        self.in_flight: dict[str, str] = {}  # run id -> playbook, executing here now
        self._playbooks: OrderedDict[tuple[str | None, str], Any] = OrderedDict()
        from .tenants import TenantJobs

        self.tenants = TenantJobs(self)
        self.engine.spread = self.tenants  # a run's tenant runs become jobs (runner.engine.spread)

    @contextlib.asynccontextmanager
    async def _lease(self, run_id: str, playbook: str):
        if not self.leases.take(run_id):
            raise jobs.RunBusy(run_id)
        self.in_flight[run_id] = playbook
        try:
            yield
        finally:
            self.in_flight.pop(run_id, None)
            self.leases.give(run_id)

    def _find(self, run_id: str) -> Any:
        try:
            return self.store.get_run(run_id)
        except RunNotFound:
            return None

    def _load(self, text: str, path: str | None) -> Any:
        key = (path, text)
        playbook = self._playbooks.get(key)
        if playbook is None:
            playbook = self._playbooks[key] = self.loader.load_text(text, path or "<queued>")
            while len(self._playbooks) > PLAYBOOK_CACHE:
                self._playbooks.popitem(last=False)
        self._playbooks.move_to_end(key)
        return playbook

    async def start_run(self, *, event_id: str, run_id: str, playbook: str, text: str, path: str | None) -> str:
        async with self._lease(run_id, playbook):
            run = self._find(run_id)
            if run is not None:  # an earlier attempt of this job created it
                return await self._continue(run, playbook)
            event = self.inbox.get(event_id)
            if event is None:
                return f"event {event_id} is not in the inbox: nothing to start"
            try:
                served = self._load(text, path)
            except SoarError as exc:
                return self._failed_start(event, None, exc)
            return await self._start(event, served)

    async def resume_run(self, *, run_id: str, playbook: str) -> str:
        async with self._lease(run_id, playbook):
            run = self._find(run_id)
            if run is None:
                return f"run {run_id} does not exist: nothing to continue"
            return await self._continue(run, playbook)

    async def run_tenant(self, *, run_id: str, parent_id: str, playbook: str) -> str:
        return await self.tenants.run_tenant(run_id=run_id, parent_id=parent_id, playbook=playbook)

    async def _start(self, event: Any, served: Any) -> str:
        self.metrics.run_started(event.playbook)
        t0 = time.monotonic()
        log.info("run of %s started (trigger %s, event %s)", event.playbook, event.source, event.id,
                 extra=fields(run=event.run_id, tenant=event.tenant, playbook=event.playbook,
                              trigger=event.source, event=event.id))
        try:
            result = await self.engine.start(served, trigger=event.trigger(), tenant=event.tenant,
                                             run_id=event.run_id)
        except StoreError:
            raise  # the job is retried; the run store then says what is left
        except SoarError as exc:  # refused before the run existed (inputs, tenants, secrets)
            return self._failed_start(event, served, exc)
        except asyncio.CancelledError:
            self._checkpoint(event.run_id)
            raise
        except Exception as exc:  # noqa: BLE001 - a bug must fail this run, not the worker
            log.exception("run %s of %s crashed", event.run_id, event.playbook)
            return self._failed_start(event, served, StepError(f"internal error: {type(exc).__name__}: {exc}"))
        return self._ended(result, event.playbook, event.source, t0)

    def _ended(self, result: Any, playbook: str, trigger: str | None, t0: float) -> str:
        if result.status == "running":  # its tenant runs were queued: the last one to end ends it
            log.info("run of %s goes on as one job per tenant", playbook, extra=fields(run=result.run_id,
                                                                                          playbook=playbook))
            return f"run {result.run_id}: tenant runs queued"
        self.metrics.run_finished(playbook, result.status)
        log_end(result, playbook, trigger, time.monotonic() - t0)
        return f"run {result.run_id} {result.status}"

    async def _continue(self, run: Any, playbook: str) -> str:
        top = self._find(run.parent_id) if run.parent_id else run
        if top is None or top.status not in IN_FLIGHT:
            status = top.status if top is not None else "gone"
            return f"run {run.id} is {status}: nothing to continue"
        self.metrics.run_started(playbook)
        t0 = time.monotonic()
        log.info("run of %s resumed", playbook, extra=fields(run=top.id, playbook=playbook))
        try:
            result = await self.engine.resume(top.id)
        except StoreError:
            raise
        except asyncio.CancelledError:
            self._checkpoint(top.id)
            raise
        except SoarError as exc:
            log.error("run %s could not be continued: %s", top.id, one_line(exc))
            return f"run {top.id} could not be continued: {one_line(exc)}"
        except Exception:  # noqa: BLE001
            log.exception("run %s crashed while resuming", top.id)
            return f"run {top.id} crashed while resuming"
        return self._ended(result, playbook, None, t0)

    def _failed_start(self, event: Any, served: Any, error: SoarError) -> str:
        log.error("run %s of %s failed to start: %s", event.run_id, event.playbook, one_line(error),
                  extra=fields(run=event.run_id, tenant=event.tenant, playbook=event.playbook,
                               trigger=event.source, event=event.id, status="failed", error=one_line(error)))
        record_failed_start(self.store, event, served, error)  # a StoreError: the job is retried
        self.metrics.run_finished(event.playbook, "failed")
        return f"run {event.run_id} failed to start"

    def _checkpoint(self, run_id: str) -> None:
        """Stopped past the grace: leave the run in flight; its job goes back to the queue."""
        try:
            if checkpoint(self.store, run_id, reason="soar worker stopped"):
                log.warning("run %s interrupted by shutdown; another worker continues it", run_id)
        except SoarError as exc:
            log.error("run %s: the interruption could not be recorded: %s", run_id, exc)


@dataclass
class WorkerOptions:
    """Knobs of ``soar worker`` (each is a CLI option; see docs/scale-out.md)."""

    concurrency: int = 10
    queues: list[str] = field(default_factory=list)   # empty: every queue
    grace: float = 30.0            # seconds running jobs get at SIGTERM
    heartbeat: float = 5.0         # seconds between heartbeats (and sweeps for stalled jobs)
    stalled_after: float = 30.0    # a worker silent this long is dead: its jobs go back to the queue
    poll_interval: float = 5.0     # seconds between polls for jobs (LISTEN/NOTIFY wakes it sooner)
    stats_interval: float = 2.0    # seconds between reads of the queue's depth (metrics)


class QueueWorker:
    """One ``soar worker`` process on ``services`` (built as ``soar serve`` builds them)."""

    def __init__(self, services: Any, options: WorkerOptions):
        from runner.serve.metrics import ServeMetrics
        from runner.store.inbox import TriggerInbox

        self.services = services
        self.options = options
        self.sql = TriggerInbox(services.store).engine
        self.leases = RunLeases(self.sql)
        self.metrics = ServeMetrics(services, gauges=self._gauges)
        services.plugins.pm.register(self.metrics.plugin)
        self.executor = RunExecutor(services, self.leases, self.metrics)
        self.queue = jobs.JobQueue(store_url_of(self.sql), handler=self.executor,
                                   pool_size=3, name="soar worker")
        self.name: str | None = None
        self.stopping = False
        self.requeued = 0        # stalled jobs this worker put back in the queue
        self.depth = 0           # jobs waiting (every queue this worker takes)
        self.oldest = 0.0        # seconds the oldest of them has waited
        self._stop = asyncio.Event()

    def _gauges(self) -> dict[str, float]:
        return {"runs_in_flight": len(self.executor.in_flight), "queue_depth": self.depth,
                "queue_oldest_job_age_seconds": self.oldest, "worker_concurrency": self.options.concurrency,
                "stalled_jobs_requeued": self.requeued, "tenant_runs_executed": self.executor.tenants.executed,
                "runs_settled": self.executor.tenants.settled}

    def health(self) -> dict:
        return {"status": "stopping" if self.stopping else "ok", "role": "worker", "name": self.name,
                "running": len(self.executor.in_flight), "concurrency": self.options.concurrency,
                "queues": self.options.queues or "all", "queue_depth": self.depth}

    def install_signals(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)

    def request_stop(self) -> None:
        if not self.stopping:
            log.warning("stopping: no new job; running runs get %gs to finish", self.options.grace)
        self.stopping = True
        self._stop.set()

    async def start(self, metrics_url: str | None = None) -> dict:
        """Open the queue and register; returns the summary the CLI prints first."""
        from runner.errors import UsageError

        if self.sql.dialect.name != "postgresql":
            raise UsageError("soar worker needs a PostgreSQL run store (the job queue lives in it)",
                             hint="--store postgresql://USER@HOST/DB (or SOAR_STORE), then `soar db upgrade`")
        await self.queue.open()
        self.executor.tenants.queue = self.queue
        o = self.options
        self.name = await asyncio.to_thread(register_worker, self.sql, concurrency=o.concurrency,
                                            queues=o.queues or None, metrics_url=metrics_url)
        self.executor.tenants.worker = self.name
        return {"worker": self.name, "concurrency": o.concurrency, "queues": o.queues or "all",
                "metrics": metrics_url, "stalled_after": o.stalled_after, "heartbeat": o.heartbeat}

    async def run(self) -> None:
        """Work until :meth:`request_stop`, then stop gracefully (see the module doc)."""
        o = self.options
        work = asyncio.create_task(self.queue.work(
            concurrency=o.concurrency, queues=o.queues or None, name=self.name or "soar worker", grace=o.grace,
            heartbeat=o.heartbeat, stalled_after=o.stalled_after, poll_interval=o.poll_interval), name="worker")
        loops = [asyncio.create_task(self._sweep_stalled(), name="stalled jobs"),
                 asyncio.create_task(self._read_stats(), name="queue stats")]
        stop = asyncio.create_task(self._stop.wait())
        await asyncio.wait([work, stop], return_when=asyncio.FIRST_COMPLETED)
        asked = self.stopping  # else procrastinate's worker stopped by itself (its database went away)
        self.stopping = True
        self.metrics.up.set(0)
        for task in loops:
            task.cancel()
        if not work.done():
            work.cancel()  # procrastinate: stop fetching, wait `grace`, then cancel the rest
        results = await asyncio.gather(work, *loops, return_exceptions=True)
        stop.cancel()
        await self.close()
        failed = results[0]
        if isinstance(failed, BaseException) and not isinstance(failed, asyncio.CancelledError):
            raise StoreError(f"the worker stopped: {failed}", hint="check that PostgreSQL is running, then start "
                             "it again; its jobs go back to the queue") from failed
        if not asked:
            raise StoreError("the worker stopped: it lost its connection to the job queue",
                             hint="check that PostgreSQL is running, then start it again (systemd: Restart=always); "
                                  "its jobs go back to the queue")

    async def _sweep_stalled(self) -> None:
        while True:
            await asyncio.sleep(self.options.heartbeat)
            try:
                ids = await self.queue.requeue_stalled(self.options.stalled_after)
            except Exception as exc:  # noqa: BLE001 - the database blinked: next time
                log.debug("stalled jobs: %s", exc)
                continue
            if ids:
                self.requeued += len(ids)
                log.warning("%d job(s) of a worker silent for %gs put back in the queue: %s", len(ids),
                            self.options.stalled_after, ", ".join(map(str, ids)))

    async def _read_stats(self) -> None:
        from .status import QueueStats

        while True:
            try:
                stats = await asyncio.to_thread(QueueStats.read, self.sql, with_workers=False)
                queues = self.options.queues or list(stats.jobs)
                self.depth = sum(stats.jobs.get(q, {}).get("todo", 0) for q in queues)
                self.oldest = max((stats.oldest_waiting.get(q, 0.0) for q in queues), default=0.0)
                await asyncio.to_thread(worker_seen, self.sql, self.name, len(self.executor.in_flight))
            except SoarError as exc:
                log.debug("queue stats: %s", exc)
            except Exception as exc:  # noqa: BLE001 - the database blinked: next time
                log.debug("queue stats: %s", exc)
            await asyncio.sleep(self.options.stats_interval)

    async def close(self) -> None:
        if self.name is not None:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(unregister_worker, self.sql, self.name)
        await self.queue.close()
        self.leases.close()
        self.services.store.flush()
        with contextlib.suppress(ValueError):
            self.services.plugins.pm.unregister(self.metrics.plugin)


def build_probe_app(worker: QueueWorker) -> Any:
    """``GET /healthz`` and ``GET /metrics`` of a worker (Starlette)."""
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    from runner.serve.metrics import CONTENT_TYPE

    async def healthz(_request: Any) -> Any:
        doc = worker.health()
        return JSONResponse(doc, status_code=200 if doc["status"] == "ok" else 503)

    async def metrics(_request: Any) -> Any:
        return Response(worker.metrics.render(), media_type=CONTENT_TYPE)

    return Starlette(routes=[Route("/healthz", healthz, methods=["GET"]),
                             Route("/metrics", metrics, methods=["GET"])])
