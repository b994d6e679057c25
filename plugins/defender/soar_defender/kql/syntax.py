"""The syntax tree the parser builds and the evaluator compiles.

Every node carries ``pos``: the 1-based (line, column) of the token it came from, so any later
error can point at the query text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Union

Pos = tuple[int, int]


# ---- scalar expressions -----------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Literal:
    value: Any
    type: str
    pos: Pos


@dataclass(frozen=True, slots=True)
class Name:
    """A column, or a ``let`` name."""
    name: str
    pos: Pos


@dataclass(frozen=True, slots=True)
class Star:
    """``*`` as a function argument: ``arg_max(Timestamp, *)``."""
    pos: Pos


@dataclass(frozen=True, slots=True)
class Call:
    name: str
    args: tuple
    pos: Pos


@dataclass(frozen=True, slots=True)
class Unary:
    op: str
    operand: Any
    pos: Pos


@dataclass(frozen=True, slots=True)
class Binary:
    """Arithmetic, comparison, string and logical operators: ``a op b``."""
    op: str
    left: Any
    right: Any
    pos: Pos


@dataclass(frozen=True, slots=True)
class InList:
    """``x in (...)``, ``!in``, ``in~``, ``!in~``, ``has_any``: items may hold one subquery."""
    op: str
    left: Any
    items: tuple
    pos: Pos


@dataclass(frozen=True, slots=True)
class Between:
    negated: bool
    left: Any
    low: Any
    high: Any
    pos: Pos


@dataclass(frozen=True, slots=True)
class Member:
    """``d.key`` or ``d[expr]`` on a dynamic value."""
    target: Any
    key: Any  # a str for d.key, an expression for d[...]
    pos: Pos


Expr = Union[Literal, Name, Star, Call, Unary, Binary, InList, Between, Member]


# ---- tabular operators ------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Assign:
    """``name = expr`` or a bare ``expr`` (name None) in project/extend/summarize."""
    name: str | None
    expr: Any
    pos: Pos


@dataclass(frozen=True, slots=True)
class SortKey:
    expr: Any
    descending: bool
    nulls_first: bool | None
    pos: Pos


@dataclass(frozen=True, slots=True)
class Operator:
    """One ``| name ...`` step. ``args`` depends on ``name``:

    where: (predicate,)            project/extend: (Assign, ...)      project-away: (pattern, ...)
    project-rename: (Assign(new, Name(old)), ...)   summarize: (aggregates, by)   sort: (SortKey, ...)
    take: (count,)   top: (count, SortKey)   distinct: (Name, ...) or ()  for *   count: ()
    join: (kind, right, ((left column, right column, pos), ...))
    """
    name: str
    args: tuple
    pos: Pos


@dataclass(frozen=True, slots=True)
class TableRef:
    name: str
    pos: Pos


@dataclass(frozen=True, slots=True)
class Pipeline:
    source: Any  # TableRef or Pipeline
    operators: tuple[Operator, ...]
    pos: Pos


@dataclass(frozen=True, slots=True)
class Let:
    name: str
    value: Any  # an expression, or a Pipeline for a tabular let
    pos: Pos


@dataclass(frozen=True, slots=True)
class Query:
    lets: tuple[Let, ...]
    body: Pipeline
    pos: Pos = field(default=(1, 1))
