"""``summarize``: grouping rows and the aggregation functions.

Each aggregation compiles to ``compute(group_rows) → values`` (one value per output column;
``arg_max(x, *)`` has several). Aggregations may sit inside expressions
(``summarize ratio = 100.0 * countif(Failed) / count()``): they are computed per group first,
then the surrounding expression runs on their results.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any, Callable

from . import syntax as s
from .compiler import Compiled, Scope, compile_expr
from .functions import AGGREGATE_NAMES
from .model import NUMERIC, Column, hashable, null_of

# name → (min args, max args, output name prefix)
_SPECS = {"count": (0, 0, "count"), "countif": (1, 1, "countif"), "dcount": (1, 2, "dcount"),
          "make_set": (1, 2, "set"), "make_list": (1, 2, "list"), "make_set_if": (2, 3, "set"),
          "make_list_if": (2, 3, "list"), "min": (1, 1, "min"), "max": (1, 1, "max"),
          "sum": (1, 1, "sum"), "sumif": (2, 2, "sumif"), "avg": (1, 1, "avg"),
          "arg_max": (2, 64, "max"), "arg_min": (2, 64, "min")}
assert set(_SPECS) == AGGREGATE_NAMES
_MAX_SET = 1_048_576


def _values(f: Callable, rows: list) -> list:
    return [v for v in map(f, rows) if v is not None]


def _distinct(values: list, limit: int) -> list:
    seen, out = set(), []
    for v in values:
        key = hashable(v)
        if key not in seen:
            seen.add(key)
            out.append(v)
            if len(out) >= limit:
                break
    return out


def _extreme(values: list, pick: Callable) -> Any:
    try:
        return pick(values) if values else None
    except TypeError:  # dynamic values of mixed kinds
        return None


def compile_aggregate(call: s.Call, scope: Scope, by_names: set[str]) -> tuple[list[Column], Callable]:
    """(output columns with default names, compute(rows) → one value per column)."""
    name, args = call.name, call.args
    low, high, prefix = _SPECS[name]
    if not low <= len(args) <= high:
        expected = str(low) if low == high else f"{low} to {high}"
        raise scope.error(call.pos, f"function '{name}' expects {expected} arguments, got {len(args)}", name=name)
    if name in ("arg_max", "arg_min"):
        return _arg_extreme(call, scope, by_names)
    compiled = [compile_expr(a, scope) for a in args]
    suffix = args[0].name if args and type(args[0]) is s.Name else ""
    out_name = prefix + "_" + suffix
    f = compiled[0].fn if compiled else None
    kql = compiled[0].type if compiled else "long"

    def predicate(i: int) -> Callable:
        if compiled[i].type not in ("bool", "dynamic"):
            raise scope.error(call.pos, f"argument {i + 1} of {name}() must be a bool predicate, "
                                        f"not {compiled[i].type}", name=name)
        return compiled[i].fn

    def limit(i: int) -> int:
        if len(compiled) <= i:
            return _MAX_SET
        if not (compiled[i].const and isinstance(compiled[i].value, int)):
            raise scope.error(call.pos, f"the size limit of {name}() must be an integer constant", name=name)
        return max(0, min(compiled[i].value, _MAX_SET))

    if name == "count":
        return [Column(out_name, "long")], lambda rows: [len(rows)]
    if name == "countif":
        p = predicate(0)
        return [Column(out_name, "long")], lambda rows: [sum(1 for r in rows if p(r) is True)]
    if name == "dcount":
        return [Column(out_name, "long")], lambda rows: [len({hashable(v) for v in _values(f, rows)})]
    if name in ("make_set", "make_list", "make_set_if", "make_list_if"):
        conditional = name.endswith("_if")
        p = predicate(1) if conditional else None
        n = limit(2 if conditional else 1)
        unique = name.startswith("make_set")

        def make(rows):
            picked = [r for r in rows if p(r) is True] if conditional else rows
            values = _values(f, picked)
            return [_distinct(values, n) if unique else values[:n]]
        return [Column(out_name, "dynamic")], make
    if name in ("min", "max"):
        pick = min if name == "min" else max
        return [Column(out_name, kql)], lambda rows: [_extreme(_values(f, rows), pick) if rows else null_of(kql)]
    if kql not in NUMERIC | {"timespan", "dynamic"}:
        raise scope.error(call.pos, f"{name}() needs a numeric argument, not {kql}", name=name)
    if name == "avg":
        if kql == "timespan":
            raise scope.error(call.pos, "avg() of a timespan is not supported by the soar-runner simulator",
                              code="NotSupported", name=name)

        def average(rows):
            values = [v for v in _values(f, rows) if isinstance(v, (int, float)) and not isinstance(v, bool)]
            return [sum(values) / len(values) if values else None]
        return [Column(out_name, "real")], average
    p = predicate(1) if name == "sumif" else None
    result_type = "long" if kql == "int" else kql

    def total(rows):
        values = _values(f, [r for r in rows if p(r) is True] if p else rows)
        if not values:
            return [None]
        try:
            return [sum(values[1:], values[0])]
        except TypeError:
            return [None]
    return [Column(out_name, result_type)], total


def _arg_extreme(call: s.Call, scope: Scope, by_names: set[str]) -> tuple[list[Column], Callable]:
    key, *rest = call.args
    target = compile_expr(key, scope)
    first = key.name if type(key) is s.Name else ("max_" if call.name == "arg_max" else "min_")
    names: list[str] = []
    for a in rest:
        if type(a) is s.Star:
            names += [c for c in scope.columns if c not in by_names and c != first and c not in names]
        elif type(a) is s.Name and a.name in scope.columns:
            names.append(a.name)
        else:
            compile_expr(a, scope)  # raises the 'Failed to resolve' error for unknown names
            raise scope.error(getattr(a, "pos", call.pos), f"{call.name}() takes column names or * "
                                                           "after its first argument", name=call.name)
    columns = [Column(first, target.type)] + [Column(n, scope.columns[n]) for n in names]
    f, better = target.fn, (lambda a, b: a > b) if call.name == "arg_max" else (lambda a, b: a < b)

    def compute(rows):
        best, best_row = None, None
        for r in rows:
            v = f(r)
            if v is None:
                continue
            try:
                if best_row is None or better(v, best):
                    best, best_row = v, r
            except TypeError:
                continue
        if best_row is None:
            return [None] + [null_of(c.type) for c in columns[1:]]
        return [best] + [best_row[n] for n in names]
    return columns, compute


def _extract(node: Any, found: list[s.Call]) -> Any:
    """Replace the aggregation calls inside an expression by names of their results."""
    if type(node) is s.Call and node.name in AGGREGATE_NAMES:
        found.append(node)
        return s.Name(f"\0agg{len(found) - 1}", node.pos)
    if not hasattr(node, "__slots__") or type(node) is s.Pipeline:
        return node
    changes = {}
    for fld in fields(node):
        value = getattr(node, fld.name)
        if isinstance(value, tuple):
            changes[fld.name] = tuple(_extract(v, found) for v in value)
        elif hasattr(value, "pos"):
            changes[fld.name] = _extract(value, found)
    return type(node)(**{**{f.name: getattr(node, f.name) for f in fields(node)}, **changes})


def _default_by_name(expr: Any) -> str | None:
    if type(expr) is s.Name:
        return expr.name
    if type(expr) is s.Call and expr.name in ("bin", "floor") and expr.args and type(expr.args[0]) is s.Name:
        return expr.args[0].name
    return None


def summarize(op: s.Operator, columns: list[Column], rows: list[dict], scope: Scope) -> tuple[list[Column], list[dict]]:
    """Group ``rows`` by the ``by`` expressions and compute the aggregations of each group."""
    aggregations, by = op.args
    out_columns: list[Column] = []
    taken: set[str] = set()
    unnamed = 0

    def claim(name: str | None) -> str:
        nonlocal unnamed
        if name is None:
            unnamed += 1
            name = f"Column{unnamed}"
        base, n = name, 0
        while name in taken:
            n += 1
            name = f"{base}{n}"
        taken.add(name)
        return name

    keys: list[Compiled] = []
    for a in by:
        c = compile_expr(a.expr, scope)
        keys.append(c)
        out_columns.append(Column(claim(a.name or _default_by_name(a.expr)), c.type))
    by_names = {c.name for c in out_columns}
    plans = []  # (output columns, compute(rows) → values, finisher or None)
    for a in aggregations:
        if type(a.expr) is s.Call and a.expr.name in AGGREGATE_NAMES:
            cols, compute = compile_aggregate(a.expr, scope, by_names)
            cols = [Column(claim(a.name if i == 0 and a.name else c.name), c.type) for i, c in enumerate(cols)]
            plans.append((cols, compute, None))
            continue
        found: list[s.Call] = []
        outer = _extract(a.expr, found)
        if not found:
            raise scope.error(a.pos, "this expression is not an aggregation; put the column in 'by' or "
                                     "wrap it in an aggregation such as max() or make_set()")
        parts = []
        for call in found:
            if call.name in ("arg_max", "arg_min"):
                raise scope.error(call.pos, f"{call.name}() cannot be used inside an expression", name=call.name)
            parts.append(compile_aggregate(call, scope, by_names))
        inner = {f"\0agg{i}": p[0][0].type for i, p in enumerate(parts)}
        finish = compile_expr(outer, scope.with_columns(inner))
        computes = [p[1] for p in parts]
        compute = (lambda cs: lambda rows: [c(rows)[0] for c in cs])(computes)
        plans.append(([Column(claim(a.name), finish.type)], compute, finish.fn))
    if not by and not aggregations:
        raise scope.error(op.pos, "'summarize' needs an aggregation or a 'by' clause")
    groups = _group(rows, keys) if keys else [((), rows)]
    names = [c.name for c in out_columns]
    out_rows = []
    for key, group in groups:
        row = dict(zip(names, key))
        for cols, compute, finish in plans:
            values = compute(group)
            if finish is None:
                row.update(zip((c.name for c in cols), values))
            else:
                row[cols[0].name] = finish({f"\0agg{i}": v for i, v in enumerate(values)})
        out_rows.append(row)
    for cols, _, _ in plans:
        out_columns += cols
    return out_columns, out_rows


def _group(rows: list[dict], keys: list[Compiled]) -> list[tuple[tuple, list[dict]]]:
    """(key values, rows) per group, in first-seen order. Dynamic keys group by their JSON text."""
    groups: dict = {}
    if len(keys) == 1 and keys[0].type != "dynamic":  # the common case: one plain column
        kf = keys[0].fn
        for r in rows:
            k = kf(r)
            try:
                groups[k].append(r)
            except KeyError:
                groups[k] = [r]
        return [((k,), g) for k, g in groups.items()]
    fns = [k.fn for k in keys]
    shown: dict = {}
    for r in rows:
        values = tuple(f(r) for f in fns)
        k = tuple(hashable(v) for v in values)
        if k in groups:
            groups[k].append(r)
        else:
            groups[k] = [r]
            shown[k] = values
    return [(shown[k], g) for k, g in groups.items()]
