"""Playbooks: YAML → typed model with located errors, static checks, and the JSON Schema.

Names load on first use, so importing :mod:`runner.playbook.model` alone stays cheap.
"""

from __future__ import annotations

from runner.lazy import lazy_exports

__all__ = ["Playbook", "Step", "PlaybookLoader", "load_playbook", "playbook_json_schema"]

_WHERE = {
    "Playbook": "runner.playbook.model",
    "Step": "runner.playbook.model",
    "PlaybookLoader": "runner.playbook.loader",
    "load_playbook": "runner.playbook.loader",
    "playbook_json_schema": "runner.playbook.schema",
}


__getattr__, __dir__ = lazy_exports(__name__, __all__, _WHERE)
