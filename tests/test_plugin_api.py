"""The plugin API: documented hooks, each one exercised; a public API that is exactly __all__;
bad declarations rejected with the plugin's name."""

from __future__ import annotations

import inspect
import re
import types
from pathlib import Path

import pytest
from pydantic import BaseModel

import runner
from runner import hookspecs
from runner.actions import Action
from runner.errors import PluginError
from runner.hookspecs import hookimpl
from runner.plugins import PluginHost

HOOKS = [n for n, f in vars(hookspecs).items() if inspect.isfunction(f) and hasattr(f, "soar_spec")]
TESTS = Path(__file__).parent


def test_there_are_hooks():
    assert {"register_actions", "register_filters", "soar_run_started", "soar_run_finished",
            "soar_step_started", "soar_step_finished"} <= set(HOOKS)


@pytest.mark.parametrize("name", HOOKS)
def test_every_hook_is_documented(name):
    doc = inspect.getdoc(getattr(hookspecs, name)) or ""
    assert len(doc) > 60, f"hook {name} needs a docstring"
    for param in inspect.signature(getattr(hookspecs, name)).parameters:
        assert f":param {param}:" in doc, f"hook {name} does not document parameter {param}"
    assert "Added in" in doc
    plugin_doc = (TESTS.parent / "docs" / "plugins.md")
    if plugin_doc.exists():
        assert name in plugin_doc.read_text(), f"docs/plugins.md does not mention hook {name}"


@pytest.mark.parametrize("name", HOOKS)
def test_every_hook_has_a_test(name):
    """A hook is 'tested' when some test module other than this one implements it."""
    pattern = re.compile(rf"def {name}\(")
    users = [p for p in TESTS.rglob("test_*.py") if p.name != "test_plugin_api.py" and pattern.search(p.read_text())]
    users += [p for p in TESTS.rglob("*plugin*.py") if p.name != "test_plugin_api.py" and pattern.search(p.read_text())]
    assert users, f"no test implements hook {name}"


def test_public_api_is_exactly_all():
    public = {n for n in dir(runner) if not n.startswith("_")}
    assert public == set(runner.__all__)
    for name in runner.__all__:
        assert getattr(runner, name) is not None


async def _noop(ctx, inputs):
    return None


class _In(BaseModel):
    x: int = 0


def _plugin(*actions):
    mod = types.ModuleType("badplugin")

    @hookimpl
    def register_actions(register):
        for a in actions:
            register(a)

    mod.register_actions = register_actions
    return mod


@pytest.mark.parametrize("kwargs, message", [
    ({"name": "NoDot"}, "must look like 'plugin.verb_noun'"),
    ({"summary": ""}, "summary is empty"),
    ({"func": lambda c, i: None}, "`async def`"),
    ({"input_model": dict}, "input_model must be a pydantic"),
    ({"effect": "explode"}, "effect 'explode'"),
    ({"roles": {"mde": "Machine.Isolate"}}, "roles must map"),
    ({"undo": "bad name"}, "undo 'bad name'"),
])
def test_bad_declaration_names_the_plugin(kwargs, message):
    base = dict(name="bad.thing", summary="s", func=_noop, input_model=_In)
    with pytest.raises(PluginError) as err:
        PluginHost(entry_points=False, extra=[_plugin(Action(**{**base, **kwargs}))])
    assert "plugin 'badplugin'" in str(err.value)
    assert message in str(err.value)


def test_duplicate_action_names_both_plugins():
    with pytest.raises(PluginError, match="registered twice: by plugin 'runner.builtin.core' and by plugin 'badplugin'"):
        PluginHost(entry_points=False, extra=[_plugin(Action(name="core.set", summary="s", func=_noop))])


def test_undo_must_exist():
    with pytest.raises(PluginError, match="names undo action 'bad.undo_it'"):
        PluginHost(entry_points=False, extra=[_plugin(Action(name="bad.do_it", summary="s", func=_noop,
                                                            effect="destructive", undo="bad.undo_it"))])


def test_misspelled_hook_fails_at_load():
    mod = types.ModuleType("typo")

    @hookimpl
    def register_action(register):  # missing the s
        pass

    mod.register_action = register_action
    with pytest.raises(PluginError, match="unknown hook"):
        PluginHost(entry_points=False, extra=[mod])
