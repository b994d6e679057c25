"""Operators that regroup rows: ``evaluate pivot()`` and ``| partition by Column (subquery)``.

``pivot(PivotColumn [, aggregation] [, Column, ...])`` turns each distinct value of PivotColumn into
a column holding the aggregation (``count()`` by default) of the rows with that value, one row per
group of the listed columns, or, when none are listed, of every column other than PivotColumn and
those the aggregation reads. The new columns are named by the values as strings, in ordinal order;
a group without rows for a value gets the aggregation of no rows (0 for ``count()``). Like
``bag_unpack``, its columns depend on the data: with no input rows there are none, and the names
the query goes on to use are taken as columns real data would have had (see evaluator.run_query).

``partition by Column (subquery)`` runs the subquery on the rows of each value of Column, in
first-seen order, and puts the results one after the other.
"""

from __future__ import annotations

from typing import Any

from . import syntax as s
from .aggfuncs import compile_aggregate
from .compiler import compile_expr
from .errors import did_you_mean, semantic_error
from .functions import AGGREGATE_NAMES
from .model import Column, Relation, hashable, null_of, to_kql_string

#: The aggregations Kusto's pivot plugin accepts (with their older spellings).
PIVOT_AGGREGATIONS = ("min", "max", "take_any", "any", "sum", "dcount", "avg", "stdev", "variance",
                      "make_list", "makelist", "make_bag", "make_set", "makeset", "count")
#: The simulator's own bound: partitions are evaluated one by one.
MAX_PARTITIONS = 10_000
MAX_PARTITION_ROWS = 1_000_000


def _column(node: Any, rel: Relation, what: str, pos) -> str:
    if type(node) is not s.Name:
        raise semantic_error("evaluate", getattr(node, "pos", pos), f"pivot() takes {what}, not an expression",
                             name="pivot")
    if node.name not in rel.types():
        raise semantic_error("evaluate", node.pos, f"pivot(): Failed to resolve column named '{node.name}'",
                             hint=did_you_mean(node.name, rel.types()), name=node.name)
    return node.name


def _names_in(node: Any, found: set[str]) -> set[str]:
    """The names an expression reads (not inside a subquery)."""
    if type(node) is s.Name:
        found.add(node.name)
    elif hasattr(node, "__slots__") and type(node) is not s.Pipeline:
        for slot in node.__slots__:
            value = getattr(node, slot)
            for item in value if isinstance(value, tuple) else (value,):
                if hasattr(item, "pos"):
                    _names_in(item, found)
    return found


