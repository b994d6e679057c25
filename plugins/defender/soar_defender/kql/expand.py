"""Operators that reshape rows: ``mv-expand``, ``mv-apply``, ``parse`` / ``parse-where``,
``evaluate bag_unpack()`` / ``ipv4_lookup()`` (``pivot()`` is in reshape.py) and ``invoke`` (a user function, or one of
Defender's in defender.py).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from . import syntax as s
from .catalog import PLUGINS
from .defender import INVOKED
from .compiler import UserFunction, compile_expr
from .convert import cast_to, convert_to
from .dynamic import parse_json
from .errors import did_you_mean, not_supported, semantic_error
from .model import Column, Relation, null_of, to_kql_string
from .naming import ColumnNamer
from .regex import compile_regex
from .reshape import pivot
from .tabular import count_argument

MAX_EXPANDED_ROWS = 250_000


def _elements(value: Any, kind: str) -> list:
    """What one value expands to: array items, bag entries, or the value itself."""
    if value is None:
        return [None]  # a null value still gives one row
    if isinstance(value, str):
        value = parse_json(value)
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        return [{k: v} for k, v in value.items()] if kind == "bag" else [[k, v] for k, v in value.items()]
    return [value]


def _expansion(ev, op: s.Operator, rel: Relation, env: dict):
    """(output columns, expand(row) → list of rows, the expanded and index column names) for
    mv-expand and mv-apply."""
    kind, index, items, limit = op.args[:4]
    scope = ev.scope(rel, env, op.name)
    namer = ColumnNamer(set(scope.columns))
    targets = []
    types = rel.types()
    order = [c.name for c in rel.columns]
    for assign, to_type in items:
        compiled = compile_expr(assign.expr, scope)
        name = namer.name(assign)
        namer.taken.add(name)
        targets.append((name, compiled.fn, to_type or "dynamic"))
        if name not in types:
            order.append(name)
        types[name] = to_type or "dynamic"
    if index:
        order.append(index)
        types[index] = "long"
    cap = count_argument(ev, op, limit, env) if limit is not None else None

    def expand(row: dict) -> list[dict]:
        sequences = [_elements(f(row), kind) for _, f, _ in targets]
        n = max((len(seq) for seq in sequences), default=0)
        if cap is not None:
            n = min(n, cap)
        out = []
        for i in range(n):
            new = dict(row)
            for (name, _, kql), seq in zip(targets, sequences):
                value = seq[i] if i < len(seq) else None
                new[name] = value if kql == "dynamic" else cast_to(value, kql)
            if index:
                new[index] = i
            out.append(new)
        return out
    return [Column(n, types[n]) for n in order], expand, [t[0] for t in targets] + ([index] if index else [])


def _mv_expand(ev, op: s.Operator, rel: Relation, env: dict) -> Relation:
    columns, expand, _ = _expansion(ev, op, rel, env)
    rows: list[dict] = []
    for r in rel.rows:
        rows += expand(r)
        if len(rows) > MAX_EXPANDED_ROWS:
            raise semantic_error(op.name, op.pos, f"mv-expand produces more than {MAX_EXPANDED_ROWS:,} rows; "
                                                  "add 'limit' or filter first", code="LimitsExceeded")
    return Relation(columns, rows)


def _mv_apply(ev, op: s.Operator, rel: Relation, env: dict) -> Relation:
    """``mv-apply``: each row's expanded values form a small table; the subquery runs on it, and
    the row's other columns are added to its result rows (repeated). The small table also carries
    those other columns, so the subquery may read them (``on (where FileName endswith ext)``, as
    published queries do); a result that keeps them is not given them twice."""
    columns, expand, inner_names = _expansion(ev, op, rel, env)
    outer_columns = [c for c in rel.columns if c.name not in inner_names]
    subquery = op.args[4]
    empty = ev.pipeline(subquery, {**env, "\0mv-apply": ev.fixed(Relation(columns, []))})
    result_names = {c.name for c in empty.columns}
    outer_columns = [c for c in outer_columns if c.name not in result_names]
    outer_names = [c.name for c in outer_columns]
    rows: list[dict] = []
    for r in rel.rows:
        table = Relation(columns, expand(r))
        result = ev.pipeline(subquery, {**env, "\0mv-apply": ev.fixed(table)})
        outer = {n: r[n] for n in outer_names}
        rows += [{**outer, **x} for x in result.rows]
        if len(rows) > MAX_EXPANDED_ROWS:
            raise semantic_error(op.name, op.pos, f"mv-apply produces more than {MAX_EXPANDED_ROWS:,} rows",
                                 code="LimitsExceeded")
    return Relation(outer_columns + list(empty.columns), rows)


def _parse(ev, op: s.Operator, rel: Relation, env: dict) -> Relation:
    kind, source, items, filter_rows = op.args
    scope = ev.scope(rel, env, op.name)
    text = compile_expr(source, scope).fn
    parts, columns = [], []
    for item in items:
        if item[0] == "text":
            parts.append(item[1] if kind == "regex" else re.escape(item[1]))
        elif item[0] == "star":
            parts.append(".*?")
        else:
            parts.append("(.*?)")
            columns.append((item[1], item[2]))
    try:
        regex = compile_regex("^" + "".join(parts) + "$", "s") if kind == "regex" else \
            re.compile("".join(parts) + r"\Z", re.S)
    except ValueError as exc:
        raise scope.error(op.pos, str(exc), name=op.name) from None
    empty = {name: null_of(kql) for name, kql in columns}
    relaxed = kind == "relaxed"
    out_rows = []
    for r in rel.rows:
        m = regex.match(to_kql_string(text(r)))
        values = dict(empty)
        if m:
            for (name, kql), raw in zip(columns, m.groups()):
                value = convert_to(raw, kql) if kql != "string" else raw
                if value is None and not relaxed:
                    values, m = dict(empty), None
                    break
                values[name] = value
        if m is None and filter_rows:
            continue
        out_rows.append({**r, **values})
    names = [c.name for c in rel.columns]
    out_columns = [c if c.name not in empty else Column(c.name, dict(columns)[c.name]) for c in rel.columns]
    out_columns += [Column(n, k) for n, k in columns if n not in names]
    return Relation(out_columns, out_rows)


_BAG_UNPACK_PARAMS = ("column", "OutputColumnPrefix", "columnsConflict", "ignoredProperties")


def _bag_unpack(ev, op: s.Operator, call: s.Call, rel: Relation, env: dict) -> Relation:
    scope = ev.scope(rel, env, "evaluate")
    given: dict[str, Any] = {}
    for i, arg in enumerate(call.args):
        if type(arg) is s.NamedArg:
            if arg.name not in _BAG_UNPACK_PARAMS:
                raise semantic_error("evaluate", arg.pos, f"bag_unpack() has no parameter '{arg.name}'",
                                     hint=did_you_mean(arg.name, _BAG_UNPACK_PARAMS), name=arg.name)
            given[arg.name] = arg.expr
        elif i < len(_BAG_UNPACK_PARAMS):
            given[_BAG_UNPACK_PARAMS[i]] = arg
    if "column" not in given:
        raise semantic_error("evaluate", call.pos, "bag_unpack() needs the column to unpack", name="bag_unpack")

    def constant_of(key: str, default: Any) -> Any:
        if key not in given:
            return default
        compiled = compile_expr(given[key], scope)
        return compiled.value if compiled.const else default

    target = given["column"]
    column = target.name if type(target) is s.Name else None
    values = compile_expr(target, scope).fn
    prefix = to_kql_string(constant_of("OutputColumnPrefix", ""))
    conflict = to_kql_string(constant_of("columnsConflict", "error"))
    ignored_value = constant_of("ignoredProperties", [])
    ignored = {to_kql_string(k) for k in ignored_value} if isinstance(ignored_value, list) else set()
    bags = [parse_json(values(r)) for r in rel.rows]
    keys = sorted({k for b in bags if isinstance(b, dict) for k in b if k not in ignored})
    kept = [c for c in rel.columns if c.name != column]
    kept_names = {c.name for c in kept}
    new_names = [prefix + k for k in keys]
    clashes = [n for n in new_names if n in kept_names]
    if clashes and conflict == "error":
        raise semantic_error("evaluate", call.pos, f"bag_unpack(): the property '{clashes[0]}' clashes with "
                                                   "an existing column (pass columnsConflict='replace_source' "
                                                   "or 'keep_source')", name="bag_unpack")
    if conflict == "replace_source":
        kept = [c for c in kept if c.name not in set(new_names)]
    elif conflict == "keep_source":
        keys = [k for k in keys if prefix + k not in kept_names]
    assumed: list[str] = []
    if not keys:  # nothing to unpack: the output columns depend on data these rows do not hold
        ev.empty_unpack = True
        assumed = sorted(n for n in ev.unpack_assumed if n not in kept_names)
    rows = []
    for r, bag in zip(rel.rows, bags):
        row = {c.name: r[c.name] for c in kept}
        for k in keys:
            row[prefix + k] = bag.get(k) if isinstance(bag, dict) else None
        for name in assumed:
            row[name] = None
        rows.append(row)
    return Relation(kept + [Column(prefix + k, "dynamic") for k in keys] + [Column(n, "dynamic") for n in assumed],
                    rows)


def _with_schema(rel: Relation, schema, source: Relation) -> Relation:
    """``evaluate plugin(...) : (Name:type, ...)``: exactly the declared columns, with their types;
    ``*`` stands for the plugin's input columns still in its result (and not declared)."""
    types = rel.types()
    declared = {name for name, kql in schema if kql is not None}
    expanded = []
    for name, kql in schema:
        if kql is None:
            expanded += [(c.name, c.type) for c in source.columns if c.name in types and c.name not in declared]
        else:
            expanded.append((name, kql))
    schema = expanded
    rows = []
    for r in rel.rows:
        row = {}
        for name, kql in schema:
            value = r.get(name)
            row[name] = value if types.get(name) == kql else (convert_to(value, kql) if value is not None
                                                              else null_of(kql))
        rows.append(row)
    return Relation([Column(n, k) for n, k in schema], rows)


