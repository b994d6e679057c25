"""OData ``$filter`` text built from typed values, so a value can never become filter syntax.

A value from an input, a trigger or an API answer is data. Pasted into a filter as text,
``1900-01-01T00:00:00Z) or (createdTime ge 1900-01-01T00:00:00Z`` turns ``lastUpdateTime ge
...`` into a filter that matches everything. Here every value becomes a *literal of its type*:

- :func:`string` — ``'text'``, with ``'`` doubled (the only escape OData string literals have);
- :func:`datetime` — parsed (a :class:`datetime.datetime`, or ISO 8601 text) and written anew as
  ``YYYY-MM-DDTHH:MM:SSZ`` in UTC (``.fff`` with ``milliseconds=True``); anything that does not
  parse is refused;
- :func:`integer`, :func:`boolean`, :func:`guid`; :func:`enum` — a string literal, checked
  against the allowed values first.

and clauses are built from a field name and a value: :func:`eq`, :func:`ne`, :func:`gt`,
:func:`ge`, :func:`lt`, :func:`le`, :func:`any_eq` (``tags/any(v: v eq 'x')``),
:func:`startswith`; joined with :func:`all_of` / :func:`any_of` (``None`` parts are left out,
compound parts are parenthesised). A plain Python value given to a clause is made a literal by
its type (``str`` → :func:`string`, ``bool``, ``int``, ``datetime.datetime``).

Filter text a playbook *author* wrote (an action's ``filter:`` input, a poll trigger's
``filter:``) is trusted as the author's; it goes in through :func:`raw`, which only
parenthesises it. Values from triggers, webhooks and API answers must never reach :func:`raw`.

Everything this module builds is an :class:`Expr` (a ``str``); a plain ``str`` handed to a
clause is always a value, never syntax. Bad values raise :class:`~runner.errors.InvalidValue`.
"""

from __future__ import annotations

import datetime as _dt
import re
from typing import Any, Iterable

from runner.errors import InvalidValue

__all__ = ["Expr", "all_of", "any_eq", "any_of", "boolean", "compare", "datetime", "enum", "eq", "ge", "gt",
           "guid", "integer", "le", "literal", "lt", "ne", "raw", "startswith", "string"]

_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:/[A-Za-z_][A-Za-z0-9_]*)*")
_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_OPS = ("eq", "ne", "gt", "ge", "lt", "le")


class Expr(str):
    """OData text built by this module: a literal or a single clause."""

    __slots__ = ()


class _Compound(Expr):
    """A conjunction, a disjunction or author text: parenthesised when joined with others."""

    __slots__ = ()


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# ---- literals ------------------------------------------------------------------------------------

def string(value: str) -> Expr:
    """``'value'`` with each ``'`` doubled."""
    if not isinstance(value, str):
        raise InvalidValue(f"an OData string must be text, not {type(value).__name__}")
    return Expr("'" + value.replace("'", "''") + "'")


def datetime(value: Any, *, milliseconds: bool = False) -> Expr:
    """A point in time as ``YYYY-MM-DDTHH:MM:SSZ`` (UTC; ``.fff`` floored to the millisecond with
    ``milliseconds``). ``value``: an aware or naive (taken as UTC) :class:`datetime.datetime`, or
    ISO 8601 text such as ``2026-01-31T08:00:00Z``, ``2026-01-31T09:00:00+01:00``,
    ``2026-01-31``. Fractions of a second beyond the precision are dropped."""
    when = value
    if isinstance(value, str) and not isinstance(value, Expr):
        text = value.strip()
        try:
            when = _dt.datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in ("Z", "z") else text)
        except ValueError:
            when = None
    if type(when) is _dt.date:
        when = _dt.datetime(when.year, when.month, when.day)
    if not isinstance(when, _dt.datetime):
        raise InvalidValue(f"{_shown(value)} is not an ISO 8601 date-time (e.g. 2026-01-31T08:00:00Z)")
    if when.tzinfo is not None:
        try:
            when = when.astimezone(_dt.timezone.utc)
        except OverflowError:
            raise InvalidValue(f"{_shown(value)} is out of range in UTC") from None
    text = (f"{when.year:04d}-{when.month:02d}-{when.day:02d}T"
            f"{when.hour:02d}:{when.minute:02d}:{when.second:02d}")
    return Expr(text + (f".{when.microsecond // 1000:03d}Z" if milliseconds else "Z"))


