"""Scalar expressions → Python closures, compiled once per operator with static KQL types.

Compiling checks what the real service checks before running anything: every name is a column
or a ``let``, functions exist and get arguments of the right types, compared values have
compatible types. The closures then run per row without walking the tree again. Constant
sub-expressions (``ago(7d)``, ``1h * 24``) are folded at compile time.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from operator import itemgetter
from typing import Any, Callable, Mapping

from . import operators as ops
from . import syntax as s
from .catalog import PLUGINS, SCALAR_FUNCTIONS, is_real_function
from .dynamic import parse_json
from .errors import KqlError, did_you_mean, not_supported, semantic_error
from .model import to_kql_string
from .functions import AGGREGATE_NAMES, FUNCTIONS
from .naming import result_name

#: Functions that need the query's clock, a table or the row (specials.py fills it).
SPECIAL: dict[str, Callable[["s.Call", "Scope"], "Compiled"]] = {}


@dataclass(slots=True)
class Compiled:
    """A compiled expression: ``fn(row)`` computes it; ``type`` is its KQL type."""

    fn: Callable[[Mapping], Any]
    type: str
    const: bool = False
    value: Any = None
    column: str | None = None  # set when fn just reads this column


def constant(value: Any, kql: str) -> Compiled:
    return Compiled(lambda row: value, kql, True, value)


@dataclass(frozen=True)
class UserFunction:
    """``let f = (params) { body };`` bound with the names visible where it was defined."""

    name: str
    definition: s.FunctionDef
    env: Mapping[str, Any]

    @property
    def tabular(self) -> bool:
        return type(self.definition.body) is s.Pipeline


@dataclass(frozen=True)
class Scope:
    """What names mean while compiling one operator's expressions."""

    columns: Mapping[str, str]  # column name → KQL type, in column order
    bindings: Mapping[str, Any]  # let name → Compiled (scalar) or a tabular binding
    operator: str  # the tabular operator, for error messages ('where', 'extend', 'let', ...)
    now: datetime
    table_names: frozenset[str] = frozenset()
    run_tabular: Callable[[Any], Any] | None = None  # Pipeline, Name or CallSource → Relation
    host: Any = None  # the Evaluator: binds a function body's own lets, counts call depth
    window: Any = None  # a Window while compiling extend/project: rows in order, for prev()/next()
    search_columns: Mapping[str, frozenset] | None = None  # search: $table → the columns its rows fill

    def error(self, pos: s.Pos, detail: str, **kw) -> KqlError:
        return semantic_error(self.operator, pos, detail, **kw)

    def with_columns(self, columns: Mapping[str, str]) -> "Scope":
        return replace(self, columns=columns)

    def is_tabular(self, name: str) -> bool:
        """True when ``name`` means a table here (a tabular let or a table, not a column)."""
        if name in self.columns:
            return False
        bound = self.bindings.get(name)
        return (bound is not None and not isinstance(bound, (Compiled, UserFunction))) or \
            (bound is None and name in self.table_names)


def compile_expr(node: Any, scope: Scope) -> Compiled:
    """Compile one scalar expression; raise KqlError (SemanticError) with its position."""
    kind = type(node)
    if kind is s.Literal:
        return constant(node.value, node.type)
    if kind is s.Name:
        return _name(node, scope)
    if kind is s.Call:
        return _call(node, scope)
    if kind is s.Member:
        return _member(node, scope)
    if kind is s.NamedArg:
        return compile_expr(node.expr, scope)
    if kind is s.TypeOf:
        return constant(node.type, "string")
    if kind is s.Star:
        raise scope.error(node.pos, "'*' can only be used as an argument of arg_max(), arg_min(), "
                                    "take_any() or pack_array()")
    if kind is s.Binary and node.op in ("and", "or"):
        return _logical(node, scope)
    try:
        if kind is s.Binary:
            left, right = compile_expr(node.left, scope), compile_expr(node.right, scope)
            if node.op in ops.ARITHMETIC:
                fn, kql = ops.arithmetic(node.op, left, right)
                return _fold(Compiled(fn, kql), [left, right])
            build = ops.compare if node.op in ops.PYOPS else ops.string_operator
            return _fold(Compiled(build(node.op, left, right), "bool"), [left, right])
        if kind is s.Unary:
            operand = compile_expr(node.operand, scope)
            return _fold(Compiled(ops.negation(operand), operand.type), [operand])
        if kind is s.Between:
            parts = [compile_expr(n, scope) for n in (node.left, node.low, node.high)]
            return _fold(Compiled(ops.between(node.negated, *parts), "bool"), parts)
        if kind is s.InList:
            left, items = compile_expr(node.left, scope), _in_items(node, scope)
            return _fold(Compiled(ops.membership(node.op, left, items), "bool"), [left, *items])
    except ValueError as exc:
        raise scope.error(node.pos, str(exc), name=getattr(node, "op", None)) from None
    raise scope.error(getattr(node, "pos", (1, 1)), "a subquery cannot be used as a scalar value "
                                                   "(wrap it in toscalar(...))")


