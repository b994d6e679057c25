"""The row-by-row tabular operators: where, project (and -away, -keep, -rename, -reorder),
extend, sort, take, top, distinct, count, summarize, serialize, as, getschema, render.

Each operator is ``fn(evaluator, op, relation, env) → relation``; it compiles its expressions
once (compiler.py) and loops over plain lists of row dicts.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any, Callable, Mapping

from . import syntax as s
from .aggfuncs import compile_aggregate
from .aggregates import summarize
from .compiler import Compiled, compile_expr, tuple_columns
from .errors import did_you_mean, semantic_error
from .model import Column, Relation, hashable
from .functions import AGGREGATE_NAMES
from .naming import ColumnNamer, result_name
from .specials import Window

_DOTNET = {"string": "System.String", "int": "System.Int32", "long": "System.Int64", "real": "System.Double",
           "bool": "System.SByte", "datetime": "System.DateTime", "timespan": "System.TimeSpan",
           "guid": "System.Guid", "dynamic": "System.Object"}


def _where(ev, op: s.Operator, rel: Relation, env: dict) -> Relation:
    window = Window(rel.rows)
    scope = replace(ev.scope(rel, env, "where"), window=window)
    predicate = compile_expr(op.args[0], scope)
    if predicate.type not in ("bool", "dynamic"):
        raise scope.error(op.args[0].pos, f"the predicate must be a Boolean expression, not {predicate.type}")
    if predicate.const:
        return Relation(rel.columns, list(rel.rows) if predicate.value is True else [])
    f = predicate.fn if predicate.type == "bool" else (lambda r, g=predicate.fn: g(r) is True)
    return Relation(rel.columns, list(filter(f, _ordered(window) if window.used else rel.rows)))


def _items(assign: s.Assign, scope, namer: ColumnNamer) -> list[tuple[str, Compiled, bool]]:
    """(name, compiled, named explicitly) for one projection item: one column, or the columns of a
    function returning several (``(a, b) = series_stats(x)`` or unnamed ``series_stats(x)``)."""
    columns = tuple_columns(assign.expr, scope, assign.names, assign.name)
    if columns is not None:
        return [(n, c, True) for n, c in columns]
    if assign.names:
        compile_expr(assign.expr, scope)  # an unknown function or column is reported as such first
        raise scope.error(assign.pos, "'(a, b, ...) = ...' names the columns of a function returning several, "
                                      "such as series_stats() or series_decompose_anomalies()")
    compiled = compile_expr(assign.expr, scope)
    return [(namer.name(assign), compiled, bool(assign.name) or type(assign.expr) is s.Name)]


def _project(ev, op: s.Operator, rel: Relation, env: dict) -> Relation:
    window = Window(rel.rows)
    scope = replace(ev.scope(rel, env, "project"), window=window)
    out: list[tuple[str, Compiled]] = []
    seen: set[str] = set()
    namer = ColumnNamer(set(scope.columns))
    for a in op.args:
        for name, compiled, explicit in _items(a, scope, namer):
            if name in seen and explicit:
                raise scope.error(a.pos, f"duplicate column name '{name}'", name=name)
            base, n = name, 0
            while name in seen:  # two inferred names alike: tostring(x.a), toint(x.a) → x_a, x_a1
                n += 1
                name = f"{base}{n}"
            seen.add(name)
            namer.taken.add(name)
            out.append((name, compiled))
    columns = [Column(n, c.type) for n, c in out]
    if window.used:
        fns = [(n, c.fn) for n, c in out]
        return Relation(columns, [{n: f(r) for n, f in fns} for r in _ordered(window)])
    if all(c.column is not None for _, c in out):
        pairs = [(n, c.column) for n, c in out]
        rows = [{n: r[src] for n, src in pairs} for r in rel.rows]
    else:
        fns = [(n, c.fn) for n, c in out]
        rows = [{n: f(r) for n, f in fns} for r in rel.rows]
    return Relation(columns, rows)


def extend_rows(ev, op_name: str, assigns, rel: Relation, env: dict) -> Relation:
    """``extend``: later items see earlier ones; an existing name is replaced in place."""
    window = Window(rel.rows)
    scope = replace(ev.scope(rel, env, op_name), window=window)
    types = rel.types()
    order = [c.name for c in rel.columns]
    steps: list[tuple[str, Callable]] = []
    namer = ColumnNamer(set(types), *(("print_{}", 0) if op_name == "print" else ()),
                        columns=set(types) if op_name == "print" else None)
    for a in assigns:  # later items see earlier ones: extend a = 1, b = a + 1
        for name, compiled, _ in _items(a, scope.with_columns(dict(types)), namer):
            if name not in types:
                order.append(name)
            types[name] = compiled.type
            namer.taken.add(name)
            steps.append((name, compiled.fn))
    if not steps:
        return rel
    if window.used:
        rows = []
        for r in _ordered(window):
            d = dict(r)
            for n, g in steps:
                d[n] = g(d)
            rows.append(d)
    elif len(steps) == 1:
        (name, f), = steps
        rows = [{**r, name: f(r)} for r in rel.rows]
    else:
        def extend(r):
            d = dict(r)
            for n, g in steps:
                d[n] = g(d)
            return d
        rows = [extend(r) for r in rel.rows]
    return Relation([Column(n, types[n]) for n in order], rows)


def _ordered(window: Window):
    """The window's rows one by one, with its index following (window functions read it)."""
    for i, r in enumerate(window.rows):
        window.index = i
        yield r


