"""The dispatcher: turns recorded trigger events into runs, at most N at once per playbook (the
playbook's ``max_runs:``, else the ``--max-runs`` default), and continues runs (after a crash, after an approval).

Every event already has its run id (chosen when it was accepted, see ``runner.store.inbox``), and
the run is created under that id, so an event can never start two runs — not after a crash, not
when two code paths race. Events beyond a playbook's limit wait in memory in arrival order; they
are durable in the inbox, so a restart finds them again (:meth:`TriggerInbox.unstarted`).

The run store may be unreachable for a while (a PostgreSQL restart): a run that could not start
because of it is left to :meth:`Dispatcher.recover` — its event is still unstarted in the inbox,
or its run is still ``running`` in the store — which ``soar serve`` calls periodically, so the
work continues once the database is back instead of waiting for the next restart of serve.

Stopping (:meth:`Dispatcher.drain`): no new run starts; running ones get ``grace`` seconds to
finish. What is still running then is interrupted at its current step and left ``running`` in the
store — a checkpoint — so the next start resumes it from its last completed step (a write step
caught mid-call is reconciled by its action, never blindly repeated).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict, deque
from datetime import datetime, timezone
from typing import Any

from runner.errors import RunNotFound, SoarError, StepError, StoreError
from runner.logfmt import fields

log = logging.getLogger("soar.serve")


class Dispatcher:
    """Starts and continues runs for ``soar serve``. ``playbooks(name)`` gives the served version."""

    def __init__(self, engine: Any, inbox: Any, playbooks: Any, metrics: Any, *, max_runs: int = 1):
        self.engine = engine
        self.store = engine.services.store
        self.inbox = inbox
        self.playbooks = playbooks
        self.metrics = metrics
        self.max_runs = max(1, int(max_runs))
        self._queues: dict[str, deque] = defaultdict(deque)
        self._active: dict[str, int] = defaultdict(int)
        self._tasks: dict[str, tuple[str, asyncio.Task]] = {}  # run id -> (playbook, task)
        self._waiting: set[str] = set()  # run ids of the queued events
        self.stranded: dict[str, str] = {}  # run id -> playbook: interrupted by the store, to resume
        self._accepting = True
        self.finished = 0
        self.last_success: dict[str, str] = {}  # playbook -> start of its last succeeded run (trigger.since)

    # ---- state --------------------------------------------------------------------------------

    def limit(self, playbook: str) -> int:
        """How many runs of ``playbook`` may go at once: its ``max_runs:``, else the default."""
        served = self.playbooks(playbook)
        own = getattr(served, "max_runs", None) if served is not None else None
        return own or self.max_runs

    def busy(self, playbook: str) -> int:
        """Runs of ``playbook`` running or waiting for a slot."""
        return self._active[playbook] + len(self._queues[playbook])

    @property
    def running(self) -> int:
        return len(self._tasks)

    @property
    def queued(self) -> int:
        return sum(len(q) for q in self._queues.values())

    def is_running(self, run_id: str) -> bool:
        return run_id in self._tasks

    def when_done(self, run_id: str, callback: Any) -> bool:
        """Call ``callback()`` once the task of ``run_id`` here has ended (it no longer counts as
        running then). False: no task of that run runs here."""
        entry = self._tasks.get(run_id)
        if entry is None:
            return False
        entry[1].add_done_callback(lambda _task: callback())  # after _done: registered first
        return True

    def knows(self, run_id: str) -> bool:
        """The run is running or queued here."""
        return run_id in self._tasks or run_id in self._waiting

    # ---- starting -----------------------------------------------------------------------------

    def submit(self, event: Any) -> None:
        """Start the event's run now, or when its playbook has a free slot."""
        if self.knows(event.run_id):
            return
        self._waiting.add(event.run_id)
        self._queues[event.playbook].append(event)
        self._pump(event.playbook)

    def recover(self, unstarted: list) -> tuple[int, int]:
        """Pick up what the store's unavailability left behind: ``unstarted`` events (from
        :meth:`TriggerInbox.unstarted`) this dispatcher does not know, and runs it started that
        a store error interrupted. Returns (events submitted, runs resumed)."""
        submitted = 0
        for event in unstarted:
            if not self.knows(event.run_id):
                self.submit(event)
                submitted += 1
        resumed = 0
        for run_id, playbook in list(self.stranded.items()):
            if run_id in self._tasks:
                continue
            try:
                status = self.store.get_run(run_id).status
            except RunNotFound:  # never created: its event was unstarted, and is submitted above
                del self.stranded[run_id]
                continue
            except SoarError:
                continue  # still unreachable: next time
            del self.stranded[run_id]
            if status in ("pending", "running"):
                resumed += self.resume(run_id, playbook)
        return submitted, resumed

    def resume(self, run_id: str, playbook: str) -> bool:
        """Continue a run (in flight after a crash, or decided after an approval). It counts
        against its playbook's limit but never waits for a slot: it was started already."""
        if run_id in self._tasks or not self._accepting:
            return False
        self._spawn(run_id, playbook, self._resume(run_id, playbook))
        return True

    def _pump(self, playbook: str) -> None:
        queue = self._queues[playbook]
        limit = self.limit(playbook) if queue else 0
        while self._accepting and queue and self._active[playbook] < limit:
            event = queue.popleft()
            self._waiting.discard(event.run_id)
            if event.run_id not in self._tasks:
                self._spawn(event.run_id, playbook, self._start(event))

    def _spawn(self, run_id: str, playbook: str, coro) -> None:
        self._active[playbook] += 1
        task = asyncio.get_running_loop().create_task(coro, name=f"run {run_id}")
        self._tasks[run_id] = (playbook, task)
        task.add_done_callback(lambda _t, r=run_id, p=playbook: self._done(r, p))

    def _done(self, run_id: str, playbook: str) -> None:
        self._tasks.pop(run_id, None)
        self._active[playbook] -= 1
        self.finished += 1
        self._pump(playbook)

    async def _start(self, event: Any) -> None:
        playbook = self.playbooks(event.playbook)
        if playbook is None:
            self._record_failure(event, None, StepError(
                f"playbook '{event.playbook}' is no longer served", hint="the file was removed or renamed"))
            return
        self.metrics.run_started(event.playbook)
        started = datetime.now(timezone.utc)
        t0 = time.monotonic()
        if log.isEnabledFor(logging.INFO):
            tenants = event.tenant or playbook.tenants  # one tenant, a list, "all" or None
            log.info("run of %s started (trigger %s, event %s%s)", event.playbook, event.source, event.id,
                     f", tenants {_names(tenants)}" if tenants else "",
                     extra=fields(run=event.run_id, tenant=event.tenant, playbook=event.playbook,
                                  trigger=event.source, event=event.id,
                                  tenants=None if event.tenant or not tenants else tenants))
        try:
            result = await self.engine.start(playbook, trigger=event.trigger(), tenant=event.tenant,
                                             run_id=event.run_id)
        except StoreError as exc:
            if self._left_for_recovery(event, exc):
                return
            self._record_failure(event, playbook, exc)
            return
        except SoarError as exc:  # refused before the run existed (inputs, tenants, secrets)
            self._record_failure(event, playbook, exc)
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a bug must fail this run, not the server
            log.exception("run %s of %s crashed", event.run_id, event.playbook)
            self._record_failure(event, playbook, StepError(f"internal error: {type(exc).__name__}: {exc}"))
            return
        self.metrics.run_finished(event.playbook, result.status)
        log_end(result, event.playbook, event.source, time.monotonic() - t0)
        if result.status == "succeeded":
            self.last_success[event.playbook] = started.isoformat()

    def _left_for_recovery(self, event: Any, error: StoreError) -> bool:
        """A store error stopped the run: if the store is unreachable (or the run is still in
        flight) leave the work to :meth:`recover` instead of failing the event for a database
        that blinked. False: the store answers and holds no such run; the start was refused."""
        try:
            status = self.store.get_run(event.run_id).status
        except RunNotFound:
            return False
        except StoreError:
            log.error("run %s of %s could not start or finish: %s; it goes on once the run store is back",
                      event.run_id, event.playbook, error)
            # unstarted (the inbox sweep submits its event again) or in flight (resumed): which
            # one, recover() finds out when the store answers
            self.stranded[event.run_id] = event.playbook
            return True
        if status in ("pending", "running"):
            log.error("run %s of %s was interrupted by the run store: %s; it resumes once the store "
                      "is back", event.run_id, event.playbook, error)
            self.stranded[event.run_id] = event.playbook
        return True

    async def _resume(self, run_id: str, playbook: str) -> None:
        self.metrics.run_started(playbook)
        t0 = time.monotonic()
        log.info("run of %s resumed", playbook, extra=fields(run=run_id, playbook=playbook))
        try:
            result = await self.engine.resume(run_id)
        except StoreError as exc:
            log.error("run %s could not be continued: %s; it is retried once the store is back", run_id, exc)
            self.stranded[run_id] = playbook
            return
        except SoarError as exc:
            log.error("run %s could not be continued: %s", run_id, exc)
            return
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001
            log.exception("run %s crashed while resuming", run_id)
            return
        self.metrics.run_finished(playbook, result.status)
        log_end(result, playbook, None, time.monotonic() - t0)

    def _record_failure(self, event: Any, playbook: Any, error: SoarError) -> None:
        """The event's run could not start: record it as a failed run, so the event is done."""
        log.error("run %s of %s failed to start: %s", event.run_id, event.playbook, one_line(error),
                  extra=fields(run=event.run_id, tenant=event.tenant, playbook=event.playbook,
                               trigger=event.source, event=event.id, status="failed", error=one_line(error)))
        try:
            self._record_failed_run(event, playbook, error)
        except StoreError as exc:  # its event stays unstarted: the inbox sweep tries again
            log.error("run %s: the failure could not be recorded: %s", event.run_id, exc)

    def _record_failed_run(self, event: Any, playbook: Any, error: SoarError) -> None:
        record_failed_start(self.store, event, playbook, error)
        self.metrics.run_finished(event.playbook, "failed")

    # ---- stopping -----------------------------------------------------------------------------

    async def drain(self, grace: float) -> list[str]:
        """Start nothing more; wait up to ``grace`` seconds for running runs, then interrupt the
        rest and leave them resumable. Returns the ids of the runs interrupted."""
        self._accepting = False
        tasks = {run_id: task for run_id, (_p, task) in self._tasks.items()}
        if not tasks:
            return []
        _done, pending = await asyncio.wait(tasks.values(), timeout=grace)
        interrupted = [run_id for run_id, task in tasks.items() if task in pending]
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        for run_id in interrupted:
            self._checkpoint(run_id)
        return interrupted

    def _checkpoint(self, run_id: str) -> None:
        if checkpoint(self.store, run_id, reason="soar serve stopped"):
            log.warning("run %s interrupted by shutdown; it resumes at the next start", run_id)