def _fold(result: Compiled, parts: list[Compiled]) -> Compiled:
    if all(p.const for p in parts):
        return constant(result.fn({}), result.type)
    return result


def _name(node: s.Name, scope: Scope) -> Compiled:
    kql = scope.columns.get(node.name)
    if kql is not None:
        return Compiled(itemgetter(node.name), kql, column=node.name)
    bound = scope.bindings.get(node.name)
    if isinstance(bound, Compiled):
        return bound
    if scope.is_tabular(node.name):
        raise scope.error(node.pos, f"'{node.name}' is a table, not a scalar value (use it after "
                                    "'in' or 'join')", name=node.name)
    known = list(scope.columns) + [k for k, v in scope.bindings.items() if isinstance(v, Compiled)]
    hint = did_you_mean(node.name, known)
    if node.name == "TimeGenerated" and "Timestamp" in scope.columns:
        hint = ("the Defender XDR tables name the event time Timestamp; TimeGenerated is its name in "
                "Microsoft Sentinel's Log Analytics tables")
    raise scope.error(node.pos, f"Failed to resolve scalar expression named '{node.name}'", hint=hint,
                      name=node.name)


def _is_tabular_call(node: Any, scope: Scope) -> bool:
    bound = scope.bindings.get(node.name) if type(node) is s.Call else None
    return isinstance(bound, UserFunction) and bound.tabular


def _in_items(node: s.InList, scope: Scope) -> list[Compiled]:
    items: list[Compiled] = []
    for item in node.items:
        if type(item) is s.Call and _is_tabular_call(item, scope):
            item = s.CallSource(item.name, item.args, item.pos)
        if type(item) in (s.Pipeline, s.CallSource) or (type(item) is s.Name and scope.is_tabular(item.name)):
            relation = scope.run_tabular(item)
            if not relation.columns:
                raise scope.error(item.pos, "the subquery after 'in' returns no columns")
            first = relation.columns[0]
            items += [constant(r[first.name], first.type) for r in relation.rows]
        else:
            items.append(compile_expr(item, scope))
    return items


def _truth(fn: Callable) -> Callable:
    """A dynamic value as a KQL bool: only true is true."""
    return lambda row: v if isinstance(v := fn(row), bool) else None


def _logical(node: s.Binary, scope: Scope) -> Compiled:
    operands, stack = [], [node]
    while stack:  # flatten a and b and c ... without recursing
        n = stack.pop()
        if type(n) is s.Binary and n.op == node.op:
            stack += [n.right, n.left]
        else:
            operands.append(n)
    parts = [compile_expr(o, scope) for o in operands]
    for part, o in zip(parts, operands):
        if part.type not in ("bool", "dynamic"):
            raise scope.error(getattr(o, "pos", node.pos), f"'{node.op}' needs Boolean operands, "
                              f"but this operand is of type {part.type}", name=node.op)
    fns = [p.fn if p.type == "bool" else _truth(p.fn) for p in parts]
    if node.op == "and" and len(fns) == 2:
        a, b = fns
        fn = lambda row: a(row) and b(row)  # noqa: E731
    elif node.op == "and" and len(fns) == 3:
        a, b, c = fns
        fn = lambda row: a(row) and b(row) and c(row)  # noqa: E731
    else:
        stop_on = node.op == "or"  # 'and' stops at the first falsy operand, 'or' at the first true one

        def fn(row):
            result = None
            for f in fns:
                result = f(row)
                if bool(result) is stop_on:
                    return result
            return result
    return _fold(Compiled(fn, "bool"), parts)


def _get(target: Any, key: Any) -> Any:
    if isinstance(target, dict) and isinstance(key, str):
        return target.get(key)
    if isinstance(target, list) and isinstance(key, int) and not isinstance(key, bool):
        return target[key] if -len(target) <= key < len(target) else None
    return None


def _member(node: s.Member, scope: Scope) -> Compiled:
    target = compile_expr(node.target, scope)
    if target.type == "string":  # a JSON string column (AdditionalFields) read like a dynamic one
        text = target.fn
        target = _fold(Compiled(lambda row: parse_json(text(row)), "dynamic"), [target])
    if target.type != "dynamic":
        raise scope.error(node.pos, f"only dynamic values have properties or elements, this value is "
                                    f"of type {target.type} (use parse_json() first)")
    key = constant(node.key, "string") if isinstance(node.key, str) else compile_expr(node.key, scope)
    if key.type not in ("string", "int", "long", "dynamic"):
        raise scope.error(node.pos, f"an index must be a string or an integer, not {key.type}")
    tf, kf = target.fn, key.fn
    return _fold(Compiled(lambda row: _get(tf(row), kf(row)), "dynamic"), [target, key])


