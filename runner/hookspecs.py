"""The hooks soar-runner calls on plugins.

A plugin is a module (or object) with functions decorated by :data:`hookimpl`, named like the
specifications below. Third-party plugins are found through the ``soar.plugins`` entry-point
group; built-in ones (``core.*``) go through the same path (see ``runner.plugins``).

Hook implementations are synchronous: an ``async def`` hookimpl would return an un-awaited
coroutine. Make the *action function* async instead.

Observer hooks (``soar_run_*``, ``soar_step_*``) are called by the engine in the event loop
thread; they must be quick and must not raise (an exception is logged and ignored, so an
observer can never fail a run). Their arguments are read-only snapshots with secrets masked.
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("soar")
hookimpl = pluggy.HookimplMarker("soar")


@hookspec
def register_actions(register):
    """Register actions.

    :param register: call ``register(action)`` once per :class:`runner.Action`. The core
        validates each declaration and rejects a duplicate name with an error naming both
        plugins.

    Called once, when plugins are loaded. Added in 0.1.
    """


@hookspec
def register_filters(register):
    """Register expression filters usable in ``${{ value | name(args) }}``.

    :param register: call ``register(name, function)``; ``function(value, *args)`` must be a
        pure function of plain data (it runs inside the expression sandbox). A name already
        taken raises a :class:`runner.errors.PluginError`.

    Called once, when plugins are loaded. Added in 0.1.
    """


@hookspec
def soar_run_started(run):
    """A run (or a tenant's child run) started or resumed.

    :param run: a :class:`runner.engine.events.RunInfo` snapshot — ``run_id``, ``playbook``,
        ``tenant``, ``parent_id``, ``dry_run``, ``status``.

    Added in 0.1.
    """


@hookspec
def soar_run_finished(run):
    """A run reached a final or waiting state.

    :param run: a :class:`runner.engine.events.RunInfo`; ``status`` is ``succeeded``,
        ``failed``, ``cancelled`` or ``waiting_approval``; ``error`` is the message of a failure.

    Added in 0.1.
    """


@hookspec
def soar_step_started(run, step):
    """An attempt of a step (or of one ``foreach`` item) is about to run its action.

    :param run: the :class:`~runner.engine.events.RunInfo` of the run.
    :param step: a :class:`runner.engine.events.StepInfo` — ``step_id``, ``action``, ``item``
        (index in a foreach, else ``None``), ``attempt`` (1-based), ``status``.

    Added in 0.1.
    """


@hookspec
def soar_step_finished(run, step):
    """An attempt of a step (or of one ``foreach`` item) ended.

    :param run: the :class:`~runner.engine.events.RunInfo` of the run.
    :param step: a :class:`runner.engine.events.StepInfo` whose ``status`` is ``succeeded``,
        ``failed``, ``skipped`` or ``waiting_approval``, with ``duration`` in seconds and
        ``error`` (masked message) when it failed.

    Added in 0.1.
    """
