"""The plugin author's surface: everything a soar-runner plugin may import, and nothing else.

    from runner.plugin import Action, ActionContext, hookimpl, ApiSpec, EntraResource, ...

Names here are stable: a change is a breaking change of soar-runner (a test compares them with a
checked-in list). Everything else under ``runner`` is internal. Names load on first use, so
importing this module is cheap. See docs/plugins.md.
"""

from __future__ import annotations

from runner.lazy import lazy_exports

__all__ = [
    # actions
    "Action", "ActionContext", "AnyInputs", "Secret", "TenantInfo",
    # hooks
    "hookimpl", "RegisterAction", "RegisterApi", "RegisterFilter", "RegisterPollSource", "RegisterSecretScheme",
    "RegisterSimService", "RunInfo", "StepInfo",
    # registries
    "ApiSpec", "EntraResource", "ErrorBody", "PollListing", "PollSource", "SecretAuth", "SimService",
    # helpers
    "errors", "odata",
]

_WHERE = {
    "Action": "runner.actions", "AnyInputs": "runner.actions",
    "ActionContext": "runner.engine.context", "TenantInfo": "runner.engine.context",
    "Secret": "runner.secrets",
    "hookimpl": "runner.hookspecs", "RegisterAction": "runner.hookspecs", "RegisterApi": "runner.hookspecs",
    "RegisterFilter": "runner.hookspecs", "RegisterPollSource": "runner.hookspecs",
    "RegisterSecretScheme": "runner.hookspecs", "RegisterSimService": "runner.hookspecs",
    "RunInfo": "runner.engine.events", "StepInfo": "runner.engine.events",
    "ApiSpec": "runner.apis.spec", "EntraResource": "runner.apis.spec", "ErrorBody": "runner.apis.spec",
    "SecretAuth": "runner.apis.spec",
    "PollListing": "runner.serve.sources", "PollSource": "runner.serve.sources",
    "SimService": "runner.sim.services",
    "errors": "runner.errors", "odata": "runner.odata",
}

__getattr__, __dir__ = lazy_exports(__name__, __all__, _WHERE)
