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


@dataclass(frozen=True, slots=True)
class NamedArg:
    """``name = expr`` inside a call's arguments: ``bin(B5m = Timestamp, 5m)``. The value is
    ``expr``; the name only names the result column (Kusto's result-name inference)."""
    name: str
    expr: Any
    pos: Pos


@dataclass(frozen=True, slots=True)
class TypeOf:
    """``typeof(long)``: a type literal (``extract(..., typeof(long))``, ``to typeof(string)``)."""
    type: str
    pos: Pos


Expr = Union[Literal, Name, Star, Call, Unary, Binary, InList, Between, Member, NamedArg, TypeOf]


# ---- tabular operators ------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Assign:
    """``name = expr`` or a bare ``expr`` (name None) in project/extend/summarize;
    ``(a, b) = expr`` names several columns at once (``names``)."""
    name: str | None
    expr: Any
    pos: Pos
    names: tuple = ()


@dataclass(frozen=True, slots=True)
class SortKey:
    expr: Any
    descending: bool
    nulls_first: bool | None
    pos: Pos


@dataclass(frozen=True, slots=True)
class Operator:
    """One ``| name ...`` step. ``args`` depends on ``name`` (parser_ops.py builds them):

    where: (predicate,)            project/extend: (Assign, ...)      project-away/keep: (pattern, ...)
    project-rename: (Assign(new, Name(old)), ...)   project-reorder: ((pattern, order), ...)
    summarize: (aggregates, by)    sort: (SortKey, ...)    take: (count,)   top: (count, SortKey)
    distinct: (Assign, ...) or () for *   count: ()   serialize: (Assign, ...)   as: (name,)
    join/lookup: (kind, right, ((left column, right column, pos), ...))    union: (UnionOp,)
    mv-expand: (kind, index column, ((Assign, to type), ...), limit)
    mv-apply: (kind, index column, ((Assign, to type), ...), limit, subquery Pipeline)
    parse: (kind, source expr, pattern items, where)   evaluate: (Call,)   invoke: (Call,)
    top-nested: (levels,)   getschema/render: ()
    partition: (key column Name, subquery Pipeline over the partition's rows)
    """
    name: str
    args: tuple
    pos: Pos


@dataclass(frozen=True, slots=True)
class TableRef:
    """A table or tabular ``let`` by name; in ``union`` the name may hold ``*`` wildcards."""
    name: str
    pos: Pos


@dataclass(frozen=True, slots=True)
class UnionOp:
    """``union [kind=inner|outer] [withsource=C] [isfuzzy=b] T1, T2*, (subquery), ...`` — as a
    source, or as an operator (``T | union U``: the piped rows come first)."""
    kind: str
    withsource: str | None
    items: tuple
    pos: Pos
    fuzzy: bool = False  # isfuzzy=true: a table that cannot be resolved is left out


@dataclass(frozen=True, slots=True)
class Search:
    """``search [kind=case_sensitive] [in (T1, T2*)] predicate``: the rows of the tables (all of
    them without 'in') that match; a bare string in the predicate matches any column that has it."""
    case_sensitive: bool
    tables: tuple | None
    predicate: Any
    pos: Pos


@dataclass(frozen=True, slots=True)
class Find:
    """``find [withsource=C] [in (T1, T2*)] where predicate [project-smart | project A, B:type]``:
    each table's rows that match; ``project`` None is project-smart (the rest packed in ``pack_``)."""
    withsource: str
    tables: tuple | None
    predicate: Any
    project: tuple | None  # ((name, kql type or None, pos), ...)
    pos: Pos


@dataclass(frozen=True, slots=True)
class DataTable:
    """``datatable(Name:type, ...)[value, ...]``, values row by row."""
    columns: tuple  # ((name, kql type), ...)
    values: tuple
    pos: Pos


@dataclass(frozen=True, slots=True)
class ExternalData:
    """``externaldata(Name:type, ...)[urls] [with (...)]``: read from the local copies the
    simulator was given for those URLs (it fetches none), else refused."""
    text: str
    pos: Pos
    columns: tuple = ()   # ((name, kql type), ...)
    urls: tuple = ()      # expressions
    options: tuple = ()   # the with (...) arguments (NamedArg)


@dataclass(frozen=True, slots=True)
class RangeSource:
    """``range x from a to b step c``."""
    name: str
    start: Any
    stop: Any
    step: Any
    pos: Pos


@dataclass(frozen=True, slots=True)
class PrintSource:
    """``print a = 1, b = "x"``: one row."""
    items: tuple
    pos: Pos


@dataclass(frozen=True, slots=True)
class CallSource:
    """A function call used as a table: a tabular user function ``f(1)``, ``materialize(q)``,
    ``table("T")``, or a Defender function such as ``DeviceFromIP(...)``."""
    name: str
    args: tuple
    pos: Pos


@dataclass(frozen=True, slots=True)
class Param:
    """A user-defined function's parameter; ``type`` is a KQL type or ``"table"``."""
    name: str
    type: str
    default: Any
    pos: Pos


@dataclass(frozen=True, slots=True)
class FunctionDef:
    """``let f = (x:string, T:(*)) { [let ...;] body };`` — ``body`` is a scalar expression or
    a Pipeline; ``lets`` are the body's own let statements."""
    params: tuple
    lets: tuple
    body: Any
    pos: Pos


@dataclass(frozen=True, slots=True)
class Pipeline:
    source: Any  # TableRef, Pipeline, UnionOp, DataTable, ExternalData, RangeSource, PrintSource, CallSource
    operators: tuple[Operator, ...]
    pos: Pos


@dataclass(frozen=True, slots=True)
class Let:
    name: str
    value: Any  # an expression, a Pipeline for a tabular let, or a FunctionDef
    pos: Pos


@dataclass(frozen=True, slots=True)
class Query:
    lets: tuple[Let, ...]
    body: Pipeline
    pos: Pos = field(default=(1, 1))