def _ipv4_lookup(ev, call: s.Call, rel: Relation, env: dict) -> Relation:
    """``evaluate ipv4_lookup(Ranges, SourceIP, RangeColumn [, return_unmatched=true])``: each row
    gets the columns of the lookup rows whose IPv4 address or CIDR range holds its address."""
    args = [a for a in call.args if type(a) is not s.NamedArg]
    named = {a.name: a.expr for a in call.args if type(a) is s.NamedArg}
    if len(args) == 4 and type(args[3]) is s.Literal and args[3].type == "bool":
        named["return_unmatched"] = args.pop()
    if len(args) != 3 or not all(type(a) is s.Name for a in args):
        raise semantic_error("evaluate", call.pos, "ipv4_lookup() takes the lookup table, the column with "
                                                   "the address and the lookup column with the ranges",
                             name="ipv4_lookup")
    table = ev.source(s.TableRef(args[0].name, args[0].pos), env)
    source, key = args[1].name, args[2].name
    for column, where in ((source, rel), (key, table)):
        if column not in where.types():
            raise semantic_error("evaluate", call.pos, f"ipv4_lookup(): no column named '{column}'",
                                 hint=did_you_mean(column, where.types()), name=column)
    keep_unmatched = False
    if "return_unmatched" in named:
        flag = compile_expr(named["return_unmatched"], ev.scope(rel, env, "evaluate"))
        keep_unmatched = flag.const and flag.value is True
    ranges = []
    for r in table.rows:
        try:
            ranges.append((ipaddress.IPv4Network(to_kql_string(r[key]).strip(), strict=False), r))
        except ValueError:
            continue
    taken = {c.name for c in rel.columns}
    added = [c for c in table.columns if c.name not in taken]
    empty = {c.name: null_of(c.type) for c in added}
    rows = []
    for r in rel.rows:
        try:
            address = ipaddress.IPv4Address(to_kql_string(r[source]).strip())
        except ValueError:
            address = None
        matches = [m for net, m in ranges if address is not None and address in net]
        for m in matches:
            rows.append({**r, **{c.name: m[c.name] for c in added}})
        if not matches and keep_unmatched:
            rows.append({**r, **empty})
    return Relation(rel.columns + added, rows)


