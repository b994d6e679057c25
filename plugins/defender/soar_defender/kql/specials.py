"""The functions the compiler cannot treat as plain functions of their arguments: they need the
query's clock (``ago``, ``now``), a table (``toscalar``), the row (``ingestion_time``,
``column_ifexists``, ``pack_all``, ``pack_array(*)``), the neighbouring rows (``prev``,
``next``, ``row_number``, ``row_cumsum``), or are user-defined (``let f = (x) {...}``).
They register themselves in :data:`compiler.SPECIAL`.
"""

from __future__ import annotations

from dataclasses import replace
from operator import itemgetter
from typing import Any, Callable

from . import operators as ops
from . import syntax as s
from .compiler import SPECIAL, Compiled, Scope, UserFunction, _apply, _fold, compile_expr, constant
from .errors import not_supported
from .functions import FUNCTIONS

MAX_CALL_DEPTH = 32
_WINDOW_FUNCTIONS = frozenset({"row_number", "row_cumsum", "prev", "next", "row_rank", "row_rank_dense",
                               "row_rank_min", "row_window_session"})
_LIMITS = {"prev": (1, 3), "next": (1, 3), "row_number": (0, 2), "row_cumsum": (1, 2), "row_rank_dense": (1, 2),
           "row_rank_min": (1, 2), "row_window_session": (3, 4)}  # (min, max) arguments


def _user_call(node: s.Call, function: UserFunction, scope: Scope) -> Compiled:
    """A scalar user-defined function: its body compiled with the arguments in place of the
    parameters (as Kusto expands functions inline)."""
    if function.tabular:
        raise scope.error(node.pos, f"'{function.name}' returns a table; use it where a table is expected "
                                    "(after 'in', in 'join', 'union' or as the query's source)", name=function.name)
    bindings = dict(bind_arguments(node, function, lambda a: compile_expr(a, scope), scope))
    host = scope.host
    if host.call_depth >= MAX_CALL_DEPTH:
        raise scope.error(node.pos, f"functions call each other more than {MAX_CALL_DEPTH} levels deep",
                          code="LimitsExceeded", name=function.name)
    host.call_depth += 1
    try:
        env = host.bind_lets(function.definition.lets, {**function.env, **bindings})
        columns = {k: v for k, v in scope.columns.items() if k not in env}
        inner = replace(scope, columns=columns, bindings=env)
        return compile_expr(function.definition.body, inner)
    finally:
        host.call_depth -= 1


def bind_arguments(node: Any, function: UserFunction, compile_arg: Callable, scope: Scope) -> dict:
    """Parameter name → compiled argument, positional or named, defaults filled in."""
    params = function.definition.params
    values: dict[str, Any] = {}
    positional = [a for a in node.args if type(a) is not s.NamedArg]
    if len(positional) > len(params):
        raise scope.error(node.pos, f"function '{function.name}' expects at most {len(params)} arguments, "
                                    f"got {len(node.args)}", name=function.name)
    for param, arg in zip(params, positional):
        values[param.name] = compile_arg(arg)
    for arg in node.args:
        if type(arg) is s.NamedArg:
            if arg.name not in {p.name for p in params}:
                raise scope.error(arg.pos, f"function '{function.name}' has no parameter '{arg.name}'",
                                  name=arg.name)
            values[arg.name] = compile_arg(arg.expr)
    for param in params:
        if param.name not in values:
            if param.default is None:
                raise scope.error(node.pos, f"function '{function.name}' needs a value for '{param.name}'",
                                  name=function.name)
            values[param.name] = compile_arg(param.default)
    return values


def _toscalar(node: s.Call, scope: Scope) -> Compiled:
    if len(node.args) != 1:
        raise scope.error(node.pos, "toscalar() expects one tabular expression", name="toscalar")
    arg = node.args[0]
    if type(arg) is not s.Pipeline:  # toscalar(1 + 2), toscalar(array_length(a))
        return compile_expr(arg, scope)
    if not arg.operators and type(arg.source) is s.TableRef and \
            isinstance(scope.bindings.get(arg.source.name), Compiled):  # let n = 5; toscalar(n)
        return scope.bindings[arg.source.name]
    relation = scope.run_tabular(node.args[0])
    if not relation.columns:
        return constant(None, "dynamic")
    first = relation.columns[0]
    value = relation.rows[0][first.name] if relation.rows else ("" if first.type == "string" else None)
    return constant(value, first.type)


