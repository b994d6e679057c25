"""``soar serve --role front``: the parts of a front that differ from an all-in-one serve.

A front accepts what an all-in-one serve accepts (webhooks, approvals and cancels over HTTP,
``/healthz``, ``/metrics``) and records every event in the inbox as it does; its dispatcher
(:class:`~runner.queue.dispatch.QueueDispatcher`) queues a job where the all-in-one one would
run the run. Any number of fronts serve one store together (:class:`~runner.queue.locks.FrontLock`);
one of them *leads*: it fires the schedules and the polls, and sweeps for events and runs left
without a job. Every front tries to lead every ``lock_check_interval`` seconds, so a new leader
takes over within that time when the leader stops or dies (its database session ends with it).
A schedule's occurrence is also deduplicated in the inbox on (job, scheduled time), so even two
leaders for a moment (a database restart) give one run per occurrence.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from runner.errors import SoarError

from . import jobs
from .dispatch import QueueDispatcher
from .locks import FrontLock
from .roles import record_mode, store_url_of

log = logging.getLogger("soar.serve")


class QueueFront:
    """The front role of a :class:`~runner.serve.service.ServeService` (``service``)."""

    def __init__(self, service: Any):
        self.service = service
        options = service.options
        self.engine = service.inbox.engine
        self.dispatcher = QueueDispatcher(service.engine, service.inbox, service.catalog.get, service.metrics,
                                          max_runs=options.max_runs, routes=options.routes,
                                          default_queue=options.queue)
        self.lock: FrontLock | None = None
        self.queue: jobs.JobQueue | None = None
        self.leading = False

    async def open(self) -> FrontLock:
        """Take the shared serve lock, open the job queue, record queue mode. Refuses a SQLite
        store, a store served by an all-in-one serve, and a database without the queue's tables."""
        from runner.errors import UsageError

        if self.engine.dialect.name != "postgresql":
            raise UsageError("soar serve --role front needs a PostgreSQL run store (the job queue lives in it)",
                             hint="--store postgresql://USER@HOST/DB (or SOAR_STORE), then `soar db upgrade`")
        self.lock = await asyncio.to_thread(FrontLock.acquire, self.engine)
        self.queue = jobs.JobQueue(store_url_of(self.engine), pool_size=2, name="soar serve --role front")
        try:
            await self.queue.open()
        except BaseException:
            self.lock.release()
            raise
        self.dispatcher.queue = self.queue
        options = self.service.options
        record_mode(self.engine, "queue", routes=[list(r) for r in options.routes], queue=options.queue,
                    max_runs=options.max_runs)
        return self.lock

    async def try_lead(self) -> dict:
        """Lead if no other front does: start the schedules and polls, sweep. Returns what the
        first sweep queued (the start summary's ``resumed`` / ``started``)."""
        if self.leading or not await asyncio.to_thread(self.lock.try_lead):
            return {"resumed": 0, "started": 0, "leader": self.leading}
        service = self.service
        self.leading = self.dispatcher.leader = True
        service.schedules.start(asyncio.get_running_loop())
        service._sync_jobs()
        started, resumed = self.dispatcher.recover()
        log.warning("this front leads: it fires the schedules and polls (%d job(s))", len(service._jobs))
        return {"resumed": resumed, "started": started, "leader": True}

    def step_down(self, why: str) -> None:
        if not self.leading:
            return
        self.leading = self.dispatcher.leader = False
        service = self.service
        service.schedules.shutdown()
        for task in service._polls.values():
            task.cancel()
        service._polls.clear()
        log.error("this front no longer leads (%s): schedules and polls stop here until it leads again", why)

    async def watch(self) -> None:
        """Keep the serve lock, follow leadership (see the module doc)."""
        service, lock = self.service, self.lock
        interval = service.options.lock_check_interval
        while not service.stopping:
            await asyncio.sleep(interval)
            if await asyncio.to_thread(lock.check):
                if self.leading and not lock.leading:
                    self.step_down("the leader lock was lost")
                if not self.leading:
                    await self._lead_quietly()
                continue
            self.step_down("the database restarted or dropped the lock's connection")
            state = await asyncio.to_thread(lock.regain)
            if state == "taken":
                from runner.errors import StoreError

                service.fatal = StoreError(
                    f"stopped: while the database restarted, an all-in-one `soar serve` took run store "
                    f"{lock.store_url} ({lock.holder})",
                    hint="fronts and an all-in-one serve cannot share a store: stop one of them")
                log.error("%s", service.fatal)
                service.request_stop()
                return
            if state == "held":
                log.warning("the front lock on %s is held again", lock.store_url)
                await self._lead_quietly()

    async def _lead_quietly(self) -> None:
        try:
            await self.try_lead()
        except SoarError as exc:
            log.error("could not take the lead: %s", exc)
            self.step_down(str(exc))

    def health(self) -> dict:
        return {"role": "front", "leader": self.leading, "jobs_queued": self.dispatcher.deferred}

    async def close(self) -> None:
        self.leading = self.dispatcher.leader = False
        if self.queue is not None:
            with contextlib.suppress(Exception):
                await self.queue.close()
