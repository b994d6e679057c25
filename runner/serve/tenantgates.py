"""Tenant runs that stop at an approval gate while the rest of their family still runs here.

A run over several tenants runs its tenant runs together, in one task of ``soar serve``'s
dispatcher (:meth:`runner.engine.run.Engine._run_parent`), and a tenant run that stops at a gate
is done as far as that task goes. While the task runs (another tenant's run continues after its
own approval, say), the family cannot be continued a second time, so a decision on the stopped
tenant run would wait until the task ends.

:class:`ServeEngine` keeps such a tenant run in the family's task instead: it waits there,
``waiting_approval`` in the store as before, while another tenant run of its family executes in
this process. When its gate is decided through ``soar serve`` (:meth:`HeldGates.wake`, called by
the approval desk) it is claimed (``waiting_approval`` → ``running``, one atomic update) and
continued at once from its durable step records, like any resume: a recorded step is not run
again. When no tenant run of its family executes any more it stays stopped, the family ends
``waiting_approval`` as it always did, and a later decision continues the family as usual
(:mod:`runner.serve.approvals`: at once, or as soon as the family's task ends). Waiting holds
nothing but the family's task: a shutdown cancels it like any running run, and the tenant run is
still ``waiting_approval`` in the store. A family of more than ``TENANT_CONCURRENCY`` tenants
does not keep stopped tenant runs: its tenant runs take turns for a slot, which a stopped one
must not keep.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

from runner.engine.run import TENANT_CONCURRENCY, Engine
from runner.store.approval_queue import claim_waiting_run

_EXECUTE = inspect.signature(Engine._execute)
if not {"run_id", "parent_id", "recorded", "resumed", "after"} <= set(_EXECUTE.parameters):
    raise ImportError("runner.serve.tenantgates: Engine._execute no longer takes run_id, parent_id, "
                      "recorded, resumed and after; update ServeEngine")
DECIDED = ("approved", "denied")


class HeldGates:
    """Which tenant runs execute in this process (per family), and which wait at a gate."""

    def __init__(self, store: Any):
        self.store = store
        self._executing: dict[str, set[str]] = {}  # parent -> its tenant runs executing
        self._held: dict[str, tuple[str, asyncio.Future]] = {}  # tenant run -> (parent, its wake-up)
        self._sizes: dict[str, int] = {}  # parent -> how many runs it has (while some execute)

    def started(self, parent: str, run_id: str) -> None:
        self._executing.setdefault(parent, set()).add(run_id)

    def stopped(self, parent: str, run_id: str) -> None:
        executing = self._executing.get(parent)
        if executing is not None:
            executing.discard(run_id)
            if executing:
                return
            del self._executing[parent]
            self._sizes.pop(parent, None)
        for held, (family, wake) in list(self._held.items()):  # nothing of the family executes: stop waiting
            if family == parent:
                del self._held[held]
                if not wake.done():
                    wake.set_result(False)

    def wake(self, run_id: str) -> bool:
        """A gate of ``run_id`` was decided: continue it now if it waits here. False: it does
        not (the caller continues its family the usual way)."""
        entry = self._held.pop(run_id, None)
        if entry is None or entry[1].done():
            return False
        entry[1].set_result(True)
        return True

    async def hold(self, parent: str, run_id: str, step: str) -> bool:
        """Wait, the tenant run ``run_id`` stopped at the gate of ``step``: True once the gate is
        decided (continue it), False at once or later when no tenant run of ``parent`` executes
        here any more (leave it stopped)."""
        if not self._executing.get(parent):
            return False
        if parent not in self._sizes:
            self._sizes[parent] = len(self.store.children(parent))
        if self._sizes[parent] > TENANT_CONCURRENCY:
            return False
        record = self.store.get_approval(run_id, step)
        if record is not None and record.status in DECIDED:
            return True  # decided while it went to the gate
        wake = asyncio.get_running_loop().create_future()
        self._held[run_id] = (parent, wake)
        try:
            return await wake
        finally:
            if self._held.get(run_id, (None, None))[1] is wake:
                del self._held[run_id]


class ServeEngine(Engine):
    """The engine of ``soar serve``: a tenant run stopped at a gate waits in its family's task
    while the family still executes here (see the module docstring)."""

    def __init__(self, services: Any, progress: Any = None):
        super().__init__(services, progress)
        self.held = HeldGates(services.store)

    async def _execute(self, *args: Any, **kwargs: Any) -> Any:
        call = _EXECUTE.bind(self, *args, **kwargs)
        given = call.arguments
        parent, run_id = given.get("parent_id"), given["run_id"]
        if parent is None or given.get("after") or self.spread is not None:
            # a run of its own, a sub-playbook's run (it runs its own after-tenant steps), or a
            # tenant run a worker executes alone (queue mode)
            return await super()._execute(*args, **kwargs)
        held = self.held
        while True:
            held.started(parent, run_id)
            try:
                result = await super()._execute(*call.args[1:], **call.kwargs)
            finally:
                held.stopped(parent, run_id)
            if result.status != "waiting_approval" or not result.waiting:
                return result
            if not await held.hold(parent, run_id, result.waiting[0][1]):
                return result
            if not claim_waiting_run(self.services.store, run_id):
                return result  # continued or ended by someone else meanwhile (cancelled, say)
            self.services.store.audit(run_id, "run_continued", data={"by": "soar serve"})
            given["recorded"] = self._recorded(run_id, (), ())
            given["resumed"] = True
