"""soar-runner: run security automation playbooks against Microsoft Defender.

The public API — everything a plugin or an embedding program may use — is ``__all__``.
Names load on first use, so ``import runner`` (and ``soar --help``) stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

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
    "load_plugins",
]

_WHERE = {
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


def __getattr__(name: str) -> Any:
    if name == "errors":
        return importlib.import_module("runner.errors")
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'runner' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
