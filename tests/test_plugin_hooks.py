"""Each hook, exercised by a plugin the way a third party would write it."""

from __future__ import annotations

import types

import pytest

from runner.errors import PluginError
from runner.hookspecs import hookimpl
from runner.plugins import PluginHost


def test_observer_hooks_see_runs_and_steps_and_cannot_break_them():
    import asyncio

    from runner.engine.context import Services
    from runner.engine.run import Engine
    from runner.http import Network
    from runner.playbook.loader import PlaybookLoader
    from runner.store import RunStore

    seen = []

    class Observer:
        @hookimpl
        def soar_run_started(self, run):
            seen.append(("run_started", run.playbook, run.status))

        @hookimpl
        def soar_run_finished(self, run):
            seen.append(("run_finished", run.playbook, run.status))

        @hookimpl
        def soar_step_started(self, run, step):
            seen.append(("step_started", step.step_id, step.attempt))
            raise RuntimeError("observer bug must not fail the run")

        @hookimpl
        def soar_step_finished(self, run, step):
            seen.append(("step_finished", step.step_id, step.status))

    host = PluginHost(entry_points=False, extra=[Observer()])
    pb = PlaybookLoader(host).load_text("name: obs\nsteps:\n  - id: a\n    action: core.set\n    with: {x: 1}\n")
    store = RunStore.open("sqlite:///obs.db")
    try:
        result = asyncio.run(Engine(Services(plugins=host, store=store, network=Network())).start(pb))
    finally:
        store.close()
    assert result.status == "succeeded"
    assert seen == [("run_started", "obs", "running"), ("step_started", "a", 1),
                    ("step_finished", "a", "succeeded"), ("run_finished", "obs", "succeeded")]


def test_register_filters_hook_and_taken_name():
    mod = types.ModuleType("filters")

    @hookimpl
    def register_filters(register):
        register("shout", lambda v: str(v).upper())

    mod.register_filters = register_filters
    host = PluginHost(entry_points=False, extra=[mod])
    assert host.filters["shout"]("x") == "X"
    mod2 = types.ModuleType("filters2")

    @hookimpl
    def register_filters(register):  # noqa: F811
        register("shout", lambda v: v)

    mod2.register_filters = register_filters
    with pytest.raises(PluginError, match="already taken"):
        PluginHost(entry_points=False, extra=[mod, mod2])
