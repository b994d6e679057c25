"""A worker's part in spreading a run's tenant runs over the workers (:mod:`runner.engine.spread`).

:class:`TenantJobs` is the worker engine's spreader: it queues one ``soar.run_tenant`` job per
tenant run (in the queue, and under the lane, of the parent's playbook), and executes those jobs:

1. lease the tenant run (another worker holding it: the job is tried again later), and execute
   it — or continue it from its step records — unless it has ended already or its parent has
   (a job that runs twice does the work once); one whose run was cancelled (``soar runs
   cancel``) before it started ends cancelled;
2. then lease the parent and settle it: if no tenant run of it is pending or running any more,
   the parent ends here (its after-tenant steps, summary outputs, status). When another worker
   holds the parent's lease (it is settling it after its own tenant run, or still queueing the
   tenant runs), the job is tried again shortly: it then finds its tenant run ended and only
   settles — so the last tenant run to end always settles the parent, exactly once.

A worker killed by SIGKILL in either part loses the job to another worker, which does what is
left of it the same way. A tenant run that stops at an approval gate ends its job (no worker
holds it while it waits); once no tenant run is running, the parent waits for the approval
too, and the decision queues the parent's resume, which queues its waiting tenant runs again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from runner.engine import spread
from runner.engine.outcomes import FINAL
from runner.errors import SoarError, StepError, StoreError
from runner.logfmt import fields
from runner.serve.dispatch import log_end, one_line
from runner.store.runcontrol import finish_cancelled

from . import jobs
from .roles import deployment, placement

log = logging.getLogger("soar.worker")
IN_FLIGHT = ("pending", "running")


class TenantJobs:
    """Queues and executes the tenant jobs of ``executor``'s worker
    (:class:`runner.queue.worker.RunExecutor`)."""

    def __init__(self, executor: Any):
        self.executor = executor
        self.queue: jobs.JobQueue | None = None  # set once the worker's queue is open
        self.worker = ""         # this worker's name, kept in each tenant run's audit trail
        self.executed = 0        # tenant runs executed (or continued) here
        self.settled = 0         # parent runs ended here

    # ---- queueing (the engine's spreader) -------------------------------------------------------

    async def queue_tenants(self, parent_id: str, playbook: Any, children: dict[str, str]) -> int:
        if self.queue is None:
            raise StoreError("this worker's job queue is not open", hint="start the worker again")
        engine = self.executor.inbox.engine
        doc = await asyncio.to_thread(deployment, engine)
        limit, queue = placement(doc, playbook.name, playbook.source_text)
        busy = await self.queue.live(list(children.values()), waiting=False)  # their job is at it already
        requests = [jobs.JobRequest(jobs.TENANT, run_id, jobs.tenant_lock(playbook.name, parent_id, limit, tenant),
                                    queue, {"run_id": run_id, "parent_id": parent_id, "playbook": playbook.name})
                    for tenant, run_id in children.items() if run_id not in busy]
        self.executor.store.flush()  # what the engine recorded precedes the jobs
        queued = await self.queue.defer(requests)
        log.info("run %s: %d tenant run(s) queued", parent_id, queued,
                 extra=fields(run=parent_id, playbook=playbook.name))
        return queued

    # ---- executing ------------------------------------------------------------------------------

    async def run_tenant(self, *, run_id: str, parent_id: str, playbook: str) -> str:
        ex = self.executor
        async with ex._lease(run_id, playbook):
            run = ex._find(run_id)
            parent = ex._find(parent_id)
            if run is None or parent is None:
                return f"tenant run {run_id} or its run {parent_id} does not exist: nothing to do"
            if run.status not in FINAL and run.cancel_requested_at is not None:
                finish_cancelled(ex.store, run.id, actor=run.cancel_requested_by or "someone")  # never started
            elif run.status not in FINAL and parent.status in IN_FLIGHT and \
                    not spread.undecided(ex.store, [run]):  # one still at an undecided gate waits on
                await self._execute(run, playbook)
        return await self._settle(parent_id, playbook)

    async def _execute(self, run: Any, playbook: str) -> None:
        ex = self.executor
        store = ex.store
        store.audit(run.id, "tenant_run_taken", data={"worker": self.worker})
        self.executed += 1
        t0 = time.monotonic()
        try:
            served = ex._load(run.playbook_text, run.playbook_path)
            result = await spread.run_tenant(ex.engine, run, served)
        except StoreError:
            raise  # the job is retried; the run store then says what is left
        except asyncio.CancelledError:
            ex._checkpoint(run.id)
            raise
        except Exception as exc:  # noqa: BLE001 - refused before its steps (secrets), or a bug
            error = exc if isinstance(exc, SoarError) else StepError(f"internal error: {type(exc).__name__}: {exc}")
            log.error("tenant run %s (%s) of %s failed: %s", run.id, run.tenant, playbook, one_line(error),
                      exc_info=not isinstance(exc, SoarError),
                      extra=fields(run=run.id, tenant=run.tenant, playbook=playbook, status="failed"))
            store.update_run(run.id, status="failed", error=error.to_dict())
            store.audit(run.id, "run_failed", data={"error": str(error)}, durable=True)
            return
        log.info("tenant run %s (%s) of %s %s in %.2fs", run.id, run.tenant, playbook, result.status,
                 time.monotonic() - t0,
                 extra=fields(run=run.id, tenant=run.tenant, playbook=playbook, status=result.status))

    async def _settle(self, parent_id: str, playbook: str) -> str:
        """Settle the parent after one of its tenant runs (see the module doc)."""
        ex = self.executor
        async with ex._lease(parent_id, playbook):  # held elsewhere: RunBusy, the job is tried again
            parent = ex._find(parent_id)
            if parent is None or parent.status not in IN_FLIGHT:
                return f"run {parent_id} is {parent.status if parent else 'gone'}: nothing to settle"
            t0 = time.monotonic()
            try:
                served = ex._load(parent.playbook_text, parent.playbook_path)
                result = await spread.settle(ex.engine, parent, served)
            except asyncio.CancelledError:
                ex._checkpoint(parent_id)
                raise
            except StoreError:
                raise
            except SoarError as exc:
                log.error("run %s could not be ended: %s", parent_id, one_line(exc))
                return f"run {parent_id} could not be ended: {one_line(exc)}"
            if result is None:
                return f"run {parent_id}: other tenant runs are not done yet"
            self.settled += 1
            ex.metrics.run_finished(playbook, result.status)
            log_end(result, playbook, None, time.monotonic() - t0)
            return f"run {parent_id} {result.status}"
