"""Runs a parsed query over in-memory tables: ``let`` bindings (scalars, tables, functions),
tabular sources, then the pipeline operators (tabular.py, joins.py, expand.py).

Rows coming from a :class:`Table` are never mutated; operators that change columns build new
dicts. A tabular ``let`` (and ``materialize()``) is evaluated once, when first used.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any, Mapping

from . import syntax as s
from .catalog import DEFENDER_FUNCTIONS, is_real_function
from .compiler import Compiled, Scope, UserFunction, compile_expr, constant
from .convert import convert_to
from .defender import assigned_ip_addresses, inbound_external_network_events
from .errors import KqlError, did_you_mean, not_supported, semantic_error
from .external import Resolver, evaluate_external
from .expand import OPERATORS as EXPAND_OPERATORS
from .graph import OPERATORS as GRAPH_OPERATORS
from .find import find_relation
from .joins import OPERATORS as JOIN_OPERATORS
from .joins import search_relation, union_relations
from .makeseries import OPERATORS as SERIES_OPERATORS
from .model import UTC, Column, QueryResult, Relation, Table
from .parser import parse
from .reshape import OPERATORS as RESHAPE_OPERATORS
from .parsekv import OPERATORS as PARSE_KV_OPERATORS
from .scan import OPERATORS as SCAN_OPERATORS
from .schemas import unserved_table_hint
from .specials import bind_arguments
from .tabular import OPERATORS as TABULAR_OPERATORS

MAX_RANGE_ROWS = 1_000_000
_OPERATORS = {**TABULAR_OPERATORS, **JOIN_OPERATORS, **EXPAND_OPERATORS, **SERIES_OPERATORS,
              **RESHAPE_OPERATORS, **GRAPH_OPERATORS, **SCAN_OPERATORS,
              **PARSE_KV_OPERATORS}


class _TabularLet:
    """A tabular ``let`` (or a table passed to a function): evaluated once, when first used."""

    def __init__(self, node: Any, env: dict, result: Relation | None = None) -> None:
        self.node, self.env, self.result = node, env, result

    def evaluate(self, evaluator: "Evaluator") -> Relation:
        if self.result is None:
            self.result = evaluator.source(self.node, self.env)
        return self.result


class Evaluator:
    """Evaluates one query against ``tables`` with a fixed clock."""

    def __init__(self, tables: Mapping[str, Table], now: datetime, timespan: timedelta | None = None) -> None:
        self.tables = tables
        self.now = now
        self.timespan = timespan
        self.table_names = frozenset(tables)
        self.rows_scanned = 0
        self.call_depth = 0
        # bag_unpack over rows with no bag to unpack: its columns are unknowable, so the names the
        # query goes on to use are taken as properties real data would have had (see run_query)
        self.external = None  # externaldata's local copies: fn(url) -> text | None (see .external)
        self.empty_unpack = False
        self.unpack_assumed: frozenset[str] = frozenset()

    def run(self, query: s.Query) -> Relation:
        return self.pipeline(query.body, self.bind_lets(query.lets, {}))

    # ---- names ----
    def bind_lets(self, lets, env: dict) -> dict:
        for let in lets:
            env = {**env, let.name: self._bind(let, env)}
        return env

    def _bind(self, let: s.Let, env: dict) -> Any:
        value = let.value
        if type(value) is s.FunctionDef:
            return UserFunction(let.name, value, env)
        if type(value) is s.Pipeline:
            return _TabularLet(value, env)
        scope = self.scope(Relation([], []), env, "let")
        if type(value) is s.Name and scope.is_tabular(value.name):
            return _TabularLet(s.TableRef(value.name, value.pos), env)
        if type(value) is s.Call and isinstance(env.get(value.name), UserFunction) and env[value.name].tabular:
            return _TabularLet(s.CallSource(value.name, value.args, value.pos), env)
        compiled = compile_expr(value, scope)
        if not compiled.const:
            try:
                compiled = constant(compiled.fn({}), compiled.type)
            except KeyError as exc:  # a column read outside any row
                raise scope.error(let.pos, f"'{let.name}' uses the column {exc} outside a query operator",
                                  name=let.name) from None
        return compiled

    def scope(self, relation: Relation, env: dict, operator: str) -> Scope:
        return Scope(relation.types(), env, operator, self.now, self.table_names,
                     lambda node: self._tabular_item(node, env), self)

    def fixed(self, relation: Relation) -> _TabularLet:
        """A binding that is already evaluated (mv-apply's per-row table)."""
        return _TabularLet(None, {}, relation)

    def _tabular_item(self, node: Any, env: dict) -> Relation:
        if type(node) is s.Name:
            node = s.TableRef(node.name, node.pos)
        return self.source(node, env)

    # ---- sources ----
    def source(self, node: Any, env: dict) -> Relation:
        kind = type(node)
        if kind is s.Pipeline:
            return self.pipeline(node, env)
        if kind is s.TableRef:
            return self._table(node, env)
        if kind is s.UnionOp:
            return union_relations(self, node, env)
        if kind is s.Search:
            return search_relation(self, node, env)
        if kind is s.Find:
            return find_relation(self, node, env)
        if kind is s.CallSource:
            return self._call_source(node, env)
        if kind is s.DataTable:
            return self._datatable(node, env)
        if kind is s.RangeSource:
            return self._range(node, env)
        if kind is s.PrintSource:
            return self._print(node, env)
        if kind is s.ExternalData:
            scope = self.scope(Relation([], []), env, node.text)

            def value_of(expr):
                compiled = compile_expr(expr, scope)
                if not compiled.const:
                    raise scope.error(node.pos, f"the URLs and options of '{node.text}' must be constants")
                return compiled.value
            return evaluate_external(node, self.external, value_of)
        raise semantic_error(None, getattr(node, "pos", (1, 1)), "expected a tabular expression")

    def _table(self, node: s.TableRef, env: dict) -> Relation:
        bound = env.get(node.name)
        if isinstance(bound, _TabularLet):
            return bound.evaluate(self)
        if isinstance(bound, UserFunction):
            return self.call_function(bound, s.Call(node.name, (), node.pos), env)
        if isinstance(bound, Compiled):
            raise semantic_error(None, node.pos, f"'{node.name}' is a scalar value, not a table", name=node.name)
        table = self.tables.get(node.name)
        if table is None:
            if "*" in node.name:
                raise semantic_error(None, node.pos, f"a wildcard table name ('{node.name}') can only be used "
                                                     "in 'union'", name=node.name)
            known = list(self.tables) + [k for k, v in env.items() if isinstance(v, (_TabularLet, UserFunction))]
            raise semantic_error(None, node.pos, f"Failed to resolve table or column expression named "
                                                 f"'{node.name}'", name=node.name,
                                 hint=unserved_table_hint(node.name) or did_you_mean(node.name, known))
        rows = table.rows
        self.rows_scanned += len(rows)
        if self.timespan is not None and any(c.name == "Timestamp" and c.type == "datetime" for c in table.columns):
            since = self.now - self.timespan
            rows = [r for r in rows if (t := r["Timestamp"]) is not None and t >= since]
        return Relation(list(table.columns), rows)

    def _call_source(self, node: s.CallSource, env: dict) -> Relation:
        name = node.name
        bound = env.get(name)
        if isinstance(bound, UserFunction):
            if not bound.tabular:
                raise semantic_error(None, node.pos, f"'{name}' returns a scalar value, not a table", name=name)
            return self.call_function(bound, node, env)
        if name == "materialize":
            return self.source(node.args[0], env)
        if name == "table" and len(node.args) == 1:
            arg = compile_expr(node.args[0], self.scope(Relation([], []), env, "table"))
            if arg.const and isinstance(arg.value, str):
                return self._table(s.TableRef(arg.value, node.pos), env)
        if name == "AssignedIPAddresses":
            return assigned_ip_addresses(self, node, env)
        if name == "InboundExternalNetworkEvents":
            return inbound_external_network_events(self, node, env)
        if name in DEFENDER_FUNCTIONS or is_real_function(name):
            raise not_supported(f"{name}()", node.pos, name=name)
        known = [k for k, v in env.items() if isinstance(v, UserFunction)] + sorted(DEFENDER_FUNCTIONS)
        raise semantic_error(None, node.pos, f"Unknown function: '{name}'", hint=did_you_mean(name, known), name=name)

    def call_function(self, function: UserFunction, call: Any, env: dict, piped: Relation | None = None) -> Relation:
        """A tabular user-defined function's rows; ``piped`` is the table of ``T | invoke f()``."""
        scope = self.scope(Relation([], []), env, "let")
        params = function.definition.params
        args = call.args
        if piped is not None:
            if not params or params[0].type != "table":
                raise scope.error(call.pos, f"'{function.name}' takes no table as its first parameter, so it "
                                            "cannot be invoked", name=function.name)
            args = (s.Name("\0piped", call.pos),) + tuple(args)
            env = {**env, "\0piped": self.fixed(piped)}
        tables = {p.name for p in params if p.type == "table"}

        def compile_arg(node: Any):
            return node

        raw = bind_arguments(s.Call(function.name, args, call.pos), function, compile_arg, scope)
        bindings: dict[str, Any] = {}
        for name, node in raw.items():
            if name in tables:
                target = s.TableRef(node.name, node.pos) if type(node) is s.Name else node
                bindings[name] = _TabularLet(target, env)
            else:
                bindings[name] = self._bind(s.Let(name, node, getattr(node, "pos", call.pos)), env)
        if self.call_depth >= 32:
            raise scope.error(call.pos, "functions call each other more than 32 levels deep",
                              code="LimitsExceeded", name=function.name)
        self.call_depth += 1
        try:
            inner = self.bind_lets(function.definition.lets, {**function.env, **bindings})
            return self.pipeline(function.definition.body, inner)
        finally:
            self.call_depth -= 1

    def _datatable(self, node: s.DataTable, env: dict) -> Relation:
        scope = self.scope(Relation([], []), env, "datatable")
        width = len(node.columns)
        if len(node.values) % width:
            raise scope.error(node.pos, f"datatable has {width} columns but {len(node.values)} values "
                                        f"(not a multiple of {width})")
        values = []
        for v in node.values:
            compiled = compile_expr(v, scope)
            if not compiled.const:
                raise scope.error(getattr(v, "pos", node.pos), "datatable values must be constants")
            values.append(compiled.value)
        rows = []
        for i in range(0, len(values), width):
            row = {}
            for (name, kql), value in zip(node.columns, values[i:i + width]):
                row[name] = convert_to(value, kql) if value is not None else ("" if kql == "string" else None)
            rows.append(row)
        return Relation([Column(n, k) for n, k in node.columns], rows)

    def _range(self, node: s.RangeSource, env: dict) -> Relation:
        scope = self.scope(Relation([], []), env, "range")
        low, high, step = (compile_expr(n, scope) for n in (node.start, node.stop, node.step))
        if not (low.const and high.const and step.const):
            raise scope.error(node.pos, "the bounds and step of 'range' must be constants")
        rows, value = [], low.value
        try:
            zero = step.value * 0
            while value is not None and value <= high.value and step.value > zero:
                rows.append({node.name: value})
                if len(rows) > MAX_RANGE_ROWS:
                    raise scope.error(node.pos, f"'range' produces more than {MAX_RANGE_ROWS:,} rows",
                                      code="LimitsExceeded")
                value = value + step.value
        except TypeError:
            raise scope.error(node.pos, f"'range' cannot step from {low.type} by {step.type}") from None
        kind = low.type if low.type != "int" else "long"
        return Relation([Column(node.name, kind)], rows)

    def _print(self, node: s.PrintSource, env: dict) -> Relation:
        empty = Relation([], [{}])
        from .tabular import extend_rows
        return extend_rows(self, "print", node.items, empty, env)

    def pipeline(self, node: s.Pipeline, env: dict) -> Relation:
        relation = self.source(node.source, env)
        for op in node.operators:
            relation = _OPERATORS[op.name](self, op, relation, env)
            if op.name == "as":  # T | as X | ... join (X): the rows so far, by name, for what follows
                env = {**env, op.args[0]: self.fixed(relation)}
        return relation


_UNRESOLVED = ("Failed to resolve scalar expression named", "Failed to resolve column named")
_MAX_ASSUMED = 64


def run_query(query: str, tables: Mapping[str, Table], *, now: datetime | None = None,
              max_rows: int = 100_000, timespan: timedelta | None = None,
              external: Resolver | None = None) -> QueryResult:
    """Run a KQL query (the documented subset) over ``tables``.

    ``now`` fixes ``now()`` and ``ago()`` (default: the current UTC time). At most ``max_rows``
    rows are returned, like the hunting APIs; ``stats["truncated"]`` says when rows were cut.
    ``timespan`` (e.g. Graph's ``Timespan: P30D``) drops rows whose ``Timestamp`` is older than
    ``now - timespan`` before the query runs. ``external(url)`` gives ``externaldata`` the text of
    a local copy of ``url`` (None: no copy, and the query is refused). Raises :class:`KqlError` for any query the service
    would reject, or that is outside the simulator's subset.
    """
    started = time.perf_counter()
    if not isinstance(query, str):
        raise KqlError("the query must be a string", code="SyntaxError", line=1, column=1)
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    syntax = parse(query)
    assumed: set[str] = set()
    while True:
        evaluator = Evaluator(tables, now, timespan)
        evaluator.unpack_assumed = frozenset(assumed)
        evaluator.external = external
        try:
            result = evaluator.run(syntax)
            break
        except RecursionError:
            raise KqlError("the query is nested too deeply to evaluate", code="LimitsExceeded", line=1,
                           column=1) from None
        except KqlError as err:
            if not (evaluator.empty_unpack and err.name and err.name not in assumed
                    and any(u in err.message for u in _UNRESOLVED) and len(assumed) < _MAX_ASSUMED):
                raise
            assumed.add(err.name)  # a property of the bags the simulated rows did not hold: null
    names = [c.name for c in result.columns]
    rows = [{n: r.get(n) for n in names} for r in result.rows[:max_rows]]
    stats = {"rows_scanned": evaluator.rows_scanned, "rows_returned": len(rows),
             "truncated": len(result.rows) > max_rows, "elapsed_seconds": time.perf_counter() - started}
    return QueryResult(list(result.columns), rows, stats)

