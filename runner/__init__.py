"""soar-runner: run security automation playbooks against Microsoft Defender.

The public API — everything a plugin or an embedding program may use — is ``__all__``.
Names load on first use, so ``import runner`` (and ``soar --help``) stays fast.
"""

from __future__ import annotations

from runner.lazy import lazy_exports

__all__ = [
    "Action",
    "ActionContext",
    "AnyInputs",
    "Engine",
    "PluginHost",
    "Playbook",
    "PlaybookLoader",
    "RunResult",
    "RunStore",
    "Secret",
    "Services",
    "TenantInfo",
    "errors",
    "hookimpl",
    "ids",
    "load_plugins",
    "odata",
]

_WHERE = {
    "errors": "runner.errors",
    "ids": "runner.ids",
    "odata": "runner.odata",
    "Action": "runner.actions",
    "AnyInputs": "runner.actions",
    "ActionContext": "runner.engine.context",
    "Services": "runner.engine.context",
    "TenantInfo": "runner.engine.context",
    "Engine": "runner.engine.run",
    "RunResult": "runner.engine.run",
    "PluginHost": "runner.plugins",
    "load_plugins": "runner.plugins",
    "Playbook": "runner.playbook.model",
    "PlaybookLoader": "runner.playbook.loader",
    "RunStore": "runner.store",
    "Secret": "runner.secrets",
    "hookimpl": "runner.hookspecs",
}


__getattr__, __dir__ = lazy_exports(__name__, __all__, _WHERE)