def record_failed_start(store: Any, event: Any, playbook: Any, error: SoarError) -> None:
    """The event's run could not start (refused before it existed): record it as a failed run,
    so the event is done. ``playbook``: the served version, or None."""
    try:
        store.get_run(event.run_id)
    except SoarError:
        store.create_run(playbook_name=event.playbook,
                         playbook_path=playbook.source_path if playbook is not None else None,
                         playbook_text=playbook.source_text if playbook is not None else "",
                         inputs={}, trigger=event.trigger(), tenant=event.tenant, status="running",
                         run_id=event.run_id)
    store.update_run(event.run_id, status="failed", error=error.to_dict())


def checkpoint(store: Any, run_id: str, *, reason: str) -> bool:
    """The engine marks a cancelled run ``cancelled``; a shutdown is not a decision to cancel,
    so put the run (and its tenant runs) back in flight for whoever resumes it next. False:
    the run was never created (its event is still unstarted)."""
    try:
        tree = [store.get_run(run_id), *store.children(run_id)]
    except SoarError:
        return False
    for run in tree:
        if run.status == "cancelled":
            store.update_run(run.id, status="running")
    store.audit(run_id, "run_interrupted", data={"reason": reason}, durable=True)
    return True


# ---- log lines ------------------------------------------------------------------------------------

