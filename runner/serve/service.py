"""ServeService: the life of a ``soar serve`` process.

start   take the store's serve lock (one ``soar serve`` per run store, ``runner.serve.lock``),
        load the playbook directory (invalid files are reported and skipped), sync the persisted
        schedules, then recover: resume the runs that were in flight, start the recorded events
        that have no run yet (:meth:`ServeService.recover`)
serve   HTTP (uvicorn, one event loop with everything else), schedules, polls, the playbook
        watcher (every ``watch_interval`` seconds, and at once on SIGHUP), the approval sweeper
stop    on SIGTERM/SIGINT: stop accepting (HTTP, schedules, polls), give running runs ``grace``
        seconds, checkpoint the rest (:meth:`Dispatcher.drain`), flush the store, exit 0

A database restart under a PostgreSQL store: the serve lock is checked every
``lock_check_interval`` seconds and taken again once the database answers; if another process
took it meanwhile, serve stops at once (``fatal`` is set: the CLI exits 1). Events and runs the
outage interrupted are picked up every ``recover_interval`` seconds (:meth:`Dispatcher.recover`).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import signal
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from runner.errors import ConfigError, SoarError
from runner.logfmt import fields
from runner.secrets import Secret
from runner.serve.approvals import ApprovalDesk
from runner.serve.catalog import Change, JobSpec, PlaybookCatalog
from runner.serve.dispatch import Dispatcher
from runner.serve.lock import ServeLock
from runner.serve.metrics import ServeMetrics
from runner.serve.scheduler import DEFAULT_MISFIRE_GRACE, Schedules
from runner.serve.webhooks import DEFAULT_BODY_LIMIT
from runner.store.inbox import Accepted, TriggerInbox

log = logging.getLogger("soar.serve")
UTC = timezone.utc
SCHEDULE_DEDUP_WINDOW = 86400.0      # one event per (schedule, occurrence), even across a crash
POLL_DEDUP_WINDOW = 7 * 86400.0


@dataclass
class ServeOptions:
    """Knobs of ``soar serve`` (each is a CLI option; see docs/serve.md)."""

    directory: str = "playbooks"
    max_runs: int = 1                       # concurrent runs per playbook
    grace: float = 30.0                     # seconds running runs get at shutdown
    misfire_grace: float = DEFAULT_MISFIRE_GRACE
    body_limit: int = DEFAULT_BODY_LIMIT
    api_token: Secret | None = None         # shared bearer token for /approvals (actor self-declared)
    approver_tokens: dict[str, Secret] = field(default_factory=dict)  # approver name -> personal token
    approval_timeout: float | None = 86400.0  # for gates without their own `timeout`
    watch_interval: float = 1.0             # 0: reload on SIGHUP only
    sweep_interval: float = 2.0
    prune_interval: float = 600.0           # how often finished inbox events and old dedup keys go
    read_timeout: float = 30.0              # a request body must arrive within this (else 408)
    head_timeout: float = 10.0              # a request head must arrive within this (else closed)
    keep_alive: float = 5.0                 # idle keep-alive connections are closed after this
    max_connections: int = 1000             # beyond: 503 at once
    lock_check_interval: float = 2.0        # how often the serve lock is checked (PostgreSQL)
    recover_interval: float = 5.0           # how often events left without a run are started
    role: str = "all"                       # "front": queue runs for `soar worker`s (runner.queue.front)
    queue: str = "runs"                     # front: the default queue of the jobs
    routes: list[tuple[str, str]] = field(default_factory=list)  # front: (playbook pattern, queue)


def _poller_class():
    """The polling trigger (``runner.serve.polling``), or None while it is not installed."""
    if importlib.util.find_spec("runner.serve.polling") is None:
        return None
    from runner.serve.polling import Poller

    return Poller


class ServeService:
    def __init__(self, services: Any, options: ServeOptions):
        from runner.playbook.loader import PlaybookLoader
        from runner.serve.tenantgates import ServeEngine

        self.services = services
        self.options = options
        self.store = services.store
        self.stopping = False
        self.inbox = TriggerInbox(self.store)
        self.loader = PlaybookLoader(services.plugins)
        self.engine = ServeEngine(services)  # a tenant run's decision continues it while its family runs
        self.catalog = PlaybookCatalog(options.directory, self.loader, self._tenants_of)
        self.metrics = ServeMetrics(services, gauges=self._gauges)
        services.plugins.pm.register(self.metrics.plugin)
        self.front: Any = None  # the front role (runner.queue.front), with its queueing dispatcher
        if options.role == "front":
            from runner.queue.front import QueueFront

            self.front = QueueFront(self)
            self.dispatcher = self.front.dispatcher
        else:
            self.dispatcher = Dispatcher(self.engine, self.inbox, self.catalog.get, self.metrics,
                                         max_runs=options.max_runs)
        self.approvals = ApprovalDesk(self.store, self.dispatcher, self.loader,
                                      default_timeout=options.approval_timeout)
        self.schedules = Schedules(self.inbox, on_fires=self._on_fires, on_missed=self._on_missed,
                                   misfire_grace=options.misfire_grace)
        self.lock: ServeLock | None = None
        self._jobs: dict[str, JobSpec] = {}
        self._pollers: dict[str, Any] = {}
        self._polls: dict[str, asyncio.Task] = {}
        self._background: list[asyncio.Task] = []
        self._reload_now = asyncio.Event()
        self._stop_now = asyncio.Event()
        self._stopped = False
        self.fatal: SoarError | None = None  # why serve stopped on its own (the CLI exits 1)
        self.Poller = _poller_class()

    # ---- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> dict:
        """Lock the store, load, schedule, recover; returns a summary (what the CLI prints first)."""
        if self.front is not None:  # several fronts share the store; one leads (schedules, polls)
            self.lock = await self.front.open()
        else:
            self.lock = ServeLock.acquire(self.inbox.engine)
            if self.lock.kind == "advisory":
                _record_single_mode(self.inbox.engine)
        change = self.catalog.scan()
        self.metrics.reloads.labels("loaded").inc(len(change.loaded))
        self.metrics.reloads.labels("rejected").inc(len(change.rejected))
        if self.front is None:
            self.schedules.start(asyncio.get_running_loop())
            self._sync_jobs()
            recovered = self.recover()
        else:
            recovered = await self.front.try_lead()
        self._background = [asyncio.create_task(self._watch(), name="playbook watcher"),
                            asyncio.create_task(self._sweep(), name="approval sweeper"),
                            asyncio.create_task(self._recover_loop(), name="inbox sweep")]
        if self.lock.kind == "advisory":
            self._background.append(asyncio.create_task(self._watch_lock(), name="serve lock watch"))
        if self.front is not None:
            self._background.append(asyncio.create_task(self.front.watch(), name="front lock watch"))
        return {"playbooks": sorted(self.catalog.entries), "rejected": sorted(change.rejected),
                "webhooks": sorted(self.catalog.hooks), "schedules": len(self._jobs), **recovered}

    def recover(self) -> dict:
        """Resume runs left in flight and start recorded events that have no run yet."""
        resumed = 0
        for run in self.store.runs_in_flight():
            if run.parent_id is None:  # tenant runs and sub-playbooks resume with their parent
                resumed += self.dispatcher.resume(run.id, run.playbook_name)
        events = self.inbox.unstarted()
        for event in events:
            self.dispatcher.submit(event)
        if resumed or events:
            log.warning("recovered: %d run(s) resumed, %d recorded event(s) started", resumed, len(events))
        return {"resumed": resumed, "started": len(events)}

    async def serve(self, sock: Any) -> None:
        """Serve HTTP on ``sock`` until :meth:`request_stop`, then :meth:`stop`."""
        from runner.serve.app import build_app
        from runner.serve.httpserver import HttpLimits, build_server

        options = self.options
        server = build_server(build_app(self), HttpLimits(
            head_timeout=options.head_timeout, keep_alive=options.keep_alive,
            max_connections=options.max_connections))
        http = asyncio.create_task(server.serve(sockets=[sock]), name="http")
        stop = asyncio.create_task(self._stop_now.wait())
        await asyncio.wait([http, stop], return_when=asyncio.FIRST_COMPLETED)
        server.should_exit = True
        self.stopping = True
        await asyncio.gather(http, return_exceptions=True)
        stop.cancel()
        await self.stop()

    def install_signals(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)
        loop.add_signal_handler(signal.SIGHUP, self.request_reload)

    def request_stop(self) -> None:
        log.warning("stopping: no new work; running runs get %gs to finish", self.options.grace)
        self.stopping = True
        self._stop_now.set()

    def request_reload(self) -> None:
        self._reload_now.set()

    async def stop(self) -> list[str]:
        """Stop accepting, drain the runs (see :meth:`Dispatcher.drain`), flush the store."""
        if self._stopped:
            return []
        self._stopped = self.stopping = True
        self.metrics.up.set(0)
        self.schedules.shutdown()
        tasks = [*self._background, *self._polls.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        interrupted = await self.dispatcher.drain(self.options.grace)
        if self.front is not None:
            await self.front.close()
        self.store.flush()
        if self.lock is not None:
            self.lock.release()
        with contextlib.suppress(ValueError):
            self.services.plugins.pm.unregister(self.metrics.plugin)
        return interrupted

    # ---- accepting events ---------------------------------------------------------------------

    def accept(self, playbook: str, source: str, payload: Any, **kw: Any) -> Accepted:
        """Record a trigger event (durably) and hand it to the dispatcher."""
        accepted = self.inbox.accept(playbook, source, payload, **kw)
        if log.isEnabledFor(logging.INFO if source == "webhook" else logging.DEBUG):
            _log_event(source, playbook, kw.get("trigger_key"), kw.get("tenant"), accepted)
        if accepted.duplicate:
            self.metrics.duplicates.labels(playbook, source).inc()
            return accepted
        self.metrics.events.labels(playbook, source).inc()
        self.dispatcher.submit(accepted.event)
        return accepted

    def _on_fire(self, job_id: str, scheduled: datetime) -> None:
        """One fire (as the scheduler would hand it over alone)."""
        self._on_fires([(job_id, scheduled)])

    def _on_fires(self, fires: list[tuple[str, datetime]], write_jobs: Any = None) -> None:
        """The schedules due in one wake-up: their events are recorded in one transaction, with
        the jobs' next run times (``write_jobs``), then handed to the dispatcher."""
        requests: list[dict] = []
        pending: dict[str, int] = {}  # events of this batch per playbook, not submitted yet
        self._learn_since(self._jobs[j].playbook for j, _t in fires if j in self._jobs)
        for job_id, scheduled in fires:
            job = self._jobs.get(job_id)
            if job is None:
                continue  # a job of a playbook just removed
            if job.kind == "poll":
                self._poll(job)
                continue
            busy = self.dispatcher.busy(job.playbook) + pending.get(job.playbook, 0)
            when = scheduled.astimezone(UTC).isoformat()
            limit = self.dispatcher.limit(job.playbook)
            if busy >= limit:
                self.store.audit(None, "schedule.skipped", data={
                    "playbook": job.playbook, "job": job_id, "scheduled_for": when, "running": busy,
                    "reason": f"at most {limit} run(s) at once"})
                self.metrics.skipped.labels(job.playbook).inc()
                log.warning("%s: scheduled run %s skipped: %d run(s) still going", job.playbook, when, busy)
                continue
            pending[job.playbook] = pending.get(job.playbook, 0) + 1
            requests.append(dict(playbook=job.playbook, source="schedule", trigger_key=job_id,
                                 payload={"scheduled_for": when, "since": self._since(job.playbook)},
                                 scheduled_for=scheduled, dedup_key=f"{job_id}@{when}",
                                 dedup_window=SCHEDULE_DEDUP_WINDOW))
        if not requests and write_jobs is None:
            return
        for request, accepted in zip(requests, self.inbox.accept_many(requests, also=write_jobs)):
            if log.isEnabledFor(logging.INFO):
                _log_event("schedule", request["playbook"], request["trigger_key"], None, accepted,
                           scheduled_for=request["payload"]["scheduled_for"])
            if accepted.duplicate:
                self.metrics.duplicates.labels(request["playbook"], "schedule").inc()
            else:
                self.metrics.events.labels(request["playbook"], "schedule").inc()
                self.dispatcher.submit(accepted.event)

    def _on_missed(self, job_id: str, scheduled: datetime) -> None:
        job = self._jobs.get(job_id)
        playbook = job.playbook if job else job_id.split("/")[0]
        when = scheduled.astimezone(UTC).isoformat()
        self.store.audit(None, "schedule.missed", data={"playbook": playbook, "job": job_id, "scheduled_for": when,
                                                         "misfire_grace": self.options.misfire_grace})
        self.metrics.missed.labels(playbook).inc()
        log.warning("%s: scheduled run %s missed by more than %gs; waiting for the next one",
                    playbook, when, self.options.misfire_grace)

    def _since(self, playbook: str) -> str | None:
        self._learn_since([playbook])
        return self.dispatcher.last_success[playbook]

    def _learn_since(self, playbooks: Any) -> None:
        """Read ``trigger.since`` of the playbooks not known yet, in one query (a herd of first
        fires must not cost a query each); the dispatcher keeps it current afterwards."""
        known = self.dispatcher.last_success
        missing = {name for name in playbooks if name not in known}
        if missing:
            found = self.inbox.last_succeeded(sorted(missing))
            for name in missing:
                known.setdefault(name, found[name].isoformat() if name in found else None)

    def _poll(self, job: JobSpec) -> None:
        if self.Poller is None:
            log.error("%s: poll triggers need runner.serve.polling, which is not installed", job.playbook)
            return
        running = self._polls.get(job.id)
        if running is not None and not running.done():
            return  # the previous poll of this trigger is still going: never overlap polls
        poller = self._pollers.get(job.id)
        if poller is None:
            tenant = self.engine.tenant_info(job.tenant)
            poller = self._pollers[job.id] = self.Poller(self.services, job.playbook, job.poll, tenant)
        self._polls[job.id] = asyncio.get_running_loop().create_task(self._poll_once(job, poller))

    async def _poll_once(self, job: JobSpec, poller: Any) -> Any:
        async def submit(payload: dict, dedup_key: str) -> str | None:
            # incident and alert ids are per tenant: so is the dedup key
            accepted = self.accept(job.playbook, "poll", payload, trigger_key=job.id, tenant=job.tenant,
                                   dedup_key=f"{job.tenant}:{dedup_key}", dedup_window=POLL_DEDUP_WINDOW)
            return None if accepted.duplicate else accepted.event_id

        try:
            result = await poller.poll_once(submit)
        except SoarError as exc:
            log.warning("%s: poll of %s on %s failed: %s", job.playbook, job.poll.source, job.tenant, exc)
        except Exception:  # noqa: BLE001 - one failing poll must not stop the server
            log.exception("%s: poll of %s on %s crashed", job.playbook, job.poll.source, job.tenant)
        else:
            if log.isEnabledFor(logging.INFO):
                log.info("poll of %s for %s: %d item(s), %d new event(s), %d already seen%s", job.poll.source,
                         job.playbook, result.items_seen, result.events, result.duplicates,
                         f", {result.failed_pages} page(s) failed" if result.failed_pages else "",
                         extra=fields(tenant=job.tenant, playbook=job.playbook, trigger="poll",
                                      source=job.poll.source, items=result.items_seen, events=result.events,
                                      duplicates=result.duplicates, failed_pages=result.failed_pages))
            return result
        return None

    # ---- reload -------------------------------------------------------------------------------

    def reload(self, *, force: bool = False) -> Change:
        """Re-read changed playbook files (all of them with ``force``) and re-sync schedules."""
        change = self.catalog.scan(force=force)
        self.metrics.reloads.labels("loaded").inc(len(change.loaded))
        self.metrics.reloads.labels("rejected").inc(len(change.rejected))
        if change:
            self._sync_jobs()
            log.warning("playbooks reloaded: %s%s", ", ".join(change.loaded) or "-",
                        f"; removed: {', '.join(change.removed)}" if change.removed else "")
        return change

    def _sync_jobs(self) -> None:
        self._jobs = {job.id: job for job in self.catalog.jobs()}
        for gone in [j for j in self._pollers if j not in self._jobs]:
            del self._pollers[gone]
        if self.schedules.started:  # a front that does not lead keeps no schedules
            self.schedules.sync(self._jobs.values())

    async def _watch(self) -> None:
        interval = self.options.watch_interval
        while True:
            try:
                await asyncio.wait_for(self._reload_now.wait(), timeout=interval if interval > 0 else None)
                forced = True
            except asyncio.TimeoutError:
                forced = False
            self._reload_now.clear()
            try:
                self.reload(force=forced)
            except SoarError as exc:  # e.g. the directory disappeared: keep what runs
                log.error("reload failed: %s", exc)

    async def _sweep(self) -> None:
        last_purge = float("-inf")
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.options.sweep_interval)
            try:
                self.approvals.sweep()
                if loop.time() - last_purge > self.options.prune_interval:
                    self.prune()
                    last_purge = loop.time()
            except SoarError as exc:
                log.error("sweep (approval timeouts, inbox retention) failed: %s", exc)

    async def _recover_loop(self) -> None:
        """Start events left without a run, resume runs a store error interrupted (a database
        restart): without this they would wait for the next start of serve."""
        while True:
            await asyncio.sleep(self.options.recover_interval)
            if self.stopping:
                return
            try:
                unstarted = self.inbox.unstarted(limit=1000) if self.front is None else None
                submitted, resumed = self.dispatcher.recover(unstarted)
            except SoarError as exc:
                log.debug("inbox sweep: the run store does not answer: %s", exc)
                continue
            if submitted or resumed:
                log.warning("recovered: %d recorded event(s) started, %d run(s) resumed", submitted, resumed)

    async def _watch_lock(self) -> None:
        """Keep the PostgreSQL serve lock (see ``runner.serve.lock``). Database calls go to a
        thread: while the server is unreachable a connection attempt may block."""
        lock = self.lock
        lost = False
        while not self.stopping:
            await asyncio.sleep(self.options.lock_check_interval)
            if not lost:
                if await asyncio.to_thread(lock.check):
                    continue
                lost = True
                log.error("the serve lock on %s was lost (the database restarted or dropped the "
                          "connection); taking it again once the database answers", lock.store_url)
            state = await asyncio.to_thread(lock.regain)
            if state == "held":
                lost = False
                log.warning("the serve lock on %s is held again", lock.store_url)
            elif state == "taken":
                from runner.serve.lock import taken_error

                error = taken_error(lock.store_url, lock.holder)
                self.fatal = type(error)(
                    f"stopped: the serve lock was lost while the database restarted, and another "
                    f"process took it meanwhile: {error.message}",
                    hint="two `soar serve` on one store would fire every schedule twice; keep the other "
                         "one, or stop it and start this one again")
                log.error("%s", self.fatal)
                self.options.grace = 0.0  # the other process resumes our runs: stop now, checkpoint
                self.request_stop()
                return

    def prune(self) -> tuple[int, int]:
        """Retention: delete the inbox events that are done with (run finished, dedup window
        passed), then the expired dedup keys. Returns (events, keys) deleted."""
        events = self.inbox.prune()
        keys = self.inbox.purge_dedup()
        if events or keys:
            log.info("inbox pruned: %d finished event(s), %d expired dedup key(s)", events, keys)
        return events, keys

    # ---- state --------------------------------------------------------------------------------

    def health(self) -> dict:
        doc = {"status": "stopping" if self.stopping else "ok", "playbooks": len(self.catalog.entries),
               "rejected": len(self.catalog.rejected), "running": self.dispatcher.running,
               "queued": self.dispatcher.queued}
        return {**doc, **self.front.health()} if self.front is not None else doc

    def _gauges(self) -> dict[str, float]:
        return {"runs_running": self.dispatcher.running, "runs_queued": self.dispatcher.queued,
                "playbooks_loaded": len(self.catalog.entries), "playbooks_rejected": len(self.catalog.rejected)}

    def _tenants_of(self, playbook: Any) -> list[str]:
        config = self.services.config
        configured = config.tenant_names() if config is not None else []
        wanted = playbook.tenants
        if wanted is None or wanted == "all":
            return list(configured)
        missing = [t for t in wanted if t not in configured]
        if missing:
            raise ConfigError(f"playbook '{playbook.name}' names tenant '{missing[0]}', which is not configured",
                              where=playbook.locate(("tenants",)),
                              hint="configured tenants: " + (", ".join(configured) or "none (add them to soar.yaml)"))
        return list(wanted)