def _call(node: s.Call, scope: Scope) -> Compiled:
    name = node.name
    special = SPECIAL.get(name)
    if special is not None:
        return special(node, scope)
    bound = scope.bindings.get(name)
    if isinstance(bound, UserFunction):
        return SPECIAL["\0user"](node, scope)
    function = FUNCTIONS.get(name)  # hll_merge(h1, h2): a scalar form beside the aggregation
    if name in AGGREGATE_NAMES and not (function and function.min_args <= len(node.args) <= function.max_args):
        raise scope.error(node.pos, f"'{name}()' is an aggregation function; it can only be used in "
                                    "'summarize'", name=name)
    if function is None:
        if is_real_function(name):
            raise not_supported(f"{name}()", node.pos, operator=scope.operator, name=name)
        if name in PLUGINS:
            raise scope.error(node.pos, f"'{name}' is a plugin: call it as a step, '| evaluate {name}(...)'",
                              name=name)
        known = list(FUNCTIONS) + list(SCALAR_FUNCTIONS) + list(AGGREGATE_NAMES) + ["ago", "now"] + \
            [k for k, v in scope.bindings.items() if isinstance(v, UserFunction)]
        raise scope.error(node.pos, f"Unknown function: '{name}'", hint=did_you_mean(name, known), name=name)
    if function.outputs:
        raise scope.error(node.pos, f"{name}() returns several columns: name them with (a, b, ...) = {name}(...), "
                                    "or leave them unnamed in 'extend'", name=name)
    args = _arguments(node, function, scope)
    result, impl = _result_type(node, function, args, scope), function.impl
    if result == "string" and name in _BRANCHING and any(a.type == "dynamic" for a in args):
        impl = _as_text(impl)  # a dynamic branch read as a string (see functions._branches)
    return _apply(impl, args, result, fold=name not in ("rand", "new_guid"))


_BRANCHING = frozenset({"iff", "iif", "case"})


def _as_text(impl):
    return lambda *values: to_kql_string(impl(*values))


def _arguments(node: s.Call, function, scope: Scope) -> list[Compiled]:
    name = node.name
    if not function.min_args <= len(node.args) <= function.max_args:
        expected = (str(function.min_args) if function.min_args == function.max_args
                    else f"{function.min_args} to {function.max_args}")
        raise scope.error(node.pos, f"function '{name}' expects {expected} arguments, got "
                                    f"{len(node.args)}", name=name)
    return [compile_expr(a, scope) for a in node.args]


def _result_type(node: s.Call, function, args: list[Compiled], scope: Scope) -> str:
    name = node.name
    types = [a.type for a in args]
    try:
        result = function.result(name, types)
    except ValueError as exc:
        raise scope.error(node.pos, str(exc), name=name) from None
    if function.type_arg is not None and len(node.args) > function.type_arg:
        type_node = node.args[function.type_arg]
        if type(type_node) is not s.TypeOf:
            raise scope.error(node.pos, f"argument {function.type_arg + 1} of {name}() must be a type "
                                        "such as typeof(long)", name=name)
        result = type_node.type
    return result


def tuple_columns(node: Any, scope: Scope, names: tuple = (), prefix: str | None = None
                  ) -> list[tuple[str, Compiled]] | None:
    """The columns of a function returning several (``series_stats(x)``), named ``names``, or
    ``<prefix>_<part>`` (``s = series_stats(x)``: ``s_min``, ...), or ``<function>_<argument>_<part>``;
    None when ``node`` is no such call."""
    function = FUNCTIONS.get(node.name) if type(node) is s.Call else None
    if function is None or not function.outputs or isinstance(scope.bindings.get(node.name), UserFunction):
        return None
    args = _arguments(node, function, scope)
    _result_type(node, function, args, scope)
    if len(names) > len(function.outputs):
        raise scope.error(node.pos, f"{len(names)} names for the {len(function.outputs)} columns of "
                                    f"{node.name}()", name=node.name)
    impl, fns, last = function.impl, [a.fn for a in args], {"row": None, "value": None}

    def whole(row):  # computed once per row, whichever of its columns asks first
        if last["row"] is not row:
            last["row"], last["value"] = row, impl(*[f(row) for f in fns])
        return last["value"]
    base = prefix or f"{node.name}_{result_name(node.args[0], '') if node.args else ''}"
    out = []
    for i, (part, kql) in enumerate(function.outputs):
        name = names[i] if i < len(names) else f"{base}_{part}"
        out.append((name, Compiled(lambda row, i=i: None if (v := whole(row)) is None else v[i], kql)))
    return out


def _apply(impl: Callable, args: list[Compiled], result: str, fold: bool = True) -> Compiled:
    fns = [a.fn for a in args]
    if not fns:
        fn = lambda row: impl()  # noqa: E731
    elif len(fns) == 1:
        a0 = fns[0]
        fn = lambda row: impl(a0(row))  # noqa: E731
    elif len(fns) == 2:
        a0, a1 = fns
        fn = lambda row: impl(a0(row), a1(row))  # noqa: E731
    else:
        fn = lambda row: impl(*[f(row) for f in fns])  # noqa: E731
    return _fold(Compiled(fn, result), args) if fold else Compiled(fn, result)


from . import specials  # noqa: E402,F401  (registers the special functions in SPECIAL)