def _ingestion_time(node: s.Call, scope: Scope) -> Compiled:
    """The simulator ingests each event when it happens: a row's ingestion time is its Timestamp
    (null once the row no longer has one, e.g. after 'summarize')."""
    if node.args:
        raise scope.error(node.pos, "function 'ingestion_time' expects 0 arguments", name="ingestion_time")
    if scope.columns.get("Timestamp") == "datetime":
        return Compiled(itemgetter("Timestamp"), "datetime", column="Timestamp")
    return constant(None, "datetime")


def _column_ifexists(node: s.Call, scope: Scope) -> Compiled:
    # the name is a constant string: a literal, or a let bound to one (let KeyColumn = 'DeviceId')
    name = compile_expr(node.args[0], scope) if len(node.args) == 2 else None
    if name is None or not name.const or name.type != "string":
        raise scope.error(node.pos, "column_ifexists() expects a column name (a constant string) and a "
                                    "default value", name="column_ifexists")
    name = name.value
    if name in scope.columns:
        return Compiled(itemgetter(name), scope.columns[name], column=name)
    return compile_expr(node.args[1], scope)


def _pack_all(node: s.Call, scope: Scope) -> Compiled:
    skip_empty = bool(node.args) and type(node.args[0]) is s.Literal and node.args[0].value is True
    names = list(scope.columns)

    def fn(row):
        return {n: row[n] for n in names if not (skip_empty and (row[n] is None or row[n] == ""))}
    return Compiled(fn, "dynamic")


def _pack_array_star(node: s.Call, scope: Scope) -> Compiled:
    if len(node.args) == 1 and type(node.args[0]) is s.Star:
        names = list(scope.columns)
        return Compiled(lambda row: [row[n] for n in names], "dynamic")
    function = FUNCTIONS["pack_array"]
    return _apply(function.impl, [compile_expr(a, scope) for a in node.args], "dynamic")


class Window:
    """The rows of one extend/project, in order, and the one being computed: window functions
    (``prev()``, ``next()``, ``row_number()``, ``row_cumsum()``) read their neighbours here."""

    def __init__(self, rows: list) -> None:
        self.rows = rows
        self.index = 0
        self.used = False


def _window(node: s.Call, scope: Scope) -> Compiled:
    name, window = node.name, scope.window
    if name not in _LIMITS:
        raise not_supported(f"{name}()", node.pos, operator=scope.operator, name=name)
    if window is None:
        raise scope.error(node.pos, f"{name}() works on serialized rows: use it in 'extend', 'project' or "
                                    "'where' (after 'serialize', 'sort' or 'top')", name=name)
    args = [compile_expr(a, scope) for a in node.args]
    limits = _LIMITS[name]
    if not limits[0] <= len(args) <= limits[1]:
        raise scope.error(node.pos, f"function '{name}' expects {limits[0]} to {limits[1]} arguments, got "
                                    f"{len(args)}", name=name)
    window.used = True
    if name in ("prev", "next"):
        value = args[0].fn
        offset = args[1].value if len(args) > 1 and args[1].const and isinstance(args[1].value, int) else 1
        default = args[2].value if len(args) > 2 and args[2].const else ("" if args[0].type == "string" else None)
        step = -offset if name == "prev" else offset

        def neighbour(row):
            i = window.index + step
            return value(window.rows[i]) if 0 <= i < len(window.rows) else default
        return Compiled(neighbour, args[0].type)
    state = {"start": 0, "total": None}
    restart = args[-1].fn if len(args) == 2 else None
    if name == "row_number":
        first = args[0].value if args and args[0].const and isinstance(args[0].value, int) else 1

        def number(row):
            if restart is not None and restart(row) is True:
                state["start"] = window.index
            return first + window.index - state["start"]
        return Compiled(number, "long")
    if name in ("row_rank_dense", "row_rank_min"):
        return _rank(name, args[0].fn, window, restart)
    if name == "row_window_session":
        return _session(node, args, window, scope)
    term = args[0].fn

    def cumulative(row):
        if window.index == 0 or restart is not None and restart(row) is True:
            state["total"] = None
        value = term(row)
        if value is not None:
            state["total"] = value if state["total"] is None else state["total"] + value
        return state["total"]
    return Compiled(cumulative, "long" if args[0].type == "int" else args[0].type)