def _record_single_mode(engine: Any) -> None:
    """An all-in-one serve on a PostgreSQL store that once had fronts: decisions on approvals
    are continued here again, not queued (runner.queue.roles)."""
    from runner.queue.roles import record_mode

    try:
        record_mode(engine, "single")
    except Exception as exc:  # noqa: BLE001 - informational; serving goes on
        log.debug("could not record single-process mode: %s", exc)


def _log_event(source: str, playbook: str, key: str | None, tenant: str | None, accepted: Accepted,
               **more: Any) -> None:
    """An accepted trigger event (INFO; a poll's items at DEBUG, the poll itself says INFO)."""
    level = logging.INFO if source != "poll" else logging.DEBUG
    what = {"webhook": f"webhook {key}", "schedule": f"schedule {key} fired", "poll": f"poll item of {key}"}.get(
        source, source)
    if "scheduled_for" in more:
        what += f" for {more['scheduled_for']}"
    # the run (the first event's, for a duplicate) is a field: text lines show it before the message
    said = (f"duplicate of event {accepted.event_id}: no new run" if accepted.duplicate
            else f"event {accepted.event_id} accepted")
    log.log(level, "%s (playbook %s): %s", what, playbook, said,
            extra=fields(run=accepted.run_id, tenant=tenant, playbook=playbook, trigger=source,
                         trigger_key=key, event=accepted.event_id, duplicate=accepted.duplicate, **more))
