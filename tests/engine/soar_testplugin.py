"""Actions used by the engine tests (loaded with SOAR_PLUGINS=soar_testplugin).

``test.record`` is a *write* action against a fake external system — a file of lines — so a
test can see exactly what was sent, and how often. It reconciles after a crash by looking
for its marker in that file, as ``defender.isolate_machine`` looks up machine actions.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from pydantic import BaseModel

from runner import Action, Secret, hookimpl
from runner.errors import StepError


class RecordInput(BaseModel):
    marker: str
    delay: float = 0.0
    token: Secret | None = None


def _ledger() -> Path:
    return Path(os.environ.get("SOAR_TEST_LEDGER", "ledger.txt"))


async def record(ctx, inputs: RecordInput) -> dict:
    if inputs.delay:
        await asyncio.sleep(inputs.delay)
    with _ledger().open("a") as f:
        f.write(inputs.marker + "\n")
        f.flush()
        os.fsync(f.fileno())
    return {"marker": inputs.marker}


async def reconcile_record(ctx, inputs: RecordInput):
    path = _ledger()
    lines = path.read_text().splitlines() if path.exists() else []
    return {"marker": inputs.marker, "reconciled": True} if inputs.marker in lines else None


class FlakyInput(BaseModel):
    key: str
    fail_times: int = 1


_calls: dict[str, int] = {}


async def flaky(ctx, inputs: FlakyInput) -> dict:
    n = _calls.get(inputs.key, 0) + 1
    _calls[inputs.key] = n
    if n <= inputs.fail_times:
        raise StepError(f"transient failure {n} of {inputs.key}")
    return {"calls": n}


class EchoInput(BaseModel):
    value: object = None


async def echo_secret(ctx, inputs: EchoInput) -> dict:
    """Returns its input — used to check that secrets stay masked in outputs and history."""
    return {"value": inputs.value}


async def destroy(ctx, inputs: RecordInput) -> dict:
    return await record(ctx, inputs)


class DieInput(BaseModel):
    flag: str


async def die_once(ctx, inputs: DieInput) -> dict:
    """The process dies on the spot (as kill -9 would) the first time; later runs pass."""
    flag = Path(inputs.flag)
    if not flag.exists():
        flag.write_text("died")
        os._exit(137)
    return {"survived": True}


async def explode(ctx, inputs: EchoInput) -> dict:
    raise KeyError("an action bug")


@hookimpl
def register_actions(register):
    register(Action(name="test.record", summary="Append a marker to the ledger", func=record,
                    input_model=RecordInput, effect="write", needs_tenant=False, reconcile=reconcile_record))
    register(Action(name="test.record_blind", summary="Append a marker, no reconcile", func=record,
                    input_model=RecordInput, effect="write", needs_tenant=False))
    register(Action(name="test.flaky", summary="Fail N times, then succeed", func=flaky,
                    input_model=FlakyInput, needs_tenant=False))
    register(Action(name="test.echo", summary="Echo a value", func=echo_secret,
                    input_model=EchoInput, needs_tenant=False))
    register(Action(name="test.destroy", summary="A destructive write", func=destroy,
                    input_model=RecordInput, effect="destructive", needs_tenant=False))
    register(Action(name="test.die_once", summary="Kill the process the first time", func=die_once,
                    input_model=DieInput, needs_tenant=False))
    register(Action(name="test.explode", summary="An action with a bug", func=explode,
                    input_model=EchoInput, needs_tenant=False))
