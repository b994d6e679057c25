"""The built-in ``core.*`` actions, registered through the same hook as any plugin."""

from __future__ import annotations

import logging
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from runner.actions import Action, AnyInputs
from runner.builtin.http_request import HttpInput, HttpOutput, core_http_request  # noqa: F401 - importable here
from runner.durations import parse_duration
from runner.errors import StepError
from runner.hookspecs import hookimpl

log = logging.getLogger("soar.core")


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


async def core_set(ctx, inputs: AnyInputs) -> dict:
    """Return the given mapping, with its expressions resolved (to name values for later steps)."""
    return dict(inputs.model_extra or {})


class LogInput(_In):
    message: Any = Field(description="What to log (any value; secrets show as ***)")
    level: Literal["debug", "info", "warning", "error"] = "info"


async def core_log(ctx, inputs: LogInput) -> None:
    """Write a line to the run's log (and the audit trail)."""
    from runner.logfmt import PLAYBOOK_LINE

    level = getattr(logging, inputs.level.upper())
    ctx.log.log(level, "%s", inputs.message, extra={PLAYBOOK_LINE: True})  # shown without -v
    return None


class FailInput(_In):
    message: str = "failed by core.fail"


async def core_fail(ctx, inputs: FailInput) -> None:
    """Fail the step with ``message`` (use with ``when`` to stop a run on a condition)."""
    err = StepError(inputs.message)
    err.retryable = False
    raise err


class SleepInput(_In):
    duration: float = Field(description="How long: 500ms, 2s, 1m")

    @field_validator("duration", mode="before")
    @classmethod
    def _d(cls, v: Any) -> float:
        return parse_duration(v)


async def core_sleep(ctx, inputs: SleepInput) -> None:
    """Wait for ``duration``."""
    import asyncio  # here, not at import: `soar validate` never needs it (start-up)

    await asyncio.sleep(inputs.duration)
    return None


class PlaybookInput(_In):
    playbook: str = Field(description="A playbook name or a relative .yaml/.yml path, inside the playbook "
                                      "directory (nested at most 8 levels; no cycles)")
    inputs: dict[str, Any] = Field(default_factory=dict)
    tenant: str | None = Field(None, min_length=1, description=(
        "Run it on this tenant (a name configured in soar.yaml; the sub-playbook's `tenants:` must "
        "allow it); default: this run's tenant"))


async def core_playbook(ctx, inputs: PlaybookInput) -> Any:
    """Run another playbook, on this run's tenant or on ``tenant``; its ``outputs`` become this
    step's output."""
    return await ctx.run_playbook(inputs.playbook, inputs.inputs, tenant=inputs.tenant)


@hookimpl(tryfirst=True)  # built-ins claim their names before any plugin
def register_actions(register):
    register(Action(name="core.set", summary="Name values for later steps", func=core_set,
                    input_model=AnyInputs, needs_tenant=False))
    register(Action(name="core.log", summary="Log a message", func=core_log,
                    input_model=LogInput, needs_tenant=False))
    register(Action(name="core.fail", summary="Fail the step with a message", func=core_fail,
                    input_model=FailInput, needs_tenant=False))
    register(Action(name="core.sleep", summary="Wait for a duration", func=core_sleep,
                    input_model=SleepInput, needs_tenant=False))
    register(Action(name="core.http_request", summary="Make an HTTP request", func=core_http_request,
                    input_model=HttpInput, output_model=HttpOutput, effect="write", needs_tenant=False,
                    effect_of=lambda i: "read" if i.method in ("GET", "HEAD", "OPTIONS") else "write"))
    register(Action(name="core.playbook", summary="Run a sub-playbook", func=core_playbook,
                    input_model=PlaybookInput, needs_tenant=False))


def resolve_sim(rest: str) -> str:
    """``sim:<id>``: the demo app's secret of the simulated cloud ``<id>`` in this process
    (``soar run --simulate``, ``soar demo``, the testing kit: their config names it)."""
    import sys

    cloud_module = sys.modules.get("runner.sim.cloud")  # no simulated cloud yet: nothing to import
    if cloud_module is None:
        from runner.errors import SecretError

        raise SecretError(f"secret reference 'sim:{rest}' names no simulated cloud in this process",
                          hint="`sim:` references only work with --simulate")
    return cloud_module.resolve_sim_secret(rest)


@hookimpl(tryfirst=True)
def register_secret_schemes(register):
    register("sim", resolve_sim)
