"""YAML → plain Python values, keeping the 1-based (line, column) of every node.

Why not ``yaml.safe_load``: it forgets where things were, silently keeps the last of two
duplicate keys, expands aliases without limit ("billion laughs"), and reads ``on:``/``yes``/
``no`` as booleans (YAML 1.1), which breaks the ``on:`` trigger key. Why not ``yaml.compose``:
its composer is recursive — the pure-Python one raises ``RecursionError`` at ~1,000 nesting
levels and libyaml's crashes the process at ~100,000 — and building its node objects, then
values from them, is the slow part of loading a big playbook. So this module builds values
and positions in one pass over the parser's event stream (libyaml's when available), with
the nesting depth and the alias expansion capped as the events come.

Scalars follow the YAML 1.2 core schema: only ``true``/``false`` are booleans, ``on``/``yes``/
``no``/``off`` are strings, ``0755`` is the integer 755, dates and times stay strings, and
``1:30`` is a string (not sexagesimal 90). Anchors, aliases and merge keys (``<<: *defaults``)
work; an alias expands to an independent copy.

:func:`parse_yaml` returns ``(value, positions, value_positions)`` where the position maps go
from a path tuple (mapping keys and list indexes, e.g. ``("steps", 1, "with", "machine_id")``)
to ``(line, column)``. For a mapping entry, ``positions`` holds where the *key* is (what a
user looks for) and ``value_positions`` where the value starts; ``()`` is the document. Errors
are :class:`~runner.errors.PlaybookSyntaxError` with the file, line and column.
"""

from __future__ import annotations

import gc
from typing import Any

import yaml

from runner.errors import Location, PlaybookSyntaxError
from runner.playbook.yamlbuild import MAX_ALIAS_NODES, MAX_DEPTH, Builder, Positions
from runner.playbook.yamlerrors import depth_capped, precise_error, syntax_error

__all__ = ["MAX_ALIAS_NODES", "MAX_DEPTH", "Positions", "parse_mapping", "parse_yaml"]

_FastLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_yaml(text: str, source: str | None = None) -> tuple[Any, Positions, Positions]:
    """Parse one YAML document. Returns ``(value, positions, value_positions)``.

    Raises :class:`PlaybookSyntaxError` for malformed YAML, duplicate keys, several
    documents, unsupported tags, or aliases that expand too far. An empty document is ``None``."""
    with _no_gc():
        return _load(text, source) or (None, {}, {})


def parse_mapping(text: str, source: str | None = None, what: str = "a playbook") -> tuple[dict, Positions, Positions]:
    """Like :func:`parse_yaml` but the document must be a mapping (an empty file is an error)."""
    with _no_gc():
        result = _load(text, source)
    if result is None:
        raise PlaybookSyntaxError(
            "the file is empty", where=Location(file=source, line=1, column=1),
            hint=f"{what} is a mapping with at least `name:` and `steps:`")
    value, positions, _ = result
    if not isinstance(value, dict):
        kind = "a list" if isinstance(value, list) else f"a single value ({value!r:.40})"
        line, col = positions[()]
        raise PlaybookSyntaxError(
            f"{what} must be a mapping of keys (name:, steps:, ...), found {kind}",
            where=Location(file=source, line=line, column=col),
            hint="start the file with `name: my-playbook` (no leading `-`)")
    return result


class _no_gc:
    """Pause the cyclic GC: building ~10^5 long-lived objects otherwise triggers it over and
    over for nothing (it doubled the time of a 10,000-step playbook)."""

    def __enter__(self) -> None:
        self.was_enabled = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc: Any) -> None:
        if self.was_enabled:
            gc.enable()


def _load(text: str, source: str | None) -> tuple[Any, Positions, Positions] | None:
    if not isinstance(text, str):
        raise TypeError("parse_yaml() takes text (str)")
    try:
        loader = _FastLoader(text)
    except yaml.YAMLError as exc:
        raise syntax_error(exc, text, source) from None
    try:
        return Builder(loader, source).run()
    except yaml.YAMLError as exc:
        if depth_capped(exc):  # ours to say; re-parsing in pure Python for a better message takes minutes
            raise syntax_error(exc, text, source) from None
        raise syntax_error(precise_error(text) or exc, text, source) from None
    finally:
        loader.dispose()
