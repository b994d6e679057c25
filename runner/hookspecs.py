"""The hooks soar-runner calls on plugins.

A plugin is a module (or object) with functions decorated by :data:`hookimpl`, named like the
specifications below. Third-party plugins are found through the ``soar.plugins`` entry-point
group; built-in ones (``core.*``) go through the same path (see ``runner.plugins``).

Every hook is called through pluggy, so the usual pluggy options apply to an implementation:

- ``@hookimpl(tryfirst=True)`` / ``@hookimpl(trylast=True)`` move it to the front or the back of
  the plain implementations (otherwise the plugin registered last is called first);
- ``@hookimpl(wrapper=True)`` (a generator that ``yield``\\ s once and returns the result) or the
  older ``@hookimpl(hookwrapper=True)`` runs around all plain implementations.

No hook is ``firstresult``: every hook either registers through a callback or observes, so
every implementation is called and return values are ignored.

Hook implementations are synchronous: an ``async def`` hookimpl would return an un-awaited
coroutine. Make the *action function* async instead.

Observer hooks (``soar_run_*``, ``soar_step_*``, ``soar_approval_requested``) are called by the engine in the event loop
thread; they must be quick and must not raise (an exception is logged and ignored, and the
other observers are still called, so an observer can never fail a run). Their arguments are
read-only snapshots with secrets masked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import pluggy

if TYPE_CHECKING:
    from runner.actions import Action
    from runner.apis.spec import ApiSpec
    from runner.engine.events import ApprovalInfo, RunInfo, StepInfo
    from runner.serve.sources import PollSource
    from runner.sim.services import SimService

__all__ = ["hookspec", "hookimpl", "RegisterAction", "RegisterApi", "RegisterFilter", "RegisterPollSource",
           "RegisterSecretScheme", "RegisterSimService"]

hookspec = pluggy.HookspecMarker("soar")
hookimpl = pluggy.HookimplMarker("soar")

#: The ``register`` callback of :func:`register_actions`: ``register(action)``.
RegisterAction = Callable[["Action"], None]
#: The ``register`` callback of :func:`register_filters`: ``register(name, function)``.
RegisterFilter = Callable[[str, Callable[..., Any]], None]
#: The ``register`` callback of :func:`register_apis`: ``register(spec)``.
RegisterApi = Callable[["ApiSpec"], None]
#: The ``register`` callback of :func:`register_poll_sources`: ``register(source)``.
RegisterPollSource = Callable[["PollSource"], None]
#: The ``register`` callback of :func:`register_secret_schemes`: ``register(scheme, resolve)``.
RegisterSecretScheme = Callable[[str, Callable[[str], str]], None]
#: The ``register`` callback of :func:`register_sim_services`: ``register(service)``.
RegisterSimService = Callable[["SimService"], None]


@hookspec
def register_actions(register: RegisterAction) -> None:
    """Register actions.

    Called once per process, when the plugins are loaded (the first command that needs actions,
    or a :class:`runner.PluginHost` built by an embedder or a test).

    :param register: call ``register(action)`` once per :class:`runner.plugin.Action`. The core
        validates each declaration and rejects a duplicate name with a
        :class:`runner.errors.PluginError` naming both plugins (built-in ``core.*`` actions
        register first).
    :return: nothing; the return value is ignored.

    Added in 0.1.
    """


@hookspec
def register_filters(register: RegisterFilter) -> None:
    """Register expression filters usable in ``${{ value | name(args) }}``.

    Called once per process, when the plugins are loaded, after :func:`register_actions`.

    :param register: call ``register(name, function)``; ``function(value, *args)`` must be a
        pure function of plain data (it runs inside the expression sandbox). A name already
        taken, or a function that is not callable, raises a :class:`runner.errors.PluginError`.
    :return: nothing; the return value is ignored.

    Added in 0.1.
    """


@hookspec
def register_apis(register: RegisterApi) -> None:
    """Register the APIs the plugin's actions and poll sources call.

    Called once per process, when the plugins are loaded, before :func:`register_actions`.

    :param register: call ``register(spec)`` with a :class:`runner.plugin.ApiSpec` per API: its
        name, base URL per cloud (and region), how it authenticates (an Entra ID resource whose
        token claim carries the permissions, or an API key / bearer / basic secret), its default
        quota buckets and how its error bodies read. The token provider, quotas, retries,
        polling and pre-flight role checks then work for it like for any other API. A name
        already registered raises a :class:`runner.errors.PluginError` naming both plugins.
    :return: nothing; the return value is ignored.

    Added in 0.2.
    """


@hookspec
def register_poll_sources(register: RegisterPollSource) -> None:
    """Register poll sources (``on: poll: {source: <name>}`` in a playbook).

    Called once per process, when the plugins are loaded, after :func:`register_apis`.

    :param register: call ``register(source)`` with a :class:`runner.plugin.PollSource`: its
        name, and per API the path, time and id fields, roles and normalizer. A name already
        taken, or a listing on an API nobody registered, raises a
        :class:`runner.errors.PluginError`.
    :return: nothing; the return value is ignored.

    Added in 0.2.
    """


@hookspec
def register_secret_schemes(register: RegisterSecretScheme) -> None:
    """Register secret reference schemes (``<scheme>:<rest>`` in soar.yaml and ``secrets:``).

    Called once per process, when the plugins are loaded. ``env:`` and ``file:`` are built in.

    :param register: call ``register(scheme, resolve)``; ``resolve(rest)`` returns the secret's
        value as text, or raises :class:`runner.errors.SecretError` with a hint (never with the
        value in the message). A scheme already taken raises a :class:`runner.errors.PluginError`.
    :return: nothing; the return value is ignored.

    Added in 0.2.
    """


@hookspec
def register_sim_services(register: RegisterSimService) -> None:
    """Register simulated services, mounted on hosts of the simulated cloud.

    Called when a simulated cloud is first built in the process (``--simulate``, ``soar demo``,
    ``soar sim serve``, the testing kit) — not on every start-up.

    :param register: call ``register(service)`` with a :class:`runner.plugin.SimService`: its
        name, the hosts it serves, a ``build(cloud, options)`` factory, and the roles simulated
        tenants grant the demo app. A host another service serves raises a
        :class:`runner.errors.PluginError`.
    :return: nothing; the return value is ignored.

    Added in 0.2.
    """


@hookspec
def soar_run_started(run: RunInfo) -> None:
    """A run (or a tenant's child run) started or resumed.

    Called by the engine, in the event loop thread, before the run's first step.

    :param run: a :class:`runner.plugin.RunInfo` snapshot — ``run_id``, ``playbook``,
        ``tenant``, ``parent_id``, ``dry_run``, ``status``.
    :return: nothing; the return value is ignored.

    Added in 0.1.
    """


@hookspec
def soar_run_finished(run: RunInfo) -> None:
    """A run reached a final or waiting state.

    Called by the engine, in the event loop thread, once per run: for a run over several
    tenants, once per tenant run and then once for their parent (``tenant`` and ``parent_id``
    ``None``, ``error`` naming each failed tenant).

    :param run: a :class:`runner.plugin.RunInfo`; ``status`` is ``succeeded``,
        ``failed``, ``cancelled`` or ``waiting_approval``; ``error`` is the message of a failure.
    :return: nothing; the return value is ignored.

    Added in 0.1.
    """


@hookspec
def soar_step_started(run: RunInfo, step: StepInfo) -> None:
    """An attempt of a step (or of one ``foreach`` item) is about to run its action.

    Called by the engine, in the event loop thread, once per attempt (retries call it again).

    :param run: the :class:`~runner.plugin.RunInfo` of the run.
    :param step: a :class:`runner.plugin.StepInfo` — ``step_id``, ``action``, ``item``
        (index in a foreach, else ``None``), ``attempt`` (1-based), ``status``.
    :return: nothing; the return value is ignored.

    Added in 0.1.
    """


@hookspec
def soar_step_finished(run: RunInfo, step: StepInfo) -> None:
    """An attempt of a step (or of one ``foreach`` item) ended.

    Called by the engine, in the event loop thread, once per attempt.

    :param run: the :class:`~runner.plugin.RunInfo` of the run.
    :param step: a :class:`runner.plugin.StepInfo` whose ``status`` is ``succeeded``,
        ``failed``, ``skipped`` or ``waiting_approval``, with ``duration`` in seconds and
        ``error`` (masked message) when it failed.
    :return: nothing; the return value is ignored.

    Added in 0.1.
    """


@hookspec
def soar_approval_requested(run: RunInfo, approval: ApprovalInfo) -> None:
    """A step stopped at an approval gate that was not open before: a person must decide.

    Called by the engine, in the event loop thread, once per gate, right after the gate is
    recorded in the run store and before the run pauses (``soar_run_finished`` then follows with
    ``status == "waiting_approval"``). Not called for a gate passed by ``--auto-approve``, nor
    again when a resumed run finds its gate still pending. Like every observer it must be quick
    (hand slow work, such as sending a message, to a thread) and must not raise.

    :param run: the :class:`~runner.plugin.RunInfo` of the run (or tenant run) that waits;
        ``status`` is ``waiting_approval``.
    :param approval: a :class:`runner.plugin.ApprovalInfo` — ``run_id``, ``step_id``,
        ``playbook``, ``tenant``, the rendered ``message`` and ``step_name`` (masked),
        ``approvers`` (empty: anyone may decide), ``plan`` (what approving lets the step do) and
        ``requested_at`` / ``expires_at``.
    :return: nothing; the return value is ignored.

    Added in 0.3.
    """
