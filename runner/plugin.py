"""The plugin author's surface: everything a soar-runner plugin may import, and nothing else.

    from runner.plugin import Action, ActionContext, ApiSpec, SecretAuth, hookimpl, ...

What is here:

- actions — :class:`Action` (the declaration), :class:`ActionContext` (what an action gets:
  ``ctx.api(name)`` for a registered API, ``ctx.http()`` for any other host, ``ctx.log``,
  ``ctx.warn``), :class:`AnyInputs`, :class:`TenantInfo`, :class:`ApiClient` (what ``ctx.api``
  returns, for annotations), :class:`Secret` (also an input type: a key or a password);
- hooks — :data:`hookimpl`, the typed ``register`` callbacks (``RegisterAction``...) and the
  observer snapshots :class:`RunInfo` / :class:`StepInfo` / :class:`ApprovalInfo`;
- what the ``register_*`` hooks take — :class:`ApiSpec` with :class:`EntraResource` or
  :class:`SecretAuth`, :class:`ErrorBody` and :class:`QuotaReset`; :class:`PollSource` / :class:`PollListing`;
  :class:`SimService`;
- errors an action raises — :class:`StepError` and its subclasses (``ActionInputError``,
  ``InvalidValue``, ``ApiError``, ``TransientApiError``, ``RateLimited``, ``AuthError``,
  ``PermissionMissing``, ``UnservedHostError``), :class:`ConfigError` / :class:`SecretError`
  (a secret scheme's resolver raises the latter), and the whole :mod:`errors` module;
- id types for inputs — :func:`id_type` (text ids matching a pattern) and :func:`number_id`
  (integer ids), and the :mod:`ids` module they come from (``ids.Guid``, ``ids.check``);
- helpers — :mod:`odata` (typed ``$filter`` literals); :func:`choose_api` and
  :func:`tenant_preference` (which of several APIs serves a tenant: the step's choice, the
  tenant's ``apis.<key>`` in soar.yaml, else the first — the one rule actions, polling and
  pre-flight checks share); :func:`warn` (a step warning, e.g. from a filter that dropped items
  it could not use); :func:`parse_duration` (``30s``, ``5m``, ``1h``...); :class:`Location`
  (where an error happened: file, line, step, tenant);
- :mod:`testing` — the pytest fixtures (``soar_cloud``, ``soar_runner``, ``soar_action``...,
  registered by soar-runner's ``pytest11`` entry point, so a test only names them) and the
  classes behind them (``SoarRunner``, ``RunOutcome``).

Names here are stable: a change is a breaking change of soar-runner (``tests/
test_plugin_surface.py`` compares them, and the hook signatures, with a checked-in list).
Everything else under ``runner`` is internal and may change in any release. Names load on first
use, so importing this module is cheap. See docs/plugins.md.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

from runner.lazy import lazy_exports

__all__ = [
    # actions
    "Action", "ActionContext", "AnyInputs", "ApiClient", "Secret", "TenantInfo",
    # hooks
    "hookimpl", "RegisterAction", "RegisterApi", "RegisterFilter", "RegisterPollSource", "RegisterSecretScheme",
    "RegisterSimService", "RunInfo", "StepInfo", "ApprovalInfo",
    # what the register_* hooks take
    "ApiSpec", "EntraResource", "ErrorBody", "QuotaReset", "PollListing", "PollSource", "SecretAuth", "SimService",
    # errors an action (or a secret scheme) raises
    "ActionInputError", "ApiError", "AuthError", "ConfigError", "InvalidValue", "PermissionMissing",
    "RateLimited", "SecretError", "SoarError", "StepError", "TransientApiError", "UnservedHostError",
    # id types for inputs
    "id_type", "number_id",
    # helpers
    "Location", "choose_api", "parse_duration", "tenant_preference", "warn",
    # helper modules
    "errors", "ids", "odata", "testing",
]

_ERRORS = ("ActionInputError", "ApiError", "AuthError", "ConfigError", "InvalidValue", "PermissionMissing",
           "RateLimited", "SecretError", "SoarError", "StepError", "TransientApiError", "UnservedHostError")

_WHERE = {
    "Action": "runner.actions", "AnyInputs": "runner.actions",
    "ActionContext": "runner.engine.context", "TenantInfo": "runner.engine.context",
    "ApiClient": "runner.apis.client",
    "Secret": "runner.secrets",
    "hookimpl": "runner.hookspecs", "RegisterAction": "runner.hookspecs", "RegisterApi": "runner.hookspecs",
    "RegisterFilter": "runner.hookspecs", "RegisterPollSource": "runner.hookspecs",
    "RegisterSecretScheme": "runner.hookspecs", "RegisterSimService": "runner.hookspecs",
    "RunInfo": "runner.engine.events", "StepInfo": "runner.engine.events", "ApprovalInfo": "runner.engine.events",
    "ApiSpec": "runner.apis.spec", "EntraResource": "runner.apis.spec", "ErrorBody": "runner.apis.spec",
    "QuotaReset": "runner.apis.spec",
    "SecretAuth": "runner.apis.spec",
    "PollListing": "runner.serve.sources", "PollSource": "runner.serve.sources",
    "SimService": "runner.sim.services",
    **{name: "runner.errors" for name in _ERRORS},
    "id_type": "runner.ids", "number_id": "runner.ids",
    "Location": "runner.errors", "choose_api": "runner.apis.choice", "tenant_preference": "runner.apis.choice",
    "parse_duration": "runner.durations", "warn": "runner.notes",
}
# modules exported whole (lazy_exports exports a module only when it is the package's own child)
_MODULES = {"errors": "runner.errors", "ids": "runner.ids", "odata": "runner.odata", "testing": "runner.testing"}
_get, __dir__ = lazy_exports(__name__, __all__, _WHERE)


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        return _get(name)
    value = importlib.import_module(module)
    setattr(sys.modules[__name__], name, value)  # the next look-up is a plain attribute
    return value
