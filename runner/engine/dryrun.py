"""``--dry-run``: a write or destructive step is not run; it is recorded ``skipped`` with its
plan entry, and gets a typed placeholder output (:mod:`runner.placeholders`) so that later
steps that read it still evaluate. The plan says which values are placeholders: each entry's
``output`` (for a step without ``foreach``: the placeholder later steps see) and
``placeholders`` (which of its own inputs came from one).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runner.engine.outcomes import StepOutcome, plain
from runner.placeholders import for_output, placeholder_paths
from runner.secrets import mask

if TYPE_CHECKING:  # pragma: no cover
    from runner.engine.steps import RunExecution
    from runner.playbook.model import Step

PLACEHOLDER_HINT = ("under --dry-run, a write step is not run and its output is a placeholder; guard "
                    "this step with `when: ${{ not run.dry_run }}` if it needs the real value")


def placeholder_output(step: "Step", action) -> Any:
    """What later steps read as ``steps.<id>.output`` of a write step that was not run. A
    ``foreach`` step's output lists the items that ran: none did, so it is empty."""
    if step.foreach is not None:
        return []
    return for_output(action.output_model, f"steps.{step.id}.output")


def plan_and_skip(ex: "RunExecution", step: "Step", action, inputs: Any, raw: Any, item: int | None,
                  effect: str) -> StepOutcome:
    """Record ``step`` (one item) as planned, not run, and give it its placeholder output."""
    entry = {"tenant": ex.tenant.name if ex.tenant else None, "step": step.id,
             "item": item, "action": action.name, "effect": effect,
             "inputs": mask(plain(inputs))}
    used = placeholder_paths(raw)
    if used:
        entry["placeholders"] = used
    output = placeholder_output(step, action) if item is None else None
    if item is None:
        entry["output"] = mask(output)
    ex.plan.append(entry)
    ex.store.step_finished(ex.run_id, step.id, item=item, attempt=1, status="skipped",
                           output={"dry_run": True, "planned": entry}, durable=False)
    return StepOutcome("skipped", output, note="not run: --dry-run")


def replanned(step: "Step", action, rec_output: Any) -> Any:
    """The output of a step a resumed dry-run finds recorded as planned (``None`` when it was
    skipped for another reason)."""
    if isinstance(rec_output, dict) and rec_output.get("dry_run"):
        return placeholder_output(step, action)
    return None


def explain_failure(outcome: StepOutcome, raw: Any) -> StepOutcome:
    """A step of a dry-run that failed with placeholders among its inputs: say so in the hint."""
    used = placeholder_paths(raw)
    if used and outcome.error is not None and PLACEHOLDER_HINT not in (outcome.error.hint or ""):
        err = outcome.error
        where = ", ".join(used[:5])
        extra = f"input {where} holds a dry-run placeholder ({PLACEHOLDER_HINT})"
        err.hint = f"{err.hint}; {extra}" if err.hint else extra
    return outcome
