"""Read-only snapshots handed to observer hooks and to the CLI's progress view."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    playbook: str
    tenant: str | None
    parent_id: str | None
    dry_run: bool
    status: str
    error: str | None = None


@dataclass(frozen=True)
class StepInfo:
    step_id: str
    action: str
    item: int | None
    attempt: int
    status: str
    duration: float | None = None
    error: str | None = None
