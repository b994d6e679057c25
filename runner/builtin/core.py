"""The built-in ``core.*`` actions, registered through the same hook as any plugin."""

from __future__ import annotations

import logging
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from runner.actions import Action, AnyInputs
from runner.durations import parse_duration
from runner.errors import ActionInputError, ConfigError, StepError
from runner.hookspecs import hookimpl
from runner.secrets import Secret, reveal, reveal_all

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


class HttpInput(_In):
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"] = "GET"
    url: str
    headers: dict[str, str | Secret] = Field(default_factory=dict)
    params: dict[str, Any] = Field(default_factory=dict)
    json_: Any = Field(None, alias="json")
    auth: str | None = Field(None, description="Token provider: mde | xdr | graph (a token for the run's tenant)")
    timeout: float = 30.0
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class HttpOutput(BaseModel):
    status: int
    headers: dict[str, str]
    json_: Any = Field(None, alias="json")
    text: str
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


async def core_http_request(ctx, inputs: HttpInput) -> HttpOutput:
    """Make one HTTP request through the run's network (real, or the simulated cloud)."""
    headers = {k: reveal(v) for k, v in inputs.headers.items()}
    for name, value in headers.items():
        if not value.isascii():  # httpx would raise a bare UnicodeEncodeError (a "plugin bug")
            raise ActionInputError(f"header '{name}' holds a non-ASCII character, which an HTTP header cannot carry",
                                   hint="percent-encode the value, or send it in `json` or `params`")
    if inputs.auth:
        token = await ctx.token(inputs.auth)
        headers["Authorization"] = token.authorization_header().reveal()
    network = ctx.services.network
    if network is None:
        raise ConfigError("no network is configured for core.http_request")
    client = await network.pooled_async_client()  # one pool per run's loop: no connection per call
    # a secret goes on the wire as its value wherever it is (query, nested JSON); the step's
    # recorded inputs keep the Secret, so they stay masked (docs/engine.md, "Secrets")
    resp = await client.request(inputs.method, inputs.url, headers=headers, params=reveal_all(inputs.params) or None,
                                json=reveal_all(inputs.json_), timeout=inputs.timeout)
    try:
        body = resp.json()
    except ValueError:
        body = None
    return HttpOutput(status=resp.status_code, headers=dict(resp.headers), json=body, text=resp.text)


class PlaybookInput(_In):
    playbook: str = Field(description="A playbook name or a relative .yaml/.yml path, inside the playbook "
                                      "directory (nested at most 8 levels; no cycles)")
    inputs: dict[str, Any] = Field(default_factory=dict)


async def core_playbook(ctx, inputs: PlaybookInput) -> Any:
    """Run another playbook on this run's tenant; its ``outputs`` become this step's output."""
    return await ctx.run_playbook(inputs.playbook, inputs.inputs)


@hookimpl
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
                    effect_of=lambda i: "read" if i.method in ("GET", "HEAD") else "write"))
    register(Action(name="core.playbook", summary="Run a sub-playbook", func=core_playbook,
                    input_model=PlaybookInput, needs_tenant=False))