def integer(value: Any) -> Expr:
    """An integer (an ``int``, or text of digits with an optional sign)."""
    if type(value) is str and re.fullmatch(r"[+-]?[0-9]{1,19}", value):
        value = int(value)
    if type(value) is not int:
        raise InvalidValue(f"{_shown(value)} is not an integer")
    return Expr(str(value))


def boolean(value: Any) -> Expr:
    if type(value) is not bool:
        raise InvalidValue(f"{_shown(value)} is not true or false")
    return Expr("true" if value else "false")


def guid(value: Any) -> Expr:
    """A GUID literal (unquoted, as OData's ``Edm.Guid``); for a GUID held in a string
    property, use :func:`string`."""
    if type(value) is not str or not _GUID.fullmatch(value):
        raise InvalidValue(f"{_shown(value)} is not a GUID")
    return Expr(value.lower())


def enum(value: Any, allowed: Iterable[str]) -> Expr:
    """A string literal for one of ``allowed`` (compared exactly)."""
    allowed = tuple(allowed)
    if value not in allowed or type(value) is not str:
        raise InvalidValue(f"{_shown(value)} is not one of {', '.join(allowed)}")
    return string(value)


def literal(value: Any) -> Expr:
    """``value`` as a literal of its Python type; an :class:`Expr` is already one."""
    if isinstance(value, Expr):
        return value
    if isinstance(value, bool):
        return boolean(value)
    if isinstance(value, int):
        return integer(int(value))
    if isinstance(value, _dt.datetime):
        return datetime(value)
    if isinstance(value, str):
        return string(value)
    raise InvalidValue(f"no OData literal for a {type(value).__name__} value")


# ---- clauses -------------------------------------------------------------------------------------

def _field(name: str) -> str:
    if not isinstance(name, str) or not _FIELD.fullmatch(name):
        raise InvalidValue(f"{_shown(name)} is not an OData property name")
    return name


def compare(field: str, op: str, value: Any) -> Expr:
    """``field op value``; ``op`` is one of eq, ne, gt, ge, lt, le."""
    if op not in _OPS:
        raise InvalidValue(f"{_shown(op)} is not an OData comparison ({', '.join(_OPS)})")
    return Expr(f"{_field(field)} {op} {literal(value)}")


def eq(field: str, value: Any) -> Expr:
    return compare(field, "eq", value)


def ne(field: str, value: Any) -> Expr:
    return compare(field, "ne", value)


def gt(field: str, value: Any) -> Expr:
    return compare(field, "gt", value)


def ge(field: str, value: Any) -> Expr:
    return compare(field, "ge", value)


def lt(field: str, value: Any) -> Expr:
    return compare(field, "lt", value)


def le(field: str, value: Any) -> Expr:
    return compare(field, "le", value)


def any_eq(collection: str, value: Any) -> Expr:
    """``collection/any(v: v eq value)``: a collection property holds ``value``."""
    return Expr(f"{_field(collection)}/any(v: v eq {literal(value)})")


def startswith(field: str, value: str) -> Expr:
    return Expr(f"startswith({_field(field)},{string(value)})")


def raw(text: str | None) -> Expr | None:
    """Filter text written by a playbook author (trusted as theirs, checked by the API), kept
    apart when joined; ``None`` or blank text is no clause. Never give it untrusted values."""
    if text is None or not str(text).strip():
        return None
    return _Compound(str(text))


def _join(word: str, parts: tuple[Expr | None, ...]) -> Expr | None:
    kept: list[Expr] = []
    for part in parts:
        if part is None:
            continue
        if not isinstance(part, Expr):
            raise InvalidValue(f"{_shown(part)} is not a clause: build it with runner.odata "
                               "(eq, ge, ...), or mark a playbook author's filter text with odata.raw()")
        kept.append(part)
    if len(kept) <= 1:
        return kept[0] if kept else None
    return _Compound(f" {word} ".join(f"({p})" if isinstance(p, _Compound) else p for p in kept))


def all_of(*parts: Expr | None) -> Expr | None:
    """The clauses joined with ``and`` (``None`` parts left out; ``None`` when none is left)."""
    return _join("and", parts)


def any_of(*parts: Expr | None) -> Expr | None:
    """The clauses joined with ``or`` (``None`` parts left out; ``None`` when none is left)."""
    return _join("or", parts)