def pivot(ev, call: s.Call, rel: Relation, env: dict) -> Relation:
    """``evaluate pivot(PivotColumn [, aggregation] [, Column, ...])``."""
    args = list(call.args)
    if not args or any(type(a) is s.NamedArg for a in args):
        raise semantic_error("evaluate", call.pos, "pivot() takes the pivot column, then an optional "
                                                   "aggregation and the columns to group by", name="pivot")
    types = rel.types()
    pivot_column = _column(args.pop(0), rel, "the column to pivot on", call.pos)
    aggregation = s.Call("count", (), call.pos)
    if args and type(args[0]) is s.Call:
        aggregation = args.pop(0)
        if aggregation.name not in AGGREGATE_NAMES:
            raise semantic_error("evaluate", aggregation.pos, f"pivot(): '{aggregation.name}()' is not an "
                                                              "aggregation function", name=aggregation.name)
        if aggregation.name not in PIVOT_AGGREGATIONS:
            raise semantic_error("evaluate", aggregation.pos, f"pivot() does not take the aggregation "
                                                              f"'{aggregation.name}()'; it takes "
                                 + ", ".join(f"{n}()" for n in PIVOT_AGGREGATIONS if n not in
                                             ("any", "makelist", "makeset")), name=aggregation.name)
    scope = ev.scope(rel, env, "evaluate")
    if args:
        keys = [_column(a, rel, "column names after the aggregation", call.pos) for a in args]
    else:
        read = _names_in(aggregation, set())
        keys = [n for n in types if n != pivot_column and n not in read]
    columns, compute = compile_aggregate(aggregation, scope, set(keys))
    if len(columns) != 1:
        raise semantic_error("evaluate", aggregation.pos, f"pivot() needs an aggregation with one result, "
                                                          f"not {aggregation.name}() with {len(columns)}",
                             name=aggregation.name)
    kql = columns[0].type
    key_of = compile_expr(s.Name(pivot_column, call.pos), scope).fn
    groups: dict[tuple, dict[str, list[dict]]] = {}
    shown: dict[tuple, tuple] = {}
    for r in rel.rows:
        values = tuple(r[k] for k in keys)
        group = tuple(hashable(v) for v in values)
        if group not in groups:
            groups[group], shown[group] = {}, values
        groups[group].setdefault(to_kql_string(key_of(r)), []).append(r)
    labels = sorted({label for cells in groups.values() for label in cells})
    names, taken = [], set(keys)
    for label in labels:  # a value named like a grouping column gets a numeric suffix
        name, n = label, 0
        while name in taken:
            n += 1
            name = f"{label}{n}"
        taken.add(name)
        names.append(name)
    empty_value = compute([])[0]
    empty_value = null_of(kql) if empty_value is None else empty_value
    assumed: list[str] = []
    if not labels:  # no rows: the pivoted columns depend on data these rows do not hold
        ev.empty_unpack = True
        assumed = sorted(n for n in ev.unpack_assumed if n not in taken)
    rows = []
    for group, cells in groups.items():
        row = dict(zip(keys, shown[group]))
        for label, name in zip(labels, names):
            if label in cells:
                value = compute(cells[label])[0]
                row[name] = null_of(kql) if value is None else value
            else:
                row[name] = empty_value
        rows.append(row)
    out = [Column(k, types[k]) for k in keys] + [Column(n, kql) for n in names + assumed]
    return Relation(out, rows)


def _partition(ev, op: s.Operator, rel: Relation, env: dict) -> Relation:
    """``partition by Column (subquery)``: the subquery over each value's rows, results in turn."""
    key, subquery = op.args
    if key.name not in rel.types():
        raise semantic_error("partition", key.pos, f"Failed to resolve column named '{key.name}'",
                             hint=did_you_mean(key.name, rel.types()), name=key.name)
    parts: dict[Any, list[dict]] = {}
    for r in rel.rows:
        value = r[key.name]
        parts.setdefault(hashable(value), []).append(r)
        if len(parts) > MAX_PARTITIONS:
            raise semantic_error("partition", op.pos, f"more than {MAX_PARTITIONS:,} partitions (the "
                                                      "simulator's limit); filter or summarize first",
                                 code="LimitsExceeded", name=key.name)
    if not parts:  # no partition, so no rows: the subquery over no rows gives the columns
        empty = ev.pipeline(subquery, {**env, "\0partition": ev.fixed(Relation(rel.columns, []))})
        return Relation(empty.columns, [])
    columns: list[Column] = []
    seen: set[str] = set()
    rows: list[dict] = []
    shapes = set()
    for part in parts.values():
        result = ev.pipeline(subquery, {**env, "\0partition": ev.fixed(Relation(rel.columns, part))})
        shapes.add(tuple(c.name for c in result.columns))
        for c in result.columns:
            if c.name not in seen:
                seen.add(c.name)
                columns.append(c)
        rows += result.rows
        if len(rows) > MAX_PARTITION_ROWS:
            raise semantic_error("partition", op.pos, f"partition produces more than {MAX_PARTITION_ROWS:,} "
                                                      "rows", code="LimitsExceeded")
    if len(shapes) > 1:  # a subquery whose columns depend on the data (bag_unpack, pivot)
        empty = {c.name: null_of(c.type) for c in columns}
        rows = [{**empty, **r} for r in rows]
    return Relation(columns, rows)


OPERATORS = {"partition": _partition}
