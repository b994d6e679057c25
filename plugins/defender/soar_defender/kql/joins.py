"""Combining tables: ``join`` (every kind), ``lookup`` and ``union``.

Join keys compare by value (null keys never match). Right-side columns whose names clash with
the left side get a numeric suffix (``DeviceId1``); in outer joins the missing side's columns
are ``""`` for strings and null otherwise. ``innerunique`` (the default) keeps one left row per
key, as KQL does.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from . import syntax as s
from .compiler import UserFunction, compile_expr
from .errors import KqlError, did_you_mean, semantic_error
from .model import Column, Relation, hashable, null_of

MAX_JOIN_ROWS = 1_000_000


def _joinable(a: str, b: str) -> bool:
    return a == b or {a, b} <= {"int", "long"} or {a, b} == {"guid", "string"} or "dynamic" in (a, b)


def _keys(op_name: str, pos_conditions, left: Relation, right: Relation) -> tuple[list[str], list[str]]:
    ltypes, rtypes = left.types(), right.types()
    lkeys, rkeys = [], []
    for lname, rname, pos in pos_conditions:
        for side, name, types in (("left", lname, ltypes), ("right", rname, rtypes)):
            if name not in types:
                raise semantic_error(op_name, pos, f"the {side} side has no column named '{name}'",
                                     hint=did_you_mean(name, types), name=name)
        if not _joinable(ltypes[lname], rtypes[rname]):
            raise semantic_error(op_name, pos, f"cannot join a {ltypes[lname]} column with a "
                                               f"{rtypes[rname]} column", name=lname)
        lkeys.append(lname)
        rkeys.append(rname)
    return lkeys, rkeys


def _key(row: dict, names: list[str]) -> Any:
    values = tuple(hashable(row[n]) for n in names)
    return None if None in values else values


def _renamed(left_names, right_columns: list[Column], skip: set[str] = frozenset()) -> list[tuple[str, str]]:
    taken = set(left_names)
    out = []
    for c in right_columns:  # clashing right-side names get a numeric suffix: DeviceId1
        if c.name in skip:
            continue
        name, n = c.name, 0
        while name in taken:
            n += 1
            name = f"{c.name}{n}"
        taken.add(name)
        out.append((c.name, name))
    return out


def _guard(rows: list, op: s.Operator) -> None:
    if len(rows) > MAX_JOIN_ROWS:
        raise semantic_error(op.name, op.pos, f"the {op.name} produces more than {MAX_JOIN_ROWS:,} rows; "
                                              "filter or summarize both sides first", code="LimitsExceeded")


def _join(ev, op: s.Operator, left: Relation, env: dict) -> Relation:
    kind, right_node, conditions = op.args
    right = ev.pipeline(right_node, env)
    lkeys, rkeys = _keys("join", conditions, left, right)
    if kind in ("leftsemi", "leftanti"):
        present = {k for r in right.rows if (k := _key(r, rkeys)) is not None}
        wanted = kind == "leftsemi"
        return Relation(left.columns, [r for r in left.rows if (_key(r, lkeys) in present) == wanted])
    if kind in ("rightsemi", "rightanti"):
        present = {k for r in left.rows if (k := _key(r, lkeys)) is not None}
        wanted = kind == "rightsemi"
        return Relation(right.columns, [r for r in right.rows if (_key(r, rkeys) in present) == wanted])
    index: dict = {}
    for r in right.rows:
        k = _key(r, rkeys)
        if k is not None:
            index.setdefault(k, []).append(r)
    rtypes = right.types()
    renamed = _renamed([c.name for c in left.columns], right.columns)
    columns = left.columns + [Column(new, rtypes[old]) for old, new in renamed]
    empty_right = {new: null_of(rtypes[old]) for old, new in renamed}
    empty_left = {c.name: null_of(c.type) for c in left.columns}
    rows: list[dict] = []
    seen_keys: set = set()
    matched_right: set[int] = set()
    for lrow in left.rows:
        k = _key(lrow, lkeys)
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
            if kind in ("rightouter", "fullouter"):
                matched_right.add(id(rrow))
        if not matches and kind in ("leftouter", "fullouter"):
            rows.append({**lrow, **empty_right})
        _guard(rows, op)
    if kind in ("rightouter", "fullouter"):
        for rrow in right.rows:
            if id(rrow) not in matched_right:
                merged = dict(empty_left)
                for old, new in renamed:
                    merged[new] = rrow[old]
                rows.append(merged)
        _guard(rows, op)
    return Relation(columns, rows)


def _lookup(ev, op: s.Operator, left: Relation, env: dict) -> Relation:
    """``lookup``: a join that adds the right side's non-key columns (keys appear once)."""
    kind, right_node, conditions = op.args
    right = ev.pipeline(right_node, env)
    lkeys, rkeys = _keys("lookup", conditions, left, right)
    index: dict = {}
    for r in right.rows:
        k = _key(r, rkeys)
        if k is not None:
            index.setdefault(k, []).append(r)
    rtypes = right.types()
    same_keys = {r for l, r in zip(lkeys, rkeys) if l == r}
    renamed = _renamed([c.name for c in left.columns], right.columns, skip=same_keys)
    columns = left.columns + [Column(new, rtypes[old]) for old, new in renamed]
    empty = {new: null_of(rtypes[old]) for old, new in renamed}
    rows: list[dict] = []
    for lrow in left.rows:
        k = _key(lrow, lkeys)
        matches = index.get(k, ()) if k is not None else ()
        for rrow in matches:
            merged = dict(lrow)
            for old, new in renamed:
                merged[new] = rrow[old]
            rows.append(merged)
        if not matches and kind == "leftouter":
            rows.append({**lrow, **empty})
        _guard(rows, op)
    return Relation(columns, rows)


