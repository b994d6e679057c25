"""soar-runner: run security automation playbooks across tenants.

Two public surfaces:

- **Embedding** — ``__all__`` here: load playbooks and plugins, build the services and run the
  engine from another program (``PlaybookLoader``, ``Engine``, ``Services``, ``RunStore``...).
- **Plugins** — :mod:`runner.plugin`: everything a plugin may import (actions, hooks, API and
  poll-source records, simulated services, errors, the testing kit).

Everything else under ``runner`` is internal. Names load on first use, so ``import runner``
(and ``soar --help``) stays fast.

Backwards names: ``Action``, ``ActionContext``, ``AnyInputs``, ``Secret``, ``TenantInfo``,
``hookimpl``, ``ids`` and ``odata`` were importable from here before :mod:`runner.plugin`
existed. They still resolve (``from runner import Action``), but are not part of ``__all__``:
new code imports them from :mod:`runner.plugin`.
"""

from __future__ import annotations

from runner.lazy import lazy_exports

__all__ = [
    "Engine",
    "PluginHost",
    "Playbook",
    "PlaybookLoader",
    "RunResult",
    "RunStore",
    "Services",
    "errors",
    "load_plugins",
]

_WHERE = {
    "errors": "runner.errors",
    "Services": "runner.engine.context",
    "Engine": "runner.engine.run",
    "RunResult": "runner.engine.run",
    "PluginHost": "runner.plugins",
    "load_plugins": "runner.plugins",
    "Playbook": "runner.playbook.model",
    "PlaybookLoader": "runner.playbook.loader",
    "RunStore": "runner.store",
    # backwards names (see the module docstring): resolvable, not in __all__
    "Action": "runner.actions",
    "AnyInputs": "runner.actions",
    "ActionContext": "runner.engine.context",
    "TenantInfo": "runner.engine.context",
    "Secret": "runner.secrets",
    "hookimpl": "runner.hookspecs",
    "ids": "runner.ids",
    "odata": "runner.odata",
}


__getattr__, __dir__ = lazy_exports(__name__, __all__, _WHERE)
