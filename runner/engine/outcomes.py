"""What one step attempt gives back: its outcome, what the store recorded of it before a
resume, and the action's inputs and output as plain data."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ValidationError

from runner.errors import SoarError, StepError
from runner.secrets import mask

FINAL = ("succeeded", "failed", "cancelled")  # a run in one of these is over


class RunPaused(Exception):
    """A step waits for a human: the run stops here in state ``waiting_approval``."""

    def __init__(self, step_id: str):
        self.step_id = step_id
        super().__init__(step_id)


@dataclass
class StepOutcome:
    status: str  # succeeded | failed | skipped
    output: Any = None
    error: SoarError | None = None
    note: str | None = None  # why a step was skipped, for the error of an expression that reads it


class Known(StrEnum):
    """What a resume makes of one recorded (step, item). The store's statuses, plus ``RETRY``:
    the operator asked (``--retry-step``) to send an item whose outcome is unknown."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    RUNNING = "running"  # started, never finished: the outcome is unknown
    RETRY = "retry"


@dataclass
class Recorded:
    """What the store knows of one (step, item) from before a resume."""

    status: str  # a Known
    output: Any
    output_redacted: bool
    error: dict | None
    attempt: int
    effect: str


def plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="python", by_alias=True, exclude_none=False)
    return value


def output_of(action, result: Any) -> Any:
    if isinstance(result, BaseModel):
        return result.model_dump(mode="python", by_alias=True)
    if action.output_model is not None and isinstance(result, dict):
        try:
            return action.output_model.model_validate(result).model_dump(mode="python", by_alias=True)
        except ValidationError as exc:
            raise StepError(f"action '{action.name}' returned an output that does not match its model: "
                            f"{input_error(action.name, exc)}",
                            hint=f"a bug in plugin '{action.plugin}'") from None
    return result


def input_error(action: str, exc: ValidationError) -> str:
    parts = []
    for e in exc.errors()[:5]:
        loc = ".".join(str(p) for p in e["loc"]) or "inputs"
        if e["type"] == "missing":
            parts.append(f"input '{loc}' is required")
        elif e["type"] == "extra_forbidden":
            parts.append(f"'{loc}' is not an input of {action}")
        else:
            got = e.get("input")
            shown = "***" if got.__class__.__name__ == "Secret" else repr(got)
            if len(shown) > 60:
                shown = shown[:57] + "..."
            parts.append(f"input '{loc}': {e['msg']} (got {shown})")
    more = len(exc.errors()) - 5
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


@dataclass
class RunResult:
    """What a run ended with. ``children`` holds the per-tenant results of a parent run."""

    run_id: str
    status: str
    outputs: Any = None
    error: SoarError | None = None
    steps: list = field(default_factory=list)
    children: dict = field(default_factory=dict)
    plan: list = field(default_factory=list)
    waiting: list = field(default_factory=list)  # (run_id, step_id) awaiting approval
    tenant: str | None = None
    after_error: SoarError | None = None  # the after_tenants steps' error, when `error` is another

    def __repr__(self) -> str:
        # short: asyncio.run() formats the main task's result (this) while it restores SIGINT
        # handling, and a run of 10,000 steps should not pay for printing all of them
        return (f"RunResult(run_id={self.run_id!r}, status={self.status!r}, steps={len(self.steps)}, "
                f"tenants={len(self.children)})")

    def to_json(self) -> dict:
        doc = {"run_id": self.run_id, "status": self.status, "outputs": mask(self.outputs),
               "steps": self.steps}
        if self.tenant:
            doc["tenant"] = self.tenant
        if self.error is not None:
            doc["error"] = self.error.to_dict()
        if self.children:
            doc["tenants"] = {name: child.to_json() for name, child in self.children.items()}
        if self.plan:
            doc["plan"] = mask(self.plan)
            from runner.placeholders import placeholder_paths

            held = placeholder_paths(self.outputs)
            if held:  # outputs computed from what a dry-run did not run
                doc["placeholder_outputs"] = held
        if self.waiting:
            doc["waiting_approval"] = [{"run_id": r, "step": s} for r, s in self.waiting]
        return doc
