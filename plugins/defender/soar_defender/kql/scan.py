"""The ``scan`` operator: sequences matched step by step over serialized rows.

    T | scan [with_match_id = Id] [declare (Col: type [= default], ...)] with (
        step s1 [output = all | last | none]: Condition [=> Col = Expr, ...];
        step s2: Condition;  ...
    )

Kusto's matching logic, as its reference states it: each row is checked against the steps from
the last to the first. At step *k*, **check 1**: when step *k-1* has an active sequence and the
row meets *k*'s condition (read with *k-1*'s state), that state moves up to *k*, extended with
the row and *k*'s assignments, and check 2 is skipped. **Check 2**: when step *k* has an active
sequence, or is the first step, and the row meets its condition (read with *k*'s own state), the
row replaces *k*'s entry in that state; at the first step an empty state starts a new sequence
(the match id grows by one). Each match outputs the row (``output=all``), only the last of a run
of repeated matches (``last``), or nothing (``none``). ``sN.Col`` reads step *N*'s entry of the
state in use: a declared column's default (else null) when that step has no entry.
Declared columns a step does not assign take their default.
"""

from __future__ import annotations

from dataclasses import fields, is_dataclass, replace
from typing import Any

from . import syntax as s
from .compiler import compile_expr
from .model import Column, Relation, null_of

_OUTPUTS = ("all", "last", "none")


def parse_scan(p, tok) -> s.Operator:
    """Called by the operator parser after ``scan``."""
    match_id = None
    declared: list[tuple[str, str, Any]] = []
    if p.peek().is_word("with_match_id"):
        p.next()
        p.expect_op("=", "after 'with_match_id'")
        match_id = p.name("(the match id column) after 'with_match_id ='").value
    if p.peek().is_word("declare"):
        p.next()
        p.expect_op("(", "after 'declare'")
        while True:
            name = p.name("(a column name) in 'declare'")
            p.expect_op(":", f"after '{name.value}' in 'declare' (Name: type [= default])")
            kql = p.type_name(f"for the column '{name.value}'")
            default = None
            if p.peek().is_op("="):
                p.next()
                default = p.expression()
            declared.append((name.value, kql, default))
            if not p.peek().is_op(","):
                break
            p.next()
        p.expect_op(")", "to close 'declare'")
    p.expect_word("with", "in 'scan' (scan [declare (...)] with (step s1: Condition; ...))")
    p.expect_op("(", "after 'scan ... with'")
    steps = []
    while p.peek().is_word("step"):
        p.next()
        name = p.name("(a step name) after 'step'").value
        output = "all"
        if p.peek().is_word("output"):
            p.next()
            p.expect_op("=", "after 'output'")
            word = p.next()
            if word.value not in _OUTPUTS:
                raise p.error(word, "expected 'all', 'last' or 'none' after 'output ='")
            output = word.value
        p.expect_op(":", f"after the step '{name}' (step {name}: Condition;)")
        condition = p.expression()
        assignments = []
        if p.peek().is_op("=") and p.peek(1).is_op(">"):
            p.next(), p.next()
            while True:
                column = p.name("(a declared column) after '=>'")
                p.expect_op("=", f"after '{column.value}' in the step '{name}'")
                assignments.append((column.value, p.expression(), column.pos))
                if not p.peek().is_op(","):
                    break
                p.next()
        p.expect_op(";", f"to end the step '{name}'")
        steps.append((name, output, condition, tuple(assignments)))
    if not steps:
        raise p.error(p.peek(), "expected 'step Name: Condition;' in 'scan ... with (...)'")
    p.expect_op(")", "to close the steps of 'scan'")
    return s.Operator("scan", (match_id, tuple(declared), tuple(steps)), tok.pos)


def _state_names(node: Any, steps: frozenset[str]) -> Any:
    """``s1.Col`` (a step's state) becomes the name ``s1.Col`` of a column the rows carry."""
    if type(node) is s.Member and type(node.target) is s.Name and node.target.name in steps \
            and isinstance(node.key, str):
        return s.Name(f"{node.target.name}.{node.key}", node.pos)
    if isinstance(node, tuple):
        return tuple(_state_names(n, steps) for n in node)
    if is_dataclass(node) and not isinstance(node, type):
        changed = {f.name: _state_names(getattr(node, f.name), steps) for f in fields(node)}
        return replace(node, **changed)
    return node


