"""``find``: the rows of several tables that match one predicate, in one result.

    find [withsource=C] [in (T1, Device*Events, LetName)] where Predicate [project-smart | project A, B:type]
    find Predicate ...                     (without 'in': every table)

As in Kusto:
- a table that holds none of the columns the predicate reads is left out; in the others, a column
  the predicate reads that the table lacks is null. A bare string term means "some column has it",
  like ``* has "term"``;
- the first column, ``source_`` (or the ``withsource=`` name), names each row's table;
- ``project A, B:type`` gives exactly those columns (null where a table lacks one; a type casts
  the values); without it (``project-smart``), the output has the columns the predicate reads,
  then the columns every remaining table shares, then ``pack_``: a bag of each row's other
  columns. A column with a different type in two tables becomes one column per type, ``Name_type``.
"""

from __future__ import annotations

import re

from . import syntax as s
from .compiler import compile_expr
from .convert import convert_to
from .errors import not_supported, semantic_error
from .joins import MAX_JOIN_ROWS, _search_terms
from .model import Column, Relation, null_of
from .reshape import _names_in

PACK = "pack_"


def _tables(ev, node: s.Find, env: dict) -> list[tuple[str, Relation]]:
    if node.tables is None:
        return [(name, ev.source(s.TableRef(name, node.pos), env)) for name in sorted(ev.tables)]
    parts = []
    for item in node.tables:
        if type(item) is not s.TableRef:
            raise not_supported("find in ((subquery))", getattr(item, "pos", node.pos), operator="find",
                                detail="name the tables, or a tabular let holding the subquery")
        if "*" in item.name:
            regex = re.compile(".*".join(re.escape(p) for p in item.name.split("*")))
            parts += [(name, ev.source(s.TableRef(name, item.pos), env))
                      for name in sorted(ev.tables) if regex.fullmatch(name)]
        else:
            parts.append((item.name, ev.source(item, env)))
    return parts


def _types_of(name: str, parts: list[tuple[str, Relation]]) -> list[str]:
    kinds: list[str] = []
    for _, rel in parts:
        kind = rel.types().get(name)
        if kind is not None and kind not in kinds:
            kinds.append(kind)
    return kinds


def find_relation(ev, node: s.Find, env: dict) -> Relation:
    candidates = _tables(ev, node, env)
    all_types: dict[str, str] = {}
    for _, rel in candidates:
        for c in rel.columns:
            all_types.setdefault(c.name, c.type)
    predicate_node = _search_terms(node.predicate, False)
    scope = ev.scope(Relation([Column(n, k) for n, k in all_types.items()], []), env, "find")
    checked = compile_expr(predicate_node, scope)  # unknown names and types are reported here
    if checked.type not in ("bool", "dynamic"):
        raise scope.error(node.pos, f"the find predicate must be a Boolean expression, not {checked.type}")
    read = [n for n in all_types if n in _names_in(predicate_node, set())]
    kept = [(label, rel) for label, rel in candidates if not read or any(n in rel.types() for n in read)]
    matched: list[tuple[str, Relation, list[dict]]] = []
    total = 0
    for label, rel in kept:
        types = rel.types()
        missing = {n: _types_of(n, kept)[0] for n in read if n not in types}
        fn = compile_expr(predicate_node, scope.with_columns({**types, **missing})).fn
        nulls = {n: null_of(k) for n, k in missing.items()}
        rows = [r for r in rel.rows if fn({**r, **nulls} if nulls else r) is True]
        matched.append((label, rel, rows))
        total += len(rows)
        if total > MAX_JOIN_ROWS * 10:
            raise semantic_error("find", node.pos, "find produces too many rows", code="LimitsExceeded")
    if node.project is not None:
        return _projected(node, matched, candidates)
    return _smart(node, matched, read)


def _split(name: str, kinds: list[str], columns: list[Column], mapping: dict) -> None:
    """One output column per type of ``name``: ``Name``, or ``Name_long``, ``Name_string``."""
    for kind in kinds:
        out = name if len(kinds) == 1 else f"{name}_{kind}"
        mapping[(name, kind)] = out
        columns.append(Column(out, kind))


def _projected(node: s.Find, matched: list, candidates: list) -> Relation:
    columns = [Column(node.withsource, "string")]
    mapping: dict = {}
    casts: dict[str, str] = {}
    for name, kql, pos in node.project:
        if kql is not None:
            columns.append(Column(name, kql))
            casts[name] = kql
            continue
        kinds = _types_of(name, [(label, rel) for label, rel, _ in matched]) or _types_of(name, candidates)
        if not kinds:
            raise semantic_error("find", pos, f"Failed to resolve column named '{name}' in the tables of "
                                              "'find' (give it a type to have it anyway: project "
                                              f"{name}:string)", name=name)
        _split(name, kinds, columns, mapping)
    empty = {c.name: null_of(c.type) for c in columns}
    rows = []
    for label, rel, found in matched:
        pairs = [(c.name, mapping[(c.name, c.type)]) for c in rel.columns if (c.name, c.type) in mapping]
        typed = [(c.name, casts[c.name], c.type) for c in rel.columns if c.name in casts]
        for r in found:
            row = dict(empty)
            row[node.withsource] = label
            for src, dst in pairs:
                row[dst] = r[src]
            for name, kql, kind in typed:
                value = r[name]
                row[name] = value if kind == kql else (null_of(kql) if value is None else convert_to(value, kql))
            rows.append(row)
    return Relation(columns, rows)


def _smart(node: s.Find, matched: list, read: list[str]) -> Relation:
    parts = [(label, rel) for label, rel, _ in matched]
    columns = [Column(node.withsource, "string")]
    mapping: dict = {}
    for name in read:
        _split(name, _types_of(name, parts), columns, mapping)
    if parts:
        for c in parts[0][1].columns:
            if c.name not in read and all(rel.types().get(c.name) == c.type for _, rel in parts):
                _split(c.name, [c.type], columns, mapping)
    columns.append(Column(PACK, "dynamic"))
    empty = {c.name: null_of(c.type) for c in columns}
    rows = []
    for label, rel, found in matched:
        pairs = [(c.name, mapping[(c.name, c.type)]) for c in rel.columns if (c.name, c.type) in mapping]
        rest = [c.name for c in rel.columns if (c.name, c.type) not in mapping]
        for r in found:
            row = dict(empty)
            row[node.withsource] = label
            for src, dst in pairs:
                row[dst] = r[src]
            row[PACK] = {n: r[n] for n in rest}
            rows.append(row)
    return Relation(columns, rows)
