"""The aggregation functions of ``summarize``.

:func:`compile_aggregate` turns one call (``dcount(DeviceId)``, ``arg_max(Timestamp, *)``, ...)
into its output columns, named the way Kusto names them, and ``compute(group_rows) → values``
(one value per column). Old spellings (``any()``, ``makeset()``, ``makelist()``, ``count(pred)``)
are the same aggregations. Results that differ from the real service: ``dcount`` is exact (so
is ``dcount_hll()`` of ``hll()``, whose sketch is the set of the values' hashes), and
``percentile`` uses the nearest-rank method on the exact values.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any, Callable

from . import syntax as s
from .catalog import AGGREGATE_FUNCTIONS
from .compiler import Compiled, Scope, compile_expr
from .errors import not_supported
from .hashing import merge_sketches, sketch
from .model import NUMERIC, Column, hashable, null_of
from .naming import result_name

MAX_SET = 1_048_576
# name → (min args, max args)
_ARITY = {
    "count": (0, 1), "cnt": (0, 0), "countif": (1, 1), "dcount": (1, 2), "dcountif": (2, 3),
    "count_distinct": (1, 1), "count_distinctif": (2, 2), "sum": (1, 1), "sumif": (2, 2), "avg": (1, 1),
    "avgif": (2, 2), "min": (1, 1), "max": (1, 1), "minif": (2, 2), "maxif": (2, 2), "make_set": (1, 2),
    "makeset": (1, 2), "make_set_if": (2, 3), "make_list": (1, 2), "makelist": (1, 2), "make_list_if": (2, 3),
    "make_list_with_nulls": (1, 1), "make_bag": (1, 2), "make_bag_if": (2, 3), "take_any": (1, 64),
    "any": (1, 64), "take_anyif": (2, 2), "anyif": (2, 2), "arg_max": (1, 64), "arg_min": (1, 64),
    "argmax": (1, 64), "argmin": (1, 64), "percentile": (2, 2), "percentiles": (2, 64),
    "percentiles_array": (2, 64), "stdev": (1, 1), "stdevif": (2, 2), "stdevp": (1, 1), "variance": (1, 1),
    "varianceif": (2, 2), "variancep": (1, 1), "binary_all_or": (1, 1), "binary_all_and": (1, 1),
    "binary_all_xor": (1, 1), "hll": (1, 2), "hll_if": (2, 3), "hll_merge": (1, 1),
}
IMPLEMENTED = frozenset(_ARITY)
assert IMPLEMENTED <= AGGREGATE_FUNCTIONS


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


def _flat(values: list) -> list:
    return [x for v in values for x in (v if isinstance(v, list) else (v,)) if x is not None]


def _extreme(values: list, pick: Callable) -> Any:
    try:
        return pick(values) if values else None
    except TypeError:  # dynamic values of mixed kinds
        return None


def _numbers(values: list) -> list:
    return [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]


def _variance(values: list, sample: bool) -> float | None:
    numbers = _numbers(values)
    n = len(numbers)
    if n == 0 or sample and n == 1:
        return 0.0 if n == 1 else None
    mean = sum(numbers) / n
    return sum((x - mean) ** 2 for x in numbers) / (n - 1 if sample else n)


def _nearest_rank(values: list, p: float) -> Any:
    try:
        ordered = sorted(values)
    except TypeError:
        return None
    if not ordered:
        return None
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def _average(values: list, kql: str) -> Any:
    if kql == "timespan":
        spans = [v for v in values if isinstance(v, timedelta)]
        return sum(spans, timedelta(0)) / len(spans) if spans else None
    if kql == "datetime":
        times = [v for v in values if isinstance(v, datetime)]
        return times[0] + sum((t - times[0] for t in times), timedelta(0)) / len(times) if times else None
    numbers = _numbers(values)
    return sum(numbers) / len(numbers) if numbers else None


def _total(values: list) -> Any:
    if not values:
        return None
    try:
        return sum(values[1:], values[0])
    except TypeError:
        return None


def _bits(values: list, op: Callable) -> Any:
    numbers = [v for v in values if isinstance(v, int) and not isinstance(v, bool)]
    if not numbers:
        return None
    out = numbers[0]
    for v in numbers[1:]:
        out = op(out, v)
    return out


def compile_aggregate(call: s.Call, scope: Scope, by_names: set[str]) -> tuple[list[Column], Callable]:
    """(output columns with Kusto's default names, compute(rows) → one value per column)."""
    name, args = call.name, call.args
    if name not in IMPLEMENTED:
        raise not_supported(f"{name}()", call.pos, operator=scope.operator, name=name)
    low, high = _ARITY[name]
    if not low <= len(args) <= high:
        expected = str(low) if low == high else f"{low} to {high}"
        raise scope.error(call.pos, f"function '{name}' expects {expected} arguments, got {len(args)}", name=name)
    if name in ("arg_max", "arg_min", "argmax", "argmin"):
        return _arg_extreme(call, scope, by_names)
    if name in ("take_any", "any") and (len(args) > 1 or type(args[0]) is s.Star or name == "take_any"):
        return _take_any(call, scope, by_names)
    if name.startswith("percentile"):
        return _percentiles(call, scope)
    if any(type(a) is s.Star for a in args):
        raise scope.error(call.pos, f"'*' is not an argument of {name}()", name=name)
    compiled = [compile_expr(a, scope) for a in args]
    out_name = result_name(call) or f"{name}_"
    f = compiled[0].fn if compiled else None
    kql = compiled[0].type if compiled else "long"

    def predicate(i: int) -> Callable:
        if compiled[i].type not in ("bool", "dynamic"):
            raise scope.error(call.pos, f"argument {i + 1} of {name}() must be a bool predicate, "
                                        f"not {compiled[i].type}", name=name)
        return compiled[i].fn

    def limit(i: int) -> int:
        if len(compiled) <= i:
            return MAX_SET
        if not (compiled[i].const and isinstance(compiled[i].value, int)):
            raise scope.error(call.pos, f"the size limit of {name}() must be an integer constant", name=name)
        return max(0, min(compiled[i].value, MAX_SET))

    def where(i: int) -> Callable:
        p = predicate(i)
        return lambda rows: [r for r in rows if p(r) is True]

    def one(kind: str, fn: Callable) -> tuple[list[Column], Callable]:
        return [Column(out_name, kind)], lambda rows: [fn(rows)]

    if name in ("count", "cnt") and not args:
        return one("long", len)
    if name == "count" and compiled[0].type != "bool":  # count(x): the rows where x is not null
        return one("long", lambda rows: sum(1 for r in rows if f(r) is not None))
    if name in ("countif", "count"):
        p = predicate(0)
        return one("long", lambda rows: sum(1 for r in rows if p(r) is True))
    if name in ("dcount", "count_distinct"):
        return one("long", lambda rows: len({hashable(v) for v in _values(f, rows)}))
    if name in ("dcountif", "count_distinctif"):
        pick = where(1)
        return one("long", lambda rows: len({hashable(v) for v in _values(f, pick(rows))}))
    if name in ("hll", "hll_if"):  # the exact set of the values' hashes (dcount_hll counts them)
        pick = where(1) if name == "hll_if" else (lambda rows: rows)
        return one("dynamic", lambda rows: sketch(_values(f, pick(rows))))
    if name == "hll_merge":
        return one("dynamic", lambda rows: merge_sketches(_values(f, rows)))
    if name in ("make_set", "makeset", "make_set_if", "make_list", "makelist", "make_list_if"):
        conditional = name.endswith("_if")
        pick = where(1) if conditional else (lambda rows: rows)
        n = limit(2 if conditional else 1)
        if "set" in name:  # an array's elements join the set one by one, as documented for make_set
            return one("dynamic", lambda rows: _distinct(_flat(_values(f, pick(rows))), n))
        return one("dynamic", lambda rows: _values(f, pick(rows))[:n])
    if name == "make_list_with_nulls":
        return one("dynamic", lambda rows: [f(r) for r in rows])
    if name in ("make_bag", "make_bag_if"):
        pick = where(1) if name == "make_bag_if" else (lambda rows: rows)
        n = limit(2 if name == "make_bag_if" else 1)

        def bag(rows):
            out: dict = {}
            for v in _values(f, pick(rows)):
                if isinstance(v, dict):
                    for k, x in v.items():
                        if len(out) >= n:
                            return out
                        out.setdefault(k, x)
            return out
        return one("dynamic", bag)
    if name in ("take_anyif", "anyif", "any"):
        pick = where(1) if name != "any" else (lambda rows: rows)
        return one(kql, lambda rows: next(iter(_values(f, pick(rows))), null_of(kql)))
    if name in ("min", "max", "minif", "maxif"):
        pick = where(1) if name.endswith("if") else (lambda rows: rows)
        chooser = min if name.startswith("min") else max
        return one(kql, lambda rows: _extreme(_values(f, pick(rows)), chooser) if rows else null_of(kql))
    if kql not in NUMERIC | {"timespan", "dynamic", "datetime"} or kql == "datetime" and not name.startswith("avg"):
        raise scope.error(call.pos, f"{name}() needs a numeric argument, not {kql}", name=name)
    pick = where(1) if name.endswith("if") else (lambda rows: rows)
    if name in ("avg", "avgif"):
        kind = kql if kql in ("timespan", "datetime") else "real"
        return one(kind, lambda rows: _average(_values(f, pick(rows)), kql))
    if name in ("sum", "sumif"):
        return one("long" if kql == "int" else kql, lambda rows: _total(_values(f, pick(rows))))
    if name.startswith("binary_all_"):
        op = {"or": int.__or__, "and": int.__and__, "xor": int.__xor__}[name.rsplit("_", 1)[1]]
        return one("long", lambda rows: _bits(_values(f, rows), op))
    sample = not name.endswith("p")
    root = name.startswith("stdev")
    return one("real", lambda rows: None if (v := _variance(_values(f, pick(rows)), sample)) is None
               else (math.sqrt(v) if root else v))


def _returned(call: s.Call, scope: Scope, by_names: set[str], skip: set[str], fallback: Callable[[int], str]):
    """The extra columns of arg_max / take_any: (name, compiled) for each argument, '*' expanded."""
    out: list[tuple[str, Compiled]] = []
    star = any(type(a) is s.Star for a in call.args)
    taken = set(skip)
    for i, a in enumerate(call.args):
        if type(a) is s.Star:
            for c, kql in scope.columns.items():
                if c not in by_names and c not in taken:
                    taken.add(c)
                    out.append((c, compile_expr(s.Name(c, a.pos), scope)))
            continue
        compiled = compile_expr(a, scope)
        column = compiled.column
        if star and column is not None and (column in taken or column in by_names):
            continue
        name = result_name(a, "") or fallback(i)
        taken.add(column or name)
        out.append((name, compiled))
    return out


def _arg_extreme(call: s.Call, scope: Scope, by_names: set[str]) -> tuple[list[Column], Callable]:
    prefix = "max" if call.name in ("arg_max", "argmax") else "min"
    key, *rest = call.args
    if type(key) is s.Star:
        raise scope.error(call.pos, f"the first argument of {call.name}() cannot be '*'", name=call.name)
    target = compile_expr(key, scope)
    first = result_name(key, "") or f"{prefix}_"
    returned = _returned(s.Call(call.name, tuple(rest), call.pos), scope, by_names,
                         {target.column or first}, lambda i: f"{prefix}_{first}_arg{i + 1}")
    columns = [Column(first, target.type)] + [Column(n, c.type) for n, c in returned]
    f, better = target.fn, (lambda a, b: a > b) if prefix == "max" else (lambda a, b: a < b)
    fns = [c.fn for _, c in returned]

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
        return [best] + [g(best_row) for g in fns]
    return columns, compute


def _take_any(call: s.Call, scope: Scope, by_names: set[str]) -> tuple[list[Column], Callable]:
    returned = _returned(call, scope, by_names, set(), lambda i: f"any_arg{i}")
    if call.name == "any" and len(call.args) == 1 and type(call.args[0]) is not s.Star:
        returned = [(result_name(call) or "any_", returned[0][1])]
    columns = [Column(n, c.type) for n, c in returned]
    fns = [c.fn for _, c in returned]

    def compute(rows):
        for r in rows:  # the first row whose values are not all null
            values = [g(r) for g in fns]
            if any(v is not None and v != "" for v in values):
                return values
        return [null_of(c.type) for c in columns]
    return columns, compute


def _percentiles(call: s.Call, scope: Scope) -> tuple[list[Column], Callable]:
    value, *points = call.args
    compiled = compile_expr(value, scope)
    ranks = []
    for p in points:
        c = compile_expr(p, scope)
        if not c.const or isinstance(c.value, bool) or not isinstance(c.value, (int, float)):
            raise scope.error(call.pos, f"the percentiles of {call.name}() must be number constants", name=call.name)
        ranks.append(c.value)
    base = result_name(value, "") or ""
    kind = "long" if compiled.type == "int" else compiled.type
    f = compiled.fn
    if call.name == "percentiles_array":
        return [Column(f"percentiles_{base}", "dynamic")], \
            lambda rows: [[_nearest_rank(_values(f, rows), p) for p in ranks]]
    names = [f"percentile_{base}_{str(p).replace('.', '_')}" for p in ranks]
    return [Column(n, kind) for n in names], lambda rows: [_nearest_rank(_values(f, rows), p) for p in ranks]
