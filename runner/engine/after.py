"""After-tenant steps: a playbook's ``after_tenants:`` run once, after every tenant's run has
reached a final state, with every tenant's result in ``${{ tenants }}``.

- Several tenants: they run in the **parent run** (their step records are the parent's), once
  no tenant run is waiting for an approval — so after an approval, when the last tenant
  finishes (on resume).
- One tenant, or none: they run in the run itself, after its steps. Before they start, the
  outcome of the tenant steps is written to the audit trail (``tenant_steps_done``): a resume
  then goes on with the after-tenant steps and does not run a failed tenant step again.

Their scope: ``tenants`` (name → ``{status, outputs, error, run_id}``, in the order of the
playbook's tenants; empty for a run without a tenant), ``steps`` (the after-tenant steps
only), ``inputs``, ``trigger``, ``playbook``, ``run``, ``secrets``; ``tenant`` is null.
Summary outputs (:mod:`runner.playbook.phases`) are evaluated after them.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from runner.engine.control import RunCancelled
from runner.engine.outcomes import RunPaused
from runner.errors import SoarError, StepError
from runner.playbook.phases import summary_keys
from runner.secrets import mask

if TYPE_CHECKING:  # pragma: no cover
    from runner.engine.run import Engine
    from runner.playbook.model import Playbook

log = logging.getLogger("soar.engine")

MARKER = "tenant_steps_done"  # audit event: the tenant steps of a one-tenant run have finished


@dataclass
class AfterResult:
    """How the after-tenant steps ended: ``status`` succeeded, failed, waiting_approval or
    cancelled."""

    status: str
    outputs: dict = field(default_factory=dict)  # the summary outputs
    error: SoarError | None = None
    steps: list = field(default_factory=list)
    plan: list = field(default_factory=list)
    waiting: list = field(default_factory=list)


def tenant_entry(run_id: str, status: str, outputs: Any, error: Any) -> dict:
    """One tenant's result as after-tenant steps read it (``tenants.<name>``)."""
    if isinstance(error, SoarError):
        error = error.message
    elif isinstance(error, dict):
        error = error.get("message")
    return {"status": status, "outputs": outputs, "error": error, "run_id": run_id}


def record_tenant_part(store, run_id: str, status: str, outputs: Any, error: SoarError | None) -> None:
    """Before the after-tenant steps of a one-tenant run start: how its tenant steps ended."""
    store.audit(run_id, MARKER, data={"status": status, "outputs": mask(outputs),
                                      "error": error.to_dict() if error is not None else None},
                durable=True)


def recorded_tenant_part(store, run_id: str) -> dict | None:
    """What :func:`record_tenant_part` wrote for ``run_id`` (``None``: the tenant steps had not
    finished)."""
    for event in reversed(store.events(run_id)):
        if event.kind == MARKER and isinstance(event.data, dict):
            return event.data
    return None


async def run_after_tenants(engine: "Engine", playbook: "Playbook", run_id: str, ctx: dict, *,
                            dry_run: bool, parent_id: str | None, recorded: dict) -> AfterResult:
    """Run the after-tenant steps of ``playbook`` in run ``run_id`` (``ctx``: their scope), then
    its summary outputs."""
    from runner.engine.steps import RunExecution

    ex = RunExecution(engine, playbook, run_id, None, dry_run, ctx, parent_id=parent_id,
                      recorded=recorded, resuming=bool(recorded), steps=playbook.after_tenants)
    error: SoarError | None = None
    waiting: list = []
    outputs: dict = {}
    try:
        await ex.run_steps()
        outputs = await engine._outputs(playbook, ex, summary_keys(playbook, engine.expressions.references))
        status = "succeeded"
    except RunPaused as paused:
        status, waiting = "waiting_approval", [(run_id, paused.step_id)]
        if ex.cancel.requested():  # cancelled while it ran up to the gate
            status, waiting = "cancelled", []
    except RunCancelled:
        status = "cancelled"
    except SoarError as exc:
        status, error = "failed", exc
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # a bug of ours: the run still ends failed, never stays 'running'
        log.error("internal error in the after_tenants steps of run %s", run_id, exc_info=True)
        status = "failed"
        error = StepError(f"internal error: {type(exc).__name__}: {exc}",
                          hint=f"this is a bug in soar-runner; report it with `soar runs show {run_id}`")
    steps = [{"id": sid, "status": s["status"], **({"error": s["error"]} if s["error"] else {}),
              **({"warnings": s["warnings"]} if s.get("warnings") else {})}
             for sid, s in ctx["steps"].items()]
    return AfterResult(status, outputs, error, steps, ex.plan, waiting)
