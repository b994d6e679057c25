"""Playbooks: YAML → typed model with located errors, static checks, and the JSON Schema.

Names load on first use, so importing :mod:`runner.playbook.model` alone stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["Playbook", "Step", "PlaybookLoader", "load_playbook", "playbook_json_schema"]

_WHERE = {
    "Playbook": "runner.playbook.model",
    "Step": "runner.playbook.model",
    "PlaybookLoader": "runner.playbook.loader",
    "load_playbook": "runner.playbook.loader",
    "playbook_json_schema": "runner.playbook.schema",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'runner.playbook' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
