"""``make-series``: per group, one array per aggregation with a value for each step of the axis
(absent steps get the ``default``, 0 unless said otherwise), and the axis itself as an array.

Without ``from``, the series start at the first step that holds data (over all groups, aligned
like ``bin()``); without ``to``, they end after the last one. Output columns: the ``by``
columns, the aggregations, then the axis column.
"""

from __future__ import annotations

import math

from . import syntax as s
from .aggfuncs import compile_aggregate
from .compiler import compile_expr
from .errors import semantic_error
from .functions import AGGREGATE_NAMES, bin_value
from .model import Column, Relation, hashable
from .naming import result_name

MAX_STEPS = 100_000


def _constant(ev, node, env, what: str):
    if node is None:
        return None
    compiled = compile_expr(node, ev.scope(Relation([], []), env, "make-series"))
    if not compiled.const:
        raise semantic_error("make-series", getattr(node, "pos", (1, 1)), f"the {what} of 'make-series' must be a "
                                                                          "constant")
    return compiled.value


def make_series(ev, op: s.Operator, rel: Relation, env: dict) -> Relation:
    kind, aggregations, axis_node, start_node, end_node, step_node, by = op.args
    scope = ev.scope(rel, env, "make-series")
    axis = compile_expr(axis_node, scope)
    if axis.type not in ("datetime", "timespan", "int", "long", "real"):
        raise scope.error(op.pos, f"the axis of 'make-series' must be a datetime, timespan or number, not {axis.type}")
    axis_name = result_name(axis_node, "") or "Column1"
    step = _constant(ev, step_node, env, "step")
    if step is None or isinstance(step, (str, list, dict, bool)) or not step > step * 0:
        raise scope.error(op.pos, "the step of 'make-series' must be a positive constant (1h, 1d, 10, ...)")
    keys, out_columns = [], []
    for a in by:
        c = compile_expr(a.expr, scope)
        keys.append(c.fn)
        out_columns.append(Column(a.name or result_name(a.expr, "") or f"Column{len(out_columns) + 1}", c.type))
    plans = []
    for assign, default in aggregations:
        call = assign.expr
        if type(call) is not s.Call or call.name not in AGGREGATE_NAMES:
            raise scope.error(assign.pos, "'make-series' needs aggregations such as count() or avg(x)")
        cols, compute = compile_aggregate(call, scope, {c.name for c in out_columns})
        value = _constant(ev, default, env, "default value")
        plans.append((assign.name or cols[0].name, compute, 0 if default is None else value))
    values = [v for r in rel.rows if (v := axis.fn(r)) is not None]
    start = _constant(ev, start_node, env, "start")
    end = _constant(ev, end_node, env, "end")
    if not rel.rows and kind != "nonempty" or not values and (start is None or end is None):
        return Relation(out_columns + [Column(n, "dynamic") for n, _, _ in plans] + [Column(axis_name, "dynamic")], [])
    if start is None:
        start = bin_value(min(values), step)
    if end is None:
        end = bin_value(max(values), step) + step
    try:
        count = max(0, math.ceil((end - start) / step))
    except (TypeError, ZeroDivisionError):
        raise scope.error(op.pos, "the axis, from, to and step of 'make-series' do not fit together") from None
    if count > MAX_STEPS:
        raise scope.error(op.pos, f"'make-series' would make more than {MAX_STEPS:,} steps", code="LimitsExceeded")
    groups: dict = {}
    for r in rel.rows:
        key = tuple(k(r) for k in keys)
        groups.setdefault(tuple(hashable(v) for v in key), (key, []))[1].append(r)
    if not groups and kind == "nonempty" and not keys:
        groups[()] = ((), [])
    steps = [start + step * i for i in range(count)]
    rows = []
    for key, members in groups.values():
        buckets: list[list[dict]] = [[] for _ in range(count)]
        for r in members:
            v = axis.fn(r)
            if v is None or v < start or v >= end:
                continue
            index = int((v - start) // step)
            if 0 <= index < count:
                buckets[index].append(r)
        row = dict(zip((c.name for c in out_columns), key))
        for name, compute, default in plans:
            row[name] = [compute(b)[0] if b else default for b in buckets]
        row[axis_name] = list(steps)
        rows.append(row)
    columns = out_columns + [Column(n, "dynamic") for n, _, _ in plans] + [Column(axis_name, "dynamic")]
    return Relation(columns, rows)


OPERATORS = {"make-series": make_series}