def _extend(ev, op: s.Operator, rel: Relation, env: dict) -> Relation:
    return extend_rows(ev, "extend", op.args, rel, env)


def _serialize(ev, op: s.Operator, rel: Relation, env: dict) -> Relation:
    return extend_rows(ev, "serialize", op.args, rel, env)


def match_columns(operator: str, pattern: s.Name, names: list[str]) -> list[str]:
    """The columns a name or wildcard pattern (``Initiating*``) picks, in table order."""
    if "*" in pattern.name:
        regex = re.compile(".*".join(re.escape(p) for p in pattern.name.split("*")))
        return [n for n in names if regex.fullmatch(n)]
    if pattern.name in names:
        return [pattern.name]
    raise semantic_error(operator, pattern.pos, f"Failed to resolve column named '{pattern.name}'",
                         hint=did_you_mean(pattern.name, names), name=pattern.name)


def _project_away(ev, op: s.Operator, rel: Relation, env: dict) -> Relation:
    names = [c.name for c in rel.columns]
    drop = {n for pattern in op.args for n in match_columns(op.name, pattern, names)}
    return keep_columns(rel, [c for c in rel.columns if c.name not in drop])


def _project_keep(ev, op: s.Operator, rel: Relation, env: dict) -> Relation:
    names = [c.name for c in rel.columns]
    keep = {n for pattern in op.args for n in match_columns(op.name, pattern, names)}
    return keep_columns(rel, [c for c in rel.columns if c.name in keep])


def _natural(name: str) -> list:
    return [int(p) if p.isdigit() else p.lower() for p in re.split(r"(\d+)", name)]


def _project_reorder(ev, op: s.Operator, rel: Relation, env: dict) -> Relation:
    names = [c.name for c in rel.columns]
    first: list[str] = []
    for pattern, order in op.args:
        picked = [n for n in match_columns(op.name, pattern, names) if n not in first]
        if order in ("asc", "desc"):
            picked.sort(reverse=order == "desc")
        elif order in ("granny-asc", "granny-desc"):
            picked.sort(key=_natural, reverse=order == "granny-desc")
        first += picked
    by_name = {c.name: c for c in rel.columns}
    ordered = [by_name[n] for n in first] + [c for c in rel.columns if c.name not in first]
    return keep_columns(rel, ordered)


def keep_columns(rel: Relation, columns: list[Column], renames: Mapping[str, str] | None = None) -> Relation:
    renames = renames or {}
    pairs = [(renames.get(c.name, c.name), c.name) for c in columns]
    rows = [{new: r[old] for new, old in pairs} for r in rel.rows]
    return Relation([Column(renames.get(c.name, c.name), c.type) for c in columns], rows)


def _project_rename(ev, op: s.Operator, rel: Relation, env: dict) -> Relation:
    names = [c.name for c in rel.columns]
    renames: dict[str, str] = {}
    for a in op.args:
        old = a.expr.name
        if old not in names:
            raise semantic_error("project-rename", a.expr.pos, f"Failed to resolve column named '{old}'",
                                 hint=did_you_mean(old, names), name=old)
        renames[old] = a.name
    final = [renames.get(n, n) for n in names]
    duplicates = {n for n in final if final.count(n) > 1}
    if duplicates:
        raise semantic_error("project-rename", op.pos, f"duplicate column name '{sorted(duplicates)[0]}'")
    return keep_columns(rel, rel.columns, renames)