def _rank(name: str, term: Callable, window: Window, restart: Callable | None) -> Compiled:
    """``row_rank_dense(T [, restart])``: 1, then +1 whenever T differs from the previous row's;
    ``row_rank_min(T [, restart])``: the row number (from the last restart) of the first row of
    each run of equal T. ``restart`` true starts again at 1."""
    state = {"rank": 0, "last": object(), "start": 0}

    def rank(row):
        value = term(row)
        restarted = window.index == 0 or restart is not None and restart(row) is True
        if restarted:
            state["start"] = window.index
        if restarted or value != state["last"]:
            dense = name == "row_rank_dense"
            state["rank"] = (1 if restarted else state["rank"] + 1) if dense else window.index - state["start"] + 1
        state["last"] = value
        return state["rank"]
    return Compiled(rank, "long")


def _session(node: s.Call, args: list[Compiled], window: Window, scope: Scope) -> Compiled:
    """``row_window_session(Expr, MaxFromFirst, MaxBetweenNeighbours [, Restart])``: the Expr of
    the first row of the row's session; a session ends when Expr is further than MaxFromFirst from
    its first row's, or than MaxBetweenNeighbours from the previous row's, or Restart is true."""
    expr, longest, gap = args[0], args[1], args[2]
    if not (longest.const and gap.const):
        raise scope.error(node.pos, "the two distances of row_window_session() must be constants",
                          name=node.name)
    restart = args[3].fn if len(args) == 4 else None
    state: dict = {"first": None, "last": None}

    def session(row):
        value = expr.fn(row)
        first, last = state["first"], state["last"]
        if window.index == 0 or value is None or first is None or last is None \
                or (restart is not None and restart(row) is True) \
                or abs(value - first) > longest.value or abs(value - last) > gap.value:
            state["first"] = value
        state["last"] = value
        return state["first"]
    return Compiled(session, expr.type)


def _tabular_only(node: s.Call, scope: Scope) -> Compiled:
    raise scope.error(node.pos, f"'{node.name}()' returns a table and cannot be used as a scalar value",
                      name=node.name)


def _search_term(node: s.Call, scope: Scope) -> Compiled:
    """``search "term"`` and ``where * has "term"``: some string or dynamic column has the term."""
    compiled = compile_expr(node.args[0], scope)
    if not compiled.const:
        raise scope.error(node.pos, "the term of '* has' must be a constant string")
    term, case_sensitive = ops.to_kql_string(compiled.value), node.args[1].value
    search = ops.has_pattern(term, case_sensitive).search if term else None
    names = [n for n, t in scope.columns.items() if t in ("string", "dynamic") and n != "$table"]
    by_table = {label: [n for n in names if n in cols] for label, cols in (scope.search_columns or {}).items()}

    def fn(row):
        read = by_table.get(row.get("$table"), names) if by_table else names
        return search is not None and any(search(v if type(v) is str else ops.to_kql_string(v)) is not None
                                          for n in read if (v := row[n]) is not None)
    return Compiled(fn, "bool")


SPECIAL.update({
    "\0search": _search_term,
    "toscalar": _toscalar, "ingestion_time": _ingestion_time, "column_ifexists": _column_ifexists,
    "pack_all": _pack_all, "pack_array": _pack_array_star, "materialize": _tabular_only,
    **{name: _window for name in _WINDOW_FUNCTIONS},
})


def _clock(node: s.Call, scope: Scope) -> Compiled:
    """ago(span) and now([offset]), both relative to the query's fixed clock."""
    if node.name == "now" and not node.args:
        return constant(scope.now, "datetime")
    if len(node.args) != 1:
        expected = "1 argument" if node.name == "ago" else "0 or 1 arguments"
        raise scope.error(node.pos, f"function '{node.name}' expects {expected}, got {len(node.args)}",
                          name=node.name)
    arg = compile_expr(node.args[0], scope)
    if arg.type not in ("timespan", "dynamic"):
        raise scope.error(node.pos, f"{node.name}() expects a timespan such as 7d or 1h, not {arg.type}",
                          name=node.name)
    now, f, sign = scope.now, arg.fn, -1 if node.name == "ago" else 1

    def fn(row):
        span = f(row)
        try:
            return None if span is None else now + sign * span
        except (TypeError, OverflowError):
            return None
    return _fold(Compiled(fn, "datetime"), [arg])


SPECIAL["ago"] = SPECIAL["now"] = _clock
SPECIAL["\0user"] = lambda node, scope: _user_call(node, scope.bindings[node.name], scope)
