"""Tenant runs spread over workers (queue mode: ``soar worker``).

In one process a parent run runs its tenant runs itself, concurrently, then its after-tenant
steps (:meth:`runner.engine.run.Engine._run_parent`). An engine given a *spreader*
(``Engine.spread``, set by ``soar worker``) instead records the family as usual and hands each
tenant run to the spreader, which queues it as a job of its own; the job that starts the parent
then ends, holding no worker. Each tenant run is then executed (or continued from its durable
step records) by whichever worker takes its job (:func:`run_tenant`), and after each one
:func:`settle` looks whether it was the last: when no tenant run of the parent is pending or
running any more, the parent ends as in one process — waiting for an approval if a tenant run
waits, else its after-tenant steps and summary outputs run, in the parent, and its row gets its
final status. The caller holds a lease on the parent while settling it (one settles it at a
time), and the parent's own status says whether it is still to settle, so it is settled once.

:func:`resume_family` continues a spread parent (after a crash, or after an approval decided
on one of its tenant runs): its unfinished tenant runs are queued again, or, with none left, it
is settled at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from runner.engine.outcomes import FINAL, RunResult
from runner.errors import StepError

if TYPE_CHECKING:  # pragma: no cover
    from runner.engine.run import Engine
    from runner.playbook.model import Playbook

IN_FLIGHT = ("pending", "running")


class Spreader(Protocol):
    """What queues tenant runs (:class:`runner.queue.worker.RunExecutor`)."""

    async def queue_tenants(self, parent_id: str, playbook: "Playbook", children: dict[str, str]) -> int:
        """Queue a job for each tenant run (tenant → run id) of ``parent_id``; returns how many
        were queued (a run with a job waiting or running already is left out)."""


async def spread_family(engine: "Engine", playbook: "Playbook", parent: str, child_ids: dict[str, str],
                        dry_run: bool) -> RunResult:
    """A new family (just recorded): queue its tenant runs. The parent stays ``running``."""
    engine.services.plugins.notify("soar_run_started", run=engine.family_info(parent, playbook, dry_run))
    engine.services.store.audit(parent, "tenant_runs_queued", data={"tenants": len(child_ids)}, durable=True)
    await engine.spread.queue_tenants(parent, playbook, dict(child_ids))
    return RunResult(parent, "running")


async def resume_family(engine: "Engine", run: Any, playbook: "Playbook", children: list) -> RunResult:
    """Continue the spread parent ``run`` (``children``: its tenant runs): queue those not
    finished (a tenant run waiting for an approval only once its gate is decided), or settle it
    when none is left to go on."""
    held = undecided(engine.services.store, children)
    open_runs = {c.tenant: c.id for c in children if c.status not in FINAL and c.id not in held}
    if open_runs:
        engine.services.store.update_run(run.id, status="running")
        await engine.spread.queue_tenants(run.id, playbook, open_runs)
        return RunResult(run.id, "running")
    settled = await settle(engine, run, playbook)
    return settled if settled is not None else RunResult(run.id, run.status)


async def run_tenant(engine: "Engine", run: Any, playbook: "Playbook") -> RunResult:
    """Execute the tenant run ``run`` of a spread parent, or continue it from its step records.
    Its after-tenant steps are its parent's (:func:`settle`)."""
    recorded = engine._recorded(run.id, (), ())
    if recorded:  # continued from its step records (after a crash, a hand-back, an approval)
        engine.services.store.audit(run.id, "run_resumed", durable=True)
    return await engine._execute(playbook, run.id, engine.tenant_info(run.tenant), run.inputs,
                                 run.trigger or {"type": "manual"}, run.dry_run, engine._secrets(playbook),
                                 run.parent_id, recorded, after=False, resumed=bool(recorded))


def undecided(store: Any, runs: list) -> set[str]:
    """The ids of those ``runs`` that wait for an approval nobody has decided yet (one decided,
    or expired, lets its run go on: it is continued, not waiting)."""
    waiting = [r.id for r in runs if r.status == "waiting_approval"]
    if not waiting:
        return set()
    return {a.run_id for a in store.approvals_of(waiting) if a.status == "pending"}


async def settle(engine: "Engine", parent: Any, playbook: "Playbook") -> RunResult | None:
    """End the spread parent run ``parent`` (a fresh record) if none of its tenant runs is
    pending, running, or waiting at a gate already decided (its job is coming); else None
    (another tenant run's job settles it). The caller holds the parent's lease."""
    store = engine.services.store
    if parent.status not in IN_FLIGHT:
        return None
    kids = [c for c in store.children(parent.id) if (c.trigger or {}).get("type") != "playbook"]
    held = undecided(store, kids)
    if not kids or any(c.status in IN_FLIGHT or (c.status == "waiting_approval" and c.id not in held)
                       for c in kids):
        return None
    children = {c.tenant: RunResult(c.id, c.status, c.outputs, _error(c.error), tenant=c.tenant) for c in kids}
    info = engine.family_info(parent.id, playbook, parent.dry_run)
    after_recorded = engine._recorded(parent.id, (), ()) if engine._after_phase(playbook) else {}
    return await engine._close_family(playbook, info, children, {c.tenant: c for c in kids}, parent.inputs,
                                      parent.trigger or {"type": "manual"}, parent.dry_run,
                                      engine._secrets(playbook), after_recorded)


def _error(error: Any) -> StepError | None:
    """A stored run error as the parent's error names it."""
    if isinstance(error, dict) and error.get("message"):
        return StepError(error["message"], hint=error.get("hint"))
    return None
