"""Runs a parsed query over in-memory tables: ``let`` bindings, then the pipeline operators.

Each operator compiles its expressions once (see compiler.py) and then loops over plain lists
of row dicts. Rows coming from a :class:`Table` are never mutated; operators that change
columns build new dicts.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable, Mapping

from . import syntax as s
from .aggregates import summarize
from .compiler import Compiled, Scope, compile_expr, constant
from .errors import KqlError, did_you_mean, semantic_error
from .model import UTC, Column, QueryResult, Table, hashable, null_of
from .parser import parse
from .schemas import unserved_table_hint

MAX_JOIN_ROWS = 1_000_000


@dataclass
class Relation:
    """An intermediate result: columns and rows."""

    columns: list[Column]
    rows: list[dict]

    def types(self) -> dict[str, str]:
        return {c.name: c.type for c in self.columns}


class _TabularLet:
    """``let name = <tabular expression>;``: evaluated once, when first used."""

    def __init__(self, node: s.Pipeline, env: dict) -> None:
        self.node, self.env, self.result = node, env, None

    def evaluate(self, evaluator: "Evaluator") -> Relation:
        if self.result is None:
            self.result = evaluator.pipeline(self.node, self.env)
        return self.result


class Evaluator:
    """Evaluates one query against ``tables`` with a fixed clock."""

    def __init__(self, tables: Mapping[str, Table], now: datetime, timespan: timedelta | None = None) -> None:
        self.tables = tables
        self.now = now
        self.timespan = timespan
        self.table_names = frozenset(tables)
        self.rows_scanned = 0

    def run(self, query: s.Query) -> Relation:
        env: dict[str, Any] = {}
        for let in query.lets:
            env = {**env, let.name: self._bind(let, env)}
        return self.pipeline(query.body, env)

    def _bind(self, let: s.Let, env: dict) -> Any:
        value = let.value
        if type(value) is s.Pipeline:
            return _TabularLet(value, env)
        scope = self.scope(Relation([], []), env, "let")
        if type(value) is s.Name and scope.is_tabular(value.name):
            return _TabularLet(s.Pipeline(s.TableRef(value.name, value.pos), (), value.pos), env)
        compiled = compile_expr(value, scope)
        return compiled if compiled.const else constant(compiled.fn({}), compiled.type)

    def scope(self, relation: Relation, env: dict, operator: str) -> Scope:
        return Scope(relation.types(), env, operator, self.now, self.table_names,
                     lambda node: self._tabular_item(node, env))

    def _tabular_item(self, node: Any, env: dict) -> Relation:
        if type(node) is s.Name:
            node = s.TableRef(node.name, node.pos)
        return self.source(node, env)

    def source(self, node: Any, env: dict) -> Relation:
        if type(node) is s.Pipeline:
            return self.pipeline(node, env)
        bound = env.get(node.name)
        if isinstance(bound, _TabularLet):
            return bound.evaluate(self)
        if isinstance(bound, Compiled):
            raise semantic_error(None, node.pos, f"'{node.name}' is a scalar value, not a table", name=node.name)
        table = self.tables.get(node.name)
        if table is None:
            known = list(self.tables) + [k for k, v in env.items() if isinstance(v, _TabularLet)]
            raise semantic_error(None, node.pos, f"Failed to resolve table or column expression named "
                                                 f"'{node.name}'", name=node.name,
                                 hint=unserved_table_hint(node.name) or did_you_mean(node.name, known))
        rows = table.rows
        self.rows_scanned += len(rows)
        if self.timespan is not None and any(c.name == "Timestamp" and c.type == "datetime" for c in table.columns):
            since = self.now - self.timespan
            rows = [r for r in rows if (t := r["Timestamp"]) is not None and t >= since]
        return Relation(list(table.columns), rows)

    def pipeline(self, node: s.Pipeline, env: dict) -> Relation:
        relation = self.source(node.source, env)
        for op in node.operators:
            relation = _OPERATORS[op.name](self, op, relation, env)
        return relation


# ---- operators --------------------------------------------------------------------------------

def _where(ev: Evaluator, op: s.Operator, rel: Relation, env: dict) -> Relation:
    scope = ev.scope(rel, env, "where")
    predicate = compile_expr(op.args[0], scope)
    if predicate.type not in ("bool", "dynamic"):
        raise scope.error(op.args[0].pos, f"the predicate must be a Boolean expression, not {predicate.type}")
    if predicate.const:
        return Relation(rel.columns, list(rel.rows) if predicate.value is True else [])
    f = predicate.fn if predicate.type == "bool" else (lambda r, g=predicate.fn: g(r) is True)
    return Relation(rel.columns, list(filter(f, rel.rows)))


def _column_name(assign: s.Assign, taken: set[str], counter: list[int]) -> str:
    if assign.name:
        return assign.name
    if type(assign.expr) is s.Name:
        return assign.expr.name
    while True:  # unnamed expressions are Column1, Column2, ... as in KQL
        counter[0] += 1
        if f"Column{counter[0]}" not in taken:
            return f"Column{counter[0]}"


def _project(ev: Evaluator, op: s.Operator, rel: Relation, env: dict) -> Relation:
    scope = ev.scope(rel, env, "project")
    out: list[tuple[str, Compiled]] = []
    seen: set[str] = set()
    counter = [0]
    for a in op.args:
        compiled = compile_expr(a.expr, scope)
        name = _column_name(a, seen | set(scope.columns), counter)
        if name in seen:
            raise scope.error(a.pos, f"duplicate column name '{name}'", name=name)
        seen.add(name)
        out.append((name, compiled))
    columns = [Column(n, c.type) for n, c in out]
    if all(c.column is not None for _, c in out):
        pairs = [(n, c.column) for n, c in out]
        rows = [{n: r[src] for n, src in pairs} for r in rel.rows]
    else:
        fns = [(n, c.fn) for n, c in out]
        rows = [{n: f(r) for n, f in fns} for r in rel.rows]
    return Relation(columns, rows)


def _extend(ev: Evaluator, op: s.Operator, rel: Relation, env: dict) -> Relation:
    scope = ev.scope(rel, env, "extend")
    types = rel.types()
    order = [c.name for c in rel.columns]
    steps: list[tuple[str, Callable]] = []
    counter = [0]
    for a in op.args:  # later items see earlier ones: extend a = 1, b = a + 1
        compiled = compile_expr(a.expr, scope.with_columns(dict(types)))
        name = _column_name(a, set(types), counter)
        if name not in types:
            order.append(name)
        types[name] = compiled.type
        steps.append((name, compiled.fn))
    if len(steps) == 1:
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


def _project_away(ev: Evaluator, op: s.Operator, rel: Relation, env: dict) -> Relation:
    drop: set[str] = set()
    names = [c.name for c in rel.columns]
    for pattern in op.args:
        if "*" in pattern.name:
            regex = re.compile(".*".join(re.escape(p) for p in pattern.name.split("*")))
            drop |= {n for n in names if regex.fullmatch(n)}
        elif pattern.name in names:
            drop.add(pattern.name)
        else:
            raise semantic_error("project-away", pattern.pos, f"Failed to resolve column named '{pattern.name}'",
                                 hint=did_you_mean(pattern.name, names), name=pattern.name)
    return _keep(rel, [c for c in rel.columns if c.name not in drop])


def _keep(rel: Relation, columns: list[Column], renames: Mapping[str, str] | None = None) -> Relation:
    renames = renames or {}
    pairs = [(renames.get(c.name, c.name), c.name) for c in columns]
    rows = [{new: r[old] for new, old in pairs} for r in rel.rows]
    return Relation([Column(renames.get(c.name, c.name), c.type) for c in columns], rows)


def _project_rename(ev: Evaluator, op: s.Operator, rel: Relation, env: dict) -> Relation:
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
    return _keep(rel, rel.columns, renames)


def _sort_rows(rows: list[dict], keys: list[tuple[Compiled, s.SortKey]]) -> list[dict]:
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


def _sort(ev: Evaluator, op: s.Operator, rel: Relation, env: dict) -> Relation:
    scope = ev.scope(rel, env, "sort")
    keys = [(compile_expr(k.expr, scope), k) for k in op.args]
    return Relation(rel.columns, _sort_rows(rel.rows, keys))


def _count_argument(ev: Evaluator, op: s.Operator, node: Any, env: dict) -> int:
    scope = ev.scope(Relation([], []), env, op.name)
    compiled = compile_expr(node, scope)
    if not (compiled.const and compiled.type in ("int", "long") and isinstance(compiled.value, int)):
        raise scope.error(getattr(node, "pos", op.pos), f"the number of rows for '{op.name}' must be an "
                                                        "integer constant")
    return max(compiled.value, 0)


def _take(ev: Evaluator, op: s.Operator, rel: Relation, env: dict) -> Relation:
    return Relation(rel.columns, rel.rows[:_count_argument(ev, op, op.args[0], env)])


def _top(ev: Evaluator, op: s.Operator, rel: Relation, env: dict) -> Relation:
    count = _count_argument(ev, op, op.args[0], env)
    key = op.args[1]
    rows = _sort_rows(rel.rows, [(compile_expr(key.expr, ev.scope(rel, env, "top")), key)])
    return Relation(rel.columns, rows[:count])


def _distinct(ev: Evaluator, op: s.Operator, rel: Relation, env: dict) -> Relation:
    types = rel.types()
    names = [n.name for n in op.args] or list(types)
    for n in op.args:
        if n.name not in types:
            raise semantic_error("distinct", n.pos, f"Failed to resolve scalar expression named '{n.name}'",
                                 hint=did_you_mean(n.name, types), name=n.name)
    seen: set = set()
    rows = []
    for r in rel.rows:
        key = tuple(hashable(r[n]) for n in names)
        if key not in seen:
            seen.add(key)
            rows.append({n: r[n] for n in names})
    return Relation([Column(n, types[n]) for n in names], rows)


def _count(ev: Evaluator, op: s.Operator, rel: Relation, env: dict) -> Relation:
    return Relation([Column("Count", "long")], [{"Count": len(rel.rows)}])


def _summarize(ev: Evaluator, op: s.Operator, rel: Relation, env: dict) -> Relation:
    columns, rows = summarize(op, rel.columns, rel.rows, ev.scope(rel, env, "summarize"))
    return Relation(columns, rows)


def _join(ev: Evaluator, op: s.Operator, left: Relation, env: dict) -> Relation:
    kind, right_node, conditions = op.args
    right = ev.pipeline(right_node, env)
    ltypes, rtypes = left.types(), right.types()
    lkeys, rkeys = [], []
    for lname, rname, pos in conditions:
        for side, name, types in (("left", lname, ltypes), ("right", rname, rtypes)):
            if name not in types:
                raise semantic_error("join", pos, f"the {side} side has no column named '{name}'",
                                     hint=did_you_mean(name, types), name=name)
        if not _joinable(ltypes[lname], rtypes[rname]):
            raise semantic_error("join", pos, f"cannot join a {ltypes[lname]} column with a "
                                              f"{rtypes[rname]} column", name=lname)
        lkeys.append(lname)
        rkeys.append(rname)

    def key(row: dict, names: list[str]) -> Any:
        values = tuple(hashable(row[n]) for n in names)
        return None if None in values else values

    if kind in ("leftsemi", "leftanti"):
        present = {k for r in right.rows if (k := key(r, rkeys)) is not None}
        wanted = kind == "leftsemi"
        return Relation(left.columns, [r for r in left.rows if (key(r, lkeys) in present) == wanted])
    index: dict = {}
    for r in right.rows:
        k = key(r, rkeys)
        if k is not None:
            index.setdefault(k, []).append(r)
    taken = set(ltypes)
    renamed: list[tuple[str, str]] = []
    for c in right.columns:  # clashing right-side names get a numeric suffix: DeviceId1
        name, n = c.name, 0
        while name in taken:
            n += 1
            name = f"{c.name}{n}"
        taken.add(name)
        renamed.append((c.name, name))
    columns = left.columns + [Column(new, rtypes[old]) for old, new in renamed]
    empty = {new: null_of(rtypes[old]) for old, new in renamed}
    rows: list[dict] = []
    seen_keys: set = set()
    for lrow in left.rows:
        k = key(lrow, lkeys)
        if kind == "innerunique":  # KQL's default join keeps one left row per key
            if k in seen_keys:
                continue
            seen_keys.add(k)
        matches = index.get(k, ()) if k is not None else ()
        for rrow in matches:
            merged = dict(lrow)
            for old, new in renamed:
                merged[new] = rrow[old]
            rows.append(merged)
        if not matches and kind == "leftouter":
            rows.append({**lrow, **empty})
        if len(rows) > MAX_JOIN_ROWS:
            raise semantic_error("join", op.pos, f"the join produces more than {MAX_JOIN_ROWS:,} rows; "
                                                 "filter or summarize both sides first", code="LimitsExceeded")
    return Relation(columns, rows)


def _joinable(a: str, b: str) -> bool:
    return a == b or {a, b} <= {"int", "long"} or {a, b} == {"guid", "string"} or "dynamic" in (a, b)


_OPERATORS = {"where": _where, "project": _project, "extend": _extend, "project-away": _project_away,
              "project-rename": _project_rename, "sort": _sort, "take": _take, "top": _top,
              "distinct": _distinct, "count": _count, "summarize": _summarize, "join": _join}


def run_query(query: str, tables: Mapping[str, Table], *, now: datetime | None = None,
              max_rows: int = 100_000, timespan: timedelta | None = None) -> QueryResult:
    """Run a KQL query (the documented subset) over ``tables``.

    ``now`` fixes ``now()`` and ``ago()`` (default: the current UTC time). At most ``max_rows``
    rows are returned, like the hunting APIs; ``stats["truncated"]`` says when rows were cut.
    ``timespan`` (e.g. Graph's ``Timespan: P30D``) drops rows whose ``Timestamp`` is older than
    ``now - timespan`` before the query runs. Raises :class:`KqlError` for any query the service
    would reject, or that is outside the simulator's subset.
    """
    started = time.perf_counter()
    if not isinstance(query, str):
        raise KqlError("the query must be a string", code="SyntaxError", line=1, column=1)
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    evaluator = Evaluator(tables, now, timespan)
    result = evaluator.run(parse(query))
    names = [c.name for c in result.columns]
    rows = [{n: r.get(n) for n in names} for r in result.rows[:max_rows]]
    stats = {"rows_scanned": evaluator.rows_scanned, "rows_returned": len(rows),
             "truncated": len(result.rows) > max_rows, "elapsed_seconds": time.perf_counter() - started}
    return QueryResult(list(result.columns), rows, stats)
