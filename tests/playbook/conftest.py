"""Fixtures for the playbook tests: a plugin host with fake Defender actions that record calls.

The fake actions have the same kind of input models as the real ones (required inputs,
Literal enums, bounded ints, durations), so the static checks can be exercised without the
Defender plugin's actions. A call to any of them is recorded in ``CALLS``: loading must never run
one. The fake plugin also registers the Defender poll sources (on a fake API) and the Defender
filters, which the good playbooks use.
"""

from __future__ import annotations

from typing import Any, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field, field_validator

from runner.actions import Action, AnyInputs
from runner.durations import parse_duration
from runner.hookspecs import hookimpl
from runner.plugin import ApiSpec, PollListing, PollSource
from runner.plugins import PluginHost

CALLS: list[tuple[str, Any]] = []


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ListIncidents(_In):
    status: Literal["Active", "Resolved", "Redirected"] | None = None
    updated_since: str | None = None
    top: int = Field(100, ge=1, le=10000)


class IsolateMachine(_In):
    machine_id: str
    comment: str
    isolation_type: Literal["Full", "Selective"] = "Full"


class UnisolateMachine(_In):
    machine_id: str
    comment: str = "released"


class WaitMachineAction(_In):
    action_id: str
    timeout: float = 600.0

    @field_validator("timeout", mode="before")
    @classmethod
    def _duration(cls, v: Any) -> float:
        return parse_duration(v)


class RunQuery(_In):
    query: str
    limit: int = Field(1000, ge=1)


def _recorder(name: str):
    async def run(ctx, inputs):
        CALLS.append((name, inputs))
        return {}

    return run


class FakeDefender:
    """A test plugin declaring defender.* actions (and one that takes any input)."""

    @hookimpl
    def register_actions(self, register):
        specs = [
            ("defender.list_incidents", ListIncidents, "read", None),
            ("defender.isolate_machine", IsolateMachine, "destructive", "defender.unisolate_machine"),
            ("defender.unisolate_machine", UnisolateMachine, "write", None),
            ("defender.wait_machine_action", WaitMachineAction, "read", None),
            ("defender.run_query", RunQuery, "read", None),
            ("defender.tag_anything", AnyInputs, "write", None),
        ]
        for name, model, effect, undo in specs:
            register(Action(name=name, summary=f"fake {name}", func=_recorder(name), input_model=model,
                            effect=effect, undo=undo))

    @hookimpl
    def register_filters(self, register):
        from soar_defender.filters import FILTERS

        register("risky", lambda devices: [d for d in devices if d.get("riskScore") == "High"])
        for name, function in FILTERS.items():
            register(name, function)

    @hookimpl
    def register_apis(self, register):
        register(ApiSpec(name="fake_defender", title="fake Defender", base_url="https://fake-defender.example"))

    @hookimpl
    def register_poll_sources(self, register):
        for name in ("defender.incidents", "defender.alerts"):
            register(PollSource(name=name, description=f"fake {name}", listings=(
                PollListing(api="fake_defender", path="/" + name.split(".")[1], time_field="lastUpdateTime",
                            id_field="id"),)))


@pytest.fixture(scope="session")
def host() -> PluginHost:
    return PluginHost(entry_points=False, extra=[FakeDefender()])


@pytest.fixture(scope="session")
def loader(host):
    from runner.playbook.loader import PlaybookLoader

    return PlaybookLoader(host)


@pytest.fixture
def calls():
    """The calls of fake actions during one test (must stay empty: loading runs nothing)."""
    CALLS.clear()
    yield CALLS


@pytest.fixture(scope="session")
def call_log():
    """Every call of a fake action in the session (for property tests, which share fixtures)."""
    return CALLS