def _state_reads(node: Any, out: set[str]) -> set[str]:
    """The ``step.Col`` names an expression reads (rewritten by :func:`_state_names`)."""
    if type(node) is s.Name and "." in node.name:
        out.add(node.name)
    elif isinstance(node, tuple):
        for n in node:
            _state_reads(n, out)
    elif is_dataclass(node) and not isinstance(node, type):
        for f in fields(node):
            _state_reads(getattr(node, f.name), out)
    return out


def scan_relation(ev, op: s.Operator, rel: Relation, env: dict) -> Relation:
    match_id, declared, steps = op.args
    names = frozenset(step[0] for step in steps)
    empty_scope = ev.scope(Relation([], []), env, "scan")
    defaults = {}
    for col, kql, default in declared:
        value = compile_expr(default, empty_scope).value if default is not None else null_of(kql)
        defaults[col] = value
    row_columns = list(rel.columns) + [Column(col, kql) for col, kql, _ in declared
                                       if col not in {c.name for c in rel.columns}]
    state_columns = [Column(f"{step}.{c.name}", c.type) for step in (st[0] for st in steps) for c in row_columns]
    scope = ev.scope(Relation(row_columns + state_columns, []), env, "scan")
    compiled = []
    reads: set[str] = set()  # the state values the steps read: only those are copied into each row
    for name, output, condition, assignments in steps:
        condition = _state_names(condition, names)
        _state_reads(condition, reads)
        test = compile_expr(condition, scope)
        if test.type not in ("bool", "dynamic"):
            raise scope.error(op.pos, f"the condition of the step '{name}' must be a bool, not {test.type}")
        sets = []
        for col, expr, pos in assignments:
            if col not in defaults:
                raise scope.error(pos, f"'{col}' is not declared: add it to 'declare (...)' to assign it in "
                                       f"the step '{name}'")
            expr = _state_names(expr, names)
            _state_reads(expr, reads)
            sets.append((col, compile_expr(expr, scope).fn))
        compiled.append((name, output, test.fn, sets))

    blank = {f"{step}.{c.name}": defaults.get(c.name, null_of(c.type)) for step in names for c in row_columns
             if f"{step}.{c.name}" in reads}
    n = len(compiled)
    states: list[dict | None] = [None] * n   # step k → {step name: row} of its active sequence
    ids: list[int | None] = [None] * n
    pending_last: list[int | None] = [None] * n  # output=last: the index of the row it may replace
    out: list[dict | None] = []
    next_id = 0

    def env_row(r: dict, state: dict | None) -> dict:
        row = {**r, **defaults, **blank}
        for step, values in (state or {}).items():
            for key, value in values.items():
                if (read := f"{step}.{key}") in reads:
                    row[read] = value
        return row

    def emit(k: int, extended: dict, sequence: int | None, repeat: bool) -> None:
        name, output = compiled[k][0], compiled[k][1]
        if output == "none":
            return
        row = {**extended, match_id: sequence} if match_id else dict(extended)
        if output == "last" and repeat and pending_last[k] is not None:
            out[pending_last[k]] = None
        out.append(row)
        pending_last[k] = len(out) - 1 if output == "last" else None

    for r in rel.rows:
        base = {c.name: r.get(c.name, defaults.get(c.name)) for c in row_columns}
        for k in range(n - 1, -1, -1):
            name, _, test, sets = compiled[k]
            if k > 0 and states[k - 1] is not None:  # check 1: the previous step's sequence moves up
                row = env_row(base, states[k - 1])
                if test(row) is True:
                    extended = {**base, **defaults, **{col: fn(row) for col, fn in sets}}
                    states[k] = {**states[k - 1], name: extended}
                    ids[k], states[k - 1], ids[k - 1] = ids[k - 1], None, None
                    emit(k, extended, ids[k], repeat=False)
                    continue
            if states[k] is not None or k == 0:  # check 2: the step's own sequence (or a new one)
                row = env_row(base, states[k])
                if test(row) is True:
                    extended = {**base, **defaults, **{col: fn(row) for col, fn in sets}}
                    repeat = states[k] is not None
                    if states[k] is None:
                        ids[k], next_id = next_id, next_id + 1
                    states[k] = {**(states[k] or {}), name: extended}
                    emit(k, extended, ids[k], repeat=repeat)
    columns = row_columns + ([Column(match_id, "long")] if match_id else [])
    return Relation(columns, [row for row in out if row is not None])


OPERATORS = {"scan": scan_relation}
