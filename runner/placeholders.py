"""Dry-run placeholders: the output a write step would have given, had it run.

Under ``--dry-run`` a write or destructive step is not run, yet later steps may read its output
(``${{ steps.post.output.status >= 300 }}``). Such a step gets a *typed placeholder* built from
its action's output model, so those expressions still evaluate:

- text → ``"<dry-run: steps.post.output.text>"`` (it names where it comes from), a number → ``0``,
  ``true``/``false`` → ``false``, a list → ``[]``, a literal or enum → its first value, a nested
  model → a mapping of placeholders, a ``null``-able field → the placeholder of its type;
- a mapping, a field typed ``Any``, or an action that declares no output model → an empty
  mapping whose every key is a text placeholder (``steps.x.output.id`` →
  ``"<dry-run: steps.x.output.id>"``); it has no items and is false.

Placeholders are marked (subclasses of ``str``, ``int``, ``float``, ``list``, ``dict``), so the
engine can say which inputs of a later step hold one (:func:`placeholder_paths`); text made by
interpolating a placeholder still contains its ``<dry-run: …>`` marker. ``false`` cannot be
marked, and neither can the result of arithmetic on a placeholder.
"""

from __future__ import annotations

import datetime as _dt
import enum
import types
import typing
from typing import Any

from pydantic import BaseModel

MARK = "<dry-run: "
_MAX_DEPTH = 8  # nested models deeper than this (or recursive ones) become a PlaceholderMap


class Placeholder:
    """Mixin of every placeholder type."""

    __slots__ = ()


class PlaceholderText(Placeholder, str):
    __slots__ = ()


class PlaceholderInt(Placeholder, int):
    __slots__ = ()


class PlaceholderFloat(Placeholder, float):
    __slots__ = ()


class PlaceholderList(Placeholder, list):
    __slots__ = ()


class PlaceholderMap(Placeholder, dict):
    """An empty mapping that answers any key with a text placeholder naming it."""

    __slots__ = ("origin",)

    def __init__(self, origin: str):
        super().__init__()
        self.origin = origin

    def __missing__(self, key: Any) -> PlaceholderText:
        return text(f"{self.origin}.{key}" if isinstance(key, str) else f"{self.origin}[{key!r}]")

    def get(self, key: Any, default: Any = None) -> Any:
        return self[key]

    def __str__(self) -> str:
        return f"{MARK}{self.origin}>"

    def __repr__(self) -> str:
        return str(self)


def text(origin: str) -> PlaceholderText:
    return PlaceholderText(f"{MARK}{origin}>")


def for_output(model: type[BaseModel] | None, origin: str) -> Any:
    """The placeholder output of an action whose output model is ``model`` (``None``: no model);
    ``origin`` is where it is read, e.g. ``steps.post.output``."""
    if model is None:
        return PlaceholderMap(origin)
    return _for_type(model, origin, 0)


def _for_model(model: type[BaseModel], origin: str, depth: int) -> Any:
    if depth >= _MAX_DEPTH:
        return PlaceholderMap(origin)
    out = {}
    for name, info in model.model_fields.items():
        key = info.serialization_alias or info.alias or name
        out[key] = _for_type(info.annotation, f"{origin}.{key}", depth + 1)
    return out


def _for_type(tp: Any, origin: str, depth: int) -> Any:
    origin_type = typing.get_origin(tp)
    if origin_type is typing.Annotated:
        return _for_type(typing.get_args(tp)[0], origin, depth)
    if origin_type in (typing.Union, types.UnionType):
        arms = [a for a in typing.get_args(tp) if a is not type(None)]
        return _for_type(arms[0], origin, depth) if arms else None
    if origin_type is typing.Literal:
        first = typing.get_args(tp)[0]
        return PlaceholderText(first) if isinstance(first, str) else first
    if tp is bool:
        return False
    if isinstance(tp, type):
        if issubclass(tp, BaseModel):
            return _for_model(tp, origin, depth)
        if issubclass(tp, enum.Enum):
            first = next(iter(tp), None)
            value = first.value if first is not None else None
            return PlaceholderText(value) if isinstance(value, str) else value
        if issubclass(tp, bool):
            return False
        if issubclass(tp, int):
            return PlaceholderInt(0)
        if issubclass(tp, float):
            return PlaceholderFloat(0.0)
        if issubclass(tp, (str, _dt.date, _dt.time, _dt.timedelta)):
            return text(origin)
    container = origin_type or tp
    if container in (list, tuple, set, frozenset) or container in (typing.List, typing.Sequence) or \
            (isinstance(container, type) and container.__module__ == "collections.abc"
             and container.__name__ in ("Sequence", "Iterable", "Set")):
        return PlaceholderList()
    return PlaceholderMap(origin)  # a mapping, Any, or a type of its own


def placeholder_paths(value: Any, path: str = "") -> list[str]:
    """Where ``value`` (an action's resolved inputs) holds a placeholder, as dotted paths
    (``comment``, ``json.id``, ``machines[0]``)."""
    found: list[str] = []
    _walk(value, path, found)
    return found


def _walk(value: Any, path: str, found: list[str]) -> None:
    if isinstance(value, Placeholder):
        found.append(path or "(the value)")
    elif isinstance(value, str):
        if MARK in value:
            found.append(path or "(the value)")
    elif isinstance(value, dict):
        for k, v in value.items():
            _walk(v, f"{path}.{k}" if path else str(k), found)
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _walk(v, f"{path}[{i}]", found)