def _evaluate(ev, op: s.Operator, rel: Relation, env: dict) -> Relation:
    call, schema = op.args
    if call.name in ("bag_unpack", "ipv4_lookup", "pivot"):
        result = (_bag_unpack(ev, op, call, rel, env) if call.name == "bag_unpack"
                  else _ipv4_lookup(ev, call, rel, env) if call.name == "ipv4_lookup"
                  else pivot(ev, call, rel, env))
        return _with_schema(result, schema, rel) if schema else result
    if call.name in PLUGINS:
        raise not_supported(f"evaluate {call.name}()", call.pos, operator="evaluate", name=call.name)
    raise semantic_error("evaluate", call.pos, f"unknown plugin '{call.name}'",
                         hint=did_you_mean(call.name, sorted(PLUGINS)), name=call.name)


def _invoke(ev, op: s.Operator, rel: Relation, env: dict) -> Relation:
    call = op.args[0]
    bound = env.get(call.name)
    if isinstance(bound, UserFunction) and bound.tabular:
        return ev.call_function(bound, call, env, piped=rel)
    if call.name in INVOKED:
        return INVOKED[call.name](ev, call, rel, env)
    raise semantic_error("invoke", call.pos, f"Unknown function: '{call.name}' (invoke needs a function "
                                             "defined with let, or FileProfile())", name=call.name,
                         hint=did_you_mean(call.name, [k for k, v in env.items() if isinstance(v, UserFunction)]
                                           + ["FileProfile"]))


OPERATORS = {"mv-expand": _mv_expand, "mv-apply": _mv_apply, "parse": _parse, "evaluate": _evaluate,
             "invoke": _invoke}