def sort_rows(rows: list[dict], keys: list[tuple[Compiled, s.SortKey]]) -> list[dict]:
    rows = list(rows)
    for compiled, key in reversed(keys):  # stable sorts, last key first
        f, dynamic = compiled.fn, compiled.type == "dynamic"
        # KQL puts nulls first when ascending and last when descending, unless told otherwise.
        default = key.nulls_first is None or key.nulls_first != key.descending
        null_key = (0, 0) if default else (2, 0)
        if compiled.column is not None and compiled.type == "string":
            rows.sort(key=f, reverse=key.descending)
        else:
            def sort_key(r, f=f, dynamic=dynamic, null_key=null_key):
                v = f(r)
                if v is None:
                    return null_key
                return (1, hashable(v) if not dynamic else (type(v).__name__, hashable(v) if
                                                               isinstance(v, (list, dict)) else str(v)))
            rows.sort(key=sort_key, reverse=key.descending)
    return rows


def _sort(ev, op: s.Operator, rel: Relation, env: dict) -> Relation:
    scope = ev.scope(rel, env, "sort")
    keys = [(compile_expr(k.expr, scope), k) for k in op.args]
    return Relation(rel.columns, sort_rows(rel.rows, keys))


def count_argument(ev, op: s.Operator, node: Any, env: dict) -> int:
    scope = ev.scope(Relation([], []), env, op.name)
    compiled = compile_expr(node, scope)
    if not (compiled.const and compiled.type in ("int", "long", "dynamic") and isinstance(compiled.value, int)
            and not isinstance(compiled.value, bool)):
        raise scope.error(getattr(node, "pos", op.pos), f"the number of rows for '{op.name}' must be an "
                                                        "integer constant")
    return max(compiled.value, 0)


def _take(ev, op: s.Operator, rel: Relation, env: dict) -> Relation:
    return Relation(rel.columns, rel.rows[:count_argument(ev, op, op.args[0], env)])


def _top(ev, op: s.Operator, rel: Relation, env: dict) -> Relation:
    count = count_argument(ev, op, op.args[0], env)
    key = op.args[1]
    rows = sort_rows(rel.rows, [(compile_expr(key.expr, ev.scope(rel, env, "top")), key)])
    return Relation(rel.columns, rows[:count])


def _sample_distinct(ev, op: s.Operator, rel: Relation, env: dict) -> Relation:
    """Up to N distinct values of one column (the first seen: Kusto promises no fair sample)."""
    count = count_argument(ev, op, op.args[0], env)
    values = _distinct(ev, s.Operator("distinct", (s.Assign(None, op.args[1], op.pos),), op.pos), rel, env)
    return Relation(values.columns, values.rows[:count])


def _top_hitters(ev, op: s.Operator, rel: Relation, env: dict) -> Relation:
    """The N values seen most often (or with the largest sum of ``by``), with their count or sum:
    columns ``Value, approximate_count_Value`` (``approximate_sum_Summed``). Exact here."""
    count = count_argument(ev, op, op.args[0], env)
    scope = ev.scope(rel, env, "top-hitters")
    value, total = compile_expr(op.args[1], scope), op.args[2] and compile_expr(op.args[2], scope)
    name = ColumnNamer(set()).name(s.Assign(None, op.args[1], op.pos))
    if total is not None and total.type not in ("int", "long", "real"):
        raise scope.error(op.pos, f"the sum of 'top-hitters' must be a number, not {total.type}")
    score_name = ("approximate_sum_" + ColumnNamer(set()).name(s.Assign(None, op.args[2], op.pos))) if total \
        else "approximate_count_" + name
    scores: dict = {}
    values: dict = {}
    for r in rel.rows:
        v = value.fn(r)
        key = hashable(v)
        values.setdefault(key, v)
        add = 1 if total is None else total.fn(r)
        if add is not None:
            scores[key] = scores.get(key, 0) + add
    ranked = sorted(scores, key=lambda k: -scores[k])[:count]  # stable: ties keep first-seen order
    score_type = "long" if total is None or total.type == "int" else total.type
    return Relation([Column(name, value.type), Column(score_name, score_type)],
                    [{name: values[k], score_name: scores[k]} for k in ranked])


