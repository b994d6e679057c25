"""Read-only snapshots handed to observer hooks and to the CLI's progress view."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


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


@dataclass(frozen=True)
class ApprovalInfo:
    """An approval gate that was just opened: what :func:`runner.hookspecs.soar_approval_requested`
    receives. ``message`` and ``step_name`` are rendered and masked as the run store keeps them;
    ``plan`` is the gated step's dry-run plan (``{"action", "effect", "items": [...], ...}``, inputs
    masked) or ``None``; ``approvers`` is empty when anyone may decide."""

    run_id: str
    step_id: str
    playbook: str | None
    tenant: str | None
    message: str
    step_name: str | None = None
    approvers: tuple[str, ...] = ()
    plan: Any = None
    requested_at: datetime | None = None
    expires_at: datetime | None = None
