"""``summarize``: grouping rows and computing the aggregations of each group.

Each aggregation compiles to ``compute(group_rows) → values`` (aggfuncs.py; ``arg_max(x, *)``
has several values). Aggregations may sit inside expressions
(``summarize ratio = 100.0 * countif(Failed) / count()``, ``toint(N = dcount(DeviceId))``):
they are computed per group first, then the surrounding expression runs on their results.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from . import syntax as s
from .aggfuncs import compile_aggregate
from .compiler import Compiled, Scope, compile_expr
from .functions import AGGREGATE_NAMES
from .model import Column, hashable
from .naming import result_name

_MULTI_COLUMN = frozenset({"arg_max", "arg_min", "argmax", "argmin", "take_any", "percentiles"})


def _extract(node: Any, found: list[s.Call], scope: Scope) -> Any:
    """Replace the aggregation calls inside an expression by names of their results."""
    if type(node) is s.Call and node.name in AGGREGATE_NAMES and not _user_function(node.name, scope):
        found.append(node)
        return s.Name(f"\0agg{len(found) - 1}", node.pos)
    if not hasattr(node, "__slots__") or type(node) is s.Pipeline:
        return node
    changes = {}
    for fld in fields(node):
        value = getattr(node, fld.name)
        if isinstance(value, tuple):
            changes[fld.name] = tuple(_extract(v, found, scope) for v in value)
        elif hasattr(value, "pos"):
            changes[fld.name] = _extract(value, found, scope)
    return type(node)(**{**{f.name: getattr(node, f.name) for f in fields(node)}, **changes})


def _user_function(name: str, scope: Scope) -> bool:
    from .compiler import UserFunction
    return isinstance(scope.bindings.get(name), UserFunction)


def _is_aggregate(node: Any, scope: Scope) -> bool:
    target = node.expr if type(node) is s.NamedArg else node
    return type(target) is s.Call and target.name in AGGREGATE_NAMES and not _user_function(target.name, scope)


def summarize(op: s.Operator, columns: list[Column], rows: list[dict], scope: Scope) -> tuple[list[Column], list[dict]]:
    """Group ``rows`` by the ``by`` expressions and compute the aggregations of each group."""
    aggregations, by = op.args
    out_columns: list[Column] = []
    taken: set[str] = set()
    unnamed = 0

    def claim(name: str | None) -> str:
        nonlocal unnamed
        if not name:
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
        out_columns.append(Column(claim(a.name or result_name(a.expr, "")), c.type))
    by_names = {c.name for c in out_columns}
    plans = []  # (output columns, compute(rows) → values, finisher or None)
    for a in aggregations:
        expr = a.expr.expr if type(a.expr) is s.NamedArg else a.expr
        if _is_aggregate(a.expr, scope):
            cols, compute = compile_aggregate(expr, scope, by_names)
            own = a.name or (a.expr.name if type(a.expr) is s.NamedArg else None)
            if a.names and len(a.names) > len(cols):
                raise scope.error(a.pos, f"{len(a.names)} names for the {len(cols)} columns of {expr.name}()")
            names = list(a.names) + [c.name for c in cols[len(a.names):]] if a.names else \
                [own if i == 0 and own else c.name for i, c in enumerate(cols)]
            cols = [Column(claim(n), c.type) for n, c in zip(names, cols)]
            plans.append((cols, compute, None))
            continue
        if a.names:
            raise scope.error(a.pos, "'(a, b) = ...' names the columns of an aggregation such as arg_max()")
        found: list[s.Call] = []
        outer = _extract(a.expr, found, scope)
        if not found:
            compile_expr(a.expr, scope)  # an unknown name or function is reported as such first
            raise scope.error(a.pos, "this expression is not an aggregation; put the column in 'by' or "
                                     "wrap it in an aggregation such as max() or make_set()")
        parts = []
        for call in found:
            if call.name in _MULTI_COLUMN:
                raise scope.error(call.pos, f"{call.name}() cannot be used inside an expression", name=call.name)
            parts.append(compile_aggregate(call, scope, by_names))
        inner = {f"\0agg{i}": p[0][0].type for i, p in enumerate(parts)}
        finish = compile_expr(outer, scope.with_columns(inner))
        computes = [p[1] for p in parts]
        compute = (lambda cs: lambda rows: [c(rows)[0] for c in cs])(computes)
        name = a.name or _inner_name(a.expr, found, parts)
        plans.append(([Column(claim(name), finish.type)], compute, finish.fn))
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


def _inner_name(expr: Any, found: list[s.Call], parts: list) -> str:
    """An unnamed expression over aggregations: its inferred name, where the aggregations stand for
    their own default names (``toint(dcount(x))`` → ``dcount_x``, ``toint(N = dcount(x))`` → ``N``)."""
    inferred = result_name(expr, "")
    if inferred and not inferred.startswith("\0"):
        return inferred
    return ""


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