def _distinct(ev, op: s.Operator, rel: Relation, env: dict) -> Relation:
    if not op.args:
        names = [c.name for c in rel.columns]
        fns = [(n, (lambda r, n=n: r[n])) for n in names]
        columns = list(rel.columns)
    else:
        scope = ev.scope(rel, env, "distinct")
        namer = ColumnNamer(set(scope.columns))
        fns, columns = [], []
        for a in op.args:
            compiled = compile_expr(a.expr, scope)
            name = namer.name(a)
            namer.taken.add(name)
            fns.append((name, compiled.fn))
            columns.append(Column(name, compiled.type))
    seen: set = set()
    rows = []
    for r in rel.rows:
        values = [(n, f(r)) for n, f in fns]
        key = tuple(hashable(v) for _, v in values)
        if key not in seen:
            seen.add(key)
            rows.append(dict(values))
    return Relation(columns, rows)


def _count(ev, op: s.Operator, rel: Relation, env: dict) -> Relation:
    return Relation([Column("Count", "long")], [{"Count": len(rel.rows)}])


def _summarize(ev, op: s.Operator, rel: Relation, env: dict) -> Relation:
    columns, rows = summarize(op, rel.columns, rel.rows, ev.scope(rel, env, "summarize"))
    return Relation(columns, rows)


def _top_nested(ev, op: s.Operator, rel: Relation, env: dict) -> Relation:
    """``top-nested``: the top N values of the first expression by an aggregation, then within
    each of them the top values of the next one, and so on; ``with others`` adds a row for the
    rest of each level."""
    scope = ev.scope(rel, env, "top-nested")
    plans, columns = [], []
    for i, (count, what, others, aggregation, descending, pos) in enumerate(op.args):
        key = compile_expr(what.expr, scope)
        name = what.name or result_name(what.expr, "") or f"Column{i + 1}"
        call = aggregation.expr
        if type(call) is not s.Call or call.name not in AGGREGATE_NAMES:
            raise scope.error(aggregation.pos, "'top-nested' orders by an aggregation such as count() or "
                                               "sum(x)")
        cols, compute = compile_aggregate(call, scope, set())
        agg_name = aggregation.name or f"aggregated_{name}"
        other = compile_expr(others, scope).value if others is not None else None
        n = count_argument(ev, op, count, env) if count is not None else None
        plans.append((key.fn, name, compute, agg_name, descending, n, others is not None, other))
        columns += [Column(name, key.type), Column(agg_name, cols[0].type)]
    out: list[dict] = []

    def level(rows: list[dict], depth: int, prefix: dict) -> None:
        if depth == len(plans):
            out.append(prefix)
            return
        key, name, compute, agg_name, descending, n, with_others, other = plans[depth]
        groups: dict = {}
        for r in rows:
            groups.setdefault(hashable(k := key(r)), (k, []))[1].append(r)
        scored = [(k, g, compute(g)[0]) for k, g in groups.values()]
        present = [x for x in scored if x[2] is not None]
        present.sort(key=lambda x: x[2], reverse=descending)
        ordered = present + [x for x in scored if x[2] is None]
        chosen = ordered if n is None else ordered[:n]
        for k, g, value in chosen:
            level(g, depth + 1, {**prefix, name: k, agg_name: value})
        if with_others and n is not None and len(ordered) > n:
            rest = [r for _, g, _ in ordered[n:] for r in g]
            level(rest, depth + 1, {**prefix, name: other, agg_name: compute(rest)[0]})
    level(rel.rows, 0, {})
    return Relation(columns, out)


def _getschema(ev, op: s.Operator, rel: Relation, env: dict) -> Relation:
    columns = [Column("ColumnName", "string"), Column("ColumnOrdinal", "int"), Column("DataType", "string"),
               Column("ColumnType", "string")]
    rows = [{"ColumnName": c.name, "ColumnOrdinal": i, "DataType": _DOTNET[c.type], "ColumnType": c.type}
            for i, c in enumerate(rel.columns)]
    return Relation(columns, rows)


def _unchanged(ev, op: s.Operator, rel: Relation, env: dict) -> Relation:
    return rel


OPERATORS = {"where": _where, "project": _project, "extend": _extend, "project-away": _project_away,
             "project-keep": _project_keep, "project-rename": _project_rename,
             "project-reorder": _project_reorder, "sort": _sort, "take": _take, "top": _top,
             "distinct": _distinct, "count": _count, "summarize": _summarize, "serialize": _serialize,
             "getschema": _getschema, "render": _unchanged, "as": _unchanged, "top-nested": _top_nested,
             "sample-distinct": _sample_distinct, "top-hitters": _top_hitters}