def union_relations(ev, node: s.UnionOp, env: dict, first: Relation | None = None,
                    first_name: str | None = None, filled: dict | None = None) -> Relation:
    """The rows of every item, one after the other. ``kind=outer`` (the default) keeps every
    column (a name with two types becomes ``Name_type``); ``kind=inner`` only the shared ones;
    ``withsource=C`` adds a first column naming each row's table. ``filled``, when given, gets
    each item's name → the output columns its rows fill (the others are null in its rows)."""
    parts: list[tuple[str, Relation]] = []
    dropped: list[KqlError] = []
    if first is not None:
        parts.append((first_name or "union_arg0", first))
    for i, item in enumerate(node.items):
        if type(item) is s.TableRef and "*" in item.name:
            regex = re.compile(".*".join(re.escape(p) for p in item.name.split("*")))
            for name in sorted(set(ev.tables) | _tabular_lets(env)):  # tables, and the query's views
                if regex.fullmatch(name):
                    parts.append((name, ev.source(s.TableRef(name, item.pos), env)))
            continue
        label = item.name if type(item) is s.TableRef else f"union_arg{len(parts)}"
        try:
            parts.append((label, ev.source(item, env)))
        except KqlError as err:  # isfuzzy: a leg whose table does not resolve is left out
            if not (node.fuzzy and "Failed to resolve table" in err.message):
                raise
            dropped.append(err)
    if dropped and not parts:  # no leg resolves: the first leg's error says why
        raise dropped[0]
    types_by_name: dict[str, list[str]] = {}
    for _, rel in parts:
        for c in rel.columns:
            kinds = types_by_name.setdefault(c.name, [])
            if c.type not in kinds:
                kinds.append(c.type)
    if node.kind == "inner":
        shared = set.intersection(*({c.name for c in rel.columns} for _, rel in parts)) if parts else set()
        names = [n for n in types_by_name if n in shared]
    else:
        names = list(types_by_name)
    out_columns: list[Column] = []
    mapping: dict[tuple[str, str], str] = {}  # (column, type) → output name
    taken = {n for n in names if len(types_by_name[n]) == 1}
    for n in names:
        kinds = types_by_name[n]
        for t in kinds:
            out = n if len(kinds) == 1 else f"{n}_{t}"
            if len(kinds) > 1:  # a typed name another item's column already has: x_long1, x_long2, ...
                base, k = out, 0
                while out in taken:
                    k += 1
                    out = f"{base}{k}"
                taken.add(out)
            mapping[(n, t)] = out
            out_columns.append(Column(out, t))
    if node.withsource:
        out_columns.insert(0, Column(node.withsource, "string"))
    rows: list[dict] = []
    for label, rel in parts:
        empty = {c.name: null_of(c.type) for c in out_columns}
        pairs = [(c.name, mapping[(c.name, c.type)]) for c in rel.columns if (c.name, c.type) in mapping]
        if filled is not None:
            filled[label] = frozenset(dst for _, dst in pairs)
        for r in rel.rows:
            row = dict(empty)
            for src, dst in pairs:
                row[dst] = r[src]
            if node.withsource:
                row[node.withsource] = label
            rows.append(row)
        if len(rows) > MAX_JOIN_ROWS * 10:
            raise semantic_error("union", node.pos, "the union produces too many rows", code="LimitsExceeded")
    return Relation(out_columns, rows)


def _tabular_lets(env: dict) -> set[str]:
    """The names of the query's views (``let V = view () {...}``), which a union's wildcard
    matches as it matches tables (a parameterless tabular function is taken for one)."""
    return {name for name, bound in env.items()
            if isinstance(bound, UserFunction) and bound.tabular and not bound.definition.params}


def _search_terms(node: Any, case_sensitive: bool) -> Any:
    """A bare string among the and/or/not of a search predicate: 'any column has this term'."""
    if type(node) is s.Literal and node.type == "string":
        return s.Call("\0search", (node, s.Literal(case_sensitive, "bool", node.pos)), node.pos)
    if type(node) is s.Binary and node.op in ("and", "or"):
        return s.Binary(node.op, _search_terms(node.left, case_sensitive), _search_terms(node.right, case_sensitive),
                        node.pos)
    if type(node) is s.Call and node.name == "not" and len(node.args) == 1:
        return s.Call("not", (_search_terms(node.args[0], case_sensitive),), node.pos)
    return node


def search_relation(ev, node: s.Search, env: dict) -> Relation:
    """``search``: the union of the tables (with ``$table`` naming each row's table), filtered."""
    items = node.tables if node.tables is not None else tuple(s.TableRef(n, node.pos) for n in sorted(ev.tables))
    filled: dict[str, frozenset] = {}
    union = union_relations(ev, s.UnionOp("outer", "$table", items, node.pos), env, filled=filled)
    # a "term" needs to look only at the columns the row's own table fills: the union of every
    # table has hundreds of columns, nearly all null in any one row
    scope = replace(ev.scope(union, env, "search"), search_columns=filled)
    predicate = compile_expr(_search_terms(node.predicate, node.case_sensitive), scope)
    if predicate.type not in ("bool", "dynamic"):
        raise scope.error(node.pos, f"the search predicate must be a Boolean expression, not {predicate.type}")
    f = predicate.fn
    return Relation(union.columns, [r for r in union.rows if f(r) is True])


def _union(ev, op: s.Operator, rel: Relation, env: dict) -> Relation:
    return union_relations(ev, op.args[0], env, first=rel)


OPERATORS = {"join": _join, "lookup": _lookup, "union": _union}