def log_end(result: Any, playbook: str, trigger: str | None, seconds: float) -> None:
    """A run's end: INFO, or WARNING when it failed (so it shows without ``-v``)."""
    status = result.status
    level = logging.WARNING if status == "failed" else logging.INFO
    if not log.isEnabledFor(level):
        return
    tenants = list(result.children) or None
    error = one_line(result.error) if result.error is not None and status == "failed" else None
    waiting = ", ".join(step for _run, step in result.waiting) if status == "waiting_approval" else None
    took = f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f}s"
    said = (f"FAILED after {took}" if status == "failed" else
            f"waits for approval of step {waiting} ({took})" if waiting else f"{status} in {took}")
    log.log(level, "run of %s %s%s%s", playbook, said, f" (tenants {_names(tenants)})" if tenants else "",
            f": {error}" if error else "",
            extra=fields(run=result.run_id, tenant=result.tenant, playbook=playbook, trigger=trigger,
                         tenants=tenants, status=status, duration_ms=round(seconds * 1000, 1), error=error,
                         waiting=waiting))


def _names(tenants: Any) -> str:
    return tenants if isinstance(tenants, str) else ", ".join(tenants)


def one_line(error: Any) -> str:
    """An error as one log line (where: message; no hint): text from outside cannot start a line."""
    where = str(getattr(error, "where", "") or "")
    message = getattr(error, "message", None) or str(error)
    text = f"{where}: {message}" if where else message
    return text.replace("\r", "\\r").replace("\n", "\\n")
