"""Scalar expressions → Python closures, compiled once per operator with static KQL types.

Compiling checks what the real service checks before running anything: that every name is a
column or a ``let``, that functions exist and get the right argument types, and that compared
values have compatible types. The closures then run per row without looking at the tree again.
Constant sub-expressions (``ago(7d)``, ``1h * 24``) are folded at compile time.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass, replace
from datetime import datetime
from functools import lru_cache
from operator import itemgetter
from typing import Any, Callable, Mapping

from . import syntax as s
from .errors import KqlError, did_you_mean, semantic_error
from .functions import AGGREGATE_NAMES, FUNCTIONS, KNOWN_KQL_FUNCTIONS
from .model import NUMERIC, hashable, to_kql_string

_LONG_MIN, _LONG_SPAN = -2**63, 2**64


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
class Scope:
    """What names mean while compiling one operator's expressions."""

    columns: Mapping[str, str]  # column name → KQL type, in column order
    bindings: Mapping[str, Any]  # let name → Compiled (scalar) or a tabular binding
    operator: str  # the tabular operator, for error messages ('where', 'extend', 'let', ...)
    now: datetime
    table_names: frozenset[str] = frozenset()
    run_tabular: Callable[[Any], Any] | None = None  # Pipeline → Relation, for 'in (subquery)'

    def error(self, pos: s.Pos, detail: str, **kw) -> KqlError:
        return semantic_error(self.operator, pos, detail, **kw)

    def with_columns(self, columns: Mapping[str, str]) -> "Scope":
        return replace(self, columns=columns)


def compile_expr(node: Any, scope: Scope) -> Compiled:
    """Compile one scalar expression; raise KqlError (SemanticError) with its position."""
    kind = type(node)
    if kind is s.Literal:
        return constant(node.value, node.type)
    if kind is s.Name:
        return _name(node, scope)
    if kind is s.Binary:
        if node.op in ("and", "or"):
            return _logical(node, scope)
        if node.op in _ARITH_OPS:
            return _arith(node, scope)
        if node.op in _PYOPS:
            return _compare(node, scope)
        return _string_op(node, scope)
    if kind is s.Call:
        return _call(node, scope)
    if kind is s.InList:
        return _in(node, scope)
    if kind is s.Between:
        return _between(node, scope)
    if kind is s.Unary:
        return _negate(node, scope)
    if kind is s.Member:
        return _member(node, scope)
    if kind is s.Star:
        raise scope.error(node.pos, "'*' can only be used as an argument of arg_max() or arg_min()")
    raise scope.error(getattr(node, "pos", (1, 1)), "a subquery cannot be used as a scalar value")


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
    if bound is not None or node.name in scope.table_names:
        raise scope.error(node.pos, f"'{node.name}' is a table, not a scalar value (use it after "
                                    "'in' or 'join')", name=node.name)
    known = list(scope.columns) + [k for k, v in scope.bindings.items() if isinstance(v, Compiled)]
    raise scope.error(node.pos, f"Failed to resolve scalar expression named '{node.name}'",
                      hint=did_you_mean(node.name, known), name=node.name)


# ---- logic ------------------------------------------------------------------------------------

def _truth(fn: Callable) -> Callable:
    """A dynamic value as a KQL bool: only true is true."""
    return lambda row: (v := fn(row)) if v is None or isinstance(v, bool) else None


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
    if node.op == "and":
        if len(fns) == 2:
            a, b = fns
            fn = lambda row: a(row) and b(row)  # noqa: E731
        elif len(fns) == 3:
            a, b, c = fns
            fn = lambda row: a(row) and b(row) and c(row)  # noqa: E731
        else:
            def fn(row):
                result = True
                for f in fns:
                    result = f(row)
                    if not result:
                        return result
                return result
    else:
        def fn(row):
            result = False
            for f in fns:
                result = f(row)
                if result:
                    return result
            return result
    return _fold(Compiled(fn, "bool"), parts)


# ---- comparisons ------------------------------------------------------------------------------

_PYOPS = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
          ">": operator.gt, ">=": operator.ge}
_FLIP = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
_ORDERABLE = NUMERIC | {"datetime", "timespan", "string", "bool", "guid", "dynamic"}
# Column-versus-constant comparisons are the hot path of 'where': one closure, no extra calls.
_COLUMN_CONST = {
    "==": lambda k, c: lambda r: r[k] == c,
    "!=": lambda k, c: lambda r: (v := r[k]) is not None and v != c,
    "<": lambda k, c: lambda r: (v := r[k]) is not None and v < c,
    "<=": lambda k, c: lambda r: (v := r[k]) is not None and v <= c,
    ">": lambda k, c: lambda r: (v := r[k]) is not None and v > c,
    ">=": lambda k, c: lambda r: (v := r[k]) is not None and v >= c,
}


def comparable(a: str, b: str) -> bool:
    return a == b or "dynamic" in (a, b) or (a in NUMERIC and b in NUMERIC) or {a, b} == {"guid", "string"}


def _compare(node: s.Binary, scope: Scope) -> Compiled:
    left, right = compile_expr(node.left, scope), compile_expr(node.right, scope)
    op = node.op
    if not comparable(left.type, right.type) or (op not in ("==", "!=") and left.type not in _ORDERABLE):
        raise scope.error(node.pos, f"Cannot compare values of types {left.type} and {right.type}. "
                                    "Try adding explicit casts", name=op)
    if left.const and not right.const:
        left, right, op = right, left, _FLIP[op]
    safe = "dynamic" in (left.type, right.type)
    if right.const and not safe:
        c = right.value
        if c is None:
            return constant(None, "bool")
        if left.column is not None:
            return Compiled(_COLUMN_CONST[op](left.column, c), "bool")
    pyop, lf, rf = _PYOPS[op], left.fn, right.fn

    def fn(row):
        x = lf(row)
        if x is None:
            return None
        y = rf(row)
        if y is None:
            return None
        try:
            return pyop(x, y)
        except TypeError:  # only reachable with dynamic values of mixed kinds
            return None
    return _fold(Compiled(fn, "bool"), [left, right])


def _text(c: Compiled) -> Callable:
    """A closure that yields the value as a string (strings are never null)."""
    if c.type == "string":
        return c.fn
    f = c.fn
    return lambda row: to_kql_string(f(row))


@lru_cache(maxsize=512)
def has_pattern(term: str, case_sensitive: bool) -> re.Pattern:
    """``has``: the term must sit between non-alphanumeric characters (or the string's ends)."""
    lead = r"(?<![A-Za-z0-9])" if term[:1].isascii() and term[:1].isalnum() else ""
    trail = r"(?![A-Za-z0-9])" if term[-1:].isascii() and term[-1:].isalnum() else ""
    return re.compile(lead + re.escape(term) + trail, 0 if case_sensitive else re.IGNORECASE)


def string_test(base: str, term: str) -> Callable[[str], bool]:
    """The test ``value <base> term`` for a fixed term (case-insensitive unless ``_cs``)."""
    low = term.lower()
    if base == "=~":
        return lambda v: v.lower() == low
    if base == "contains":
        return lambda v: low in v.lower()
    if base == "contains_cs":
        return lambda v: term in v
    if base == "startswith":
        return lambda v: v.lower().startswith(low)
    if base == "startswith_cs":
        return lambda v: v.startswith(term)
    if base == "endswith":
        return lambda v: v.lower().endswith(low)
    if base == "endswith_cs":
        return lambda v: v.endswith(term)
    search = has_pattern(term, base == "has_cs").search
    return lambda v: search(v) is not None


def _string_op(node: s.Binary, scope: Scope) -> Compiled:
    left, right = compile_expr(node.left, scope), compile_expr(node.right, scope)
    op = node.op
    negated = op.startswith("!")
    base = "=~" if op in ("=~", "!~") else op.lstrip("!")
    lt = _text(left)
    if right.const:
        test = string_test(base, to_kql_string(right.value))
        k = left.column if left.type == "string" else None
        if base == "=~" and k is not None:  # the benchmark's FileName =~ "x": one closure per row
            low = to_kql_string(right.value).lower()
            fn = (lambda r: r[k].lower() != low) if negated else (lambda r: r[k].lower() == low)
        elif negated:
            fn = lambda r: not test(lt(r))  # noqa: E731
        else:
            fn = lambda r: test(lt(r))  # noqa: E731
    else:
        rt = _text(right)
        if negated:
            fn = lambda r: not string_test(base, rt(r))(lt(r))  # noqa: E731
        else:
            fn = lambda r: string_test(base, rt(r))(lt(r))  # noqa: E731
    return _fold(Compiled(fn, "bool"), [left, right])


def _in(node: s.InList, scope: Scope) -> Compiled:
    left = compile_expr(node.left, scope)
    items: list[Compiled] = []
    for item in node.items:
        bound = scope.bindings.get(item.name) if type(item) is s.Name else None
        if type(item) is s.Pipeline or (type(item) is s.Name and item.name not in scope.columns
                                        and (bound is not None and not isinstance(bound, Compiled)
                                             or item.name in scope.table_names and bound is None)):
            relation = scope.run_tabular(item)
            if not relation.columns:
                raise scope.error(item.pos, "the subquery after 'in' returns no columns")
            first = relation.columns[0]
            items += [constant(r[first.name], first.type) for r in relation.rows]
        else:
            items.append(compile_expr(item, scope))
    want_text = node.op in ("in~", "!in~", "has_any")
    for item, source in zip(items, node.items):
        if not want_text and not comparable(left.type, item.type):
            raise scope.error(node.pos, f"Cannot compare values of types {left.type} and {item.type}. "
                                        "Try adding explicit casts", name=node.op)
    negated = node.op.startswith("!")
    if all(i.const for i in items):
        values: list = []
        for i in items:
            values += i.value if isinstance(i.value, list) and i.type == "dynamic" else [i.value]
        values = [v for v in values if v is not None]
        if node.op == "has_any":
            terms = [to_kql_string(v) for v in values]
            searches = [has_pattern(t, False).search for t in terms]
            lt = _text(left)
            fn = lambda r: any(f(v) is not None for v in (lt(r),) for f in searches)  # noqa: E731
        elif want_text:
            members = frozenset(to_kql_string(v).lower() for v in values)
            lt = _text(left)
            fn = (lambda r: lt(r).lower() not in members) if negated else (lambda r: lt(r).lower() in members)
        else:
            members = frozenset(hashable(v) for v in values)
            lf = left.fn
            if left.type == "dynamic":
                fn = lambda r: (v := lf(r)) is not None and (hashable(v) in members) != negated  # noqa: E731
            elif left.column is not None:
                k = left.column
                fn = (lambda r: (v := r[k]) is not None and v not in members) if negated else \
                    (lambda r: r[k] in members)
            else:
                fn = lambda r: (v := lf(r)) is not None and (v in members) != negated  # noqa: E731
        return _fold(Compiled(fn, "bool"), [left])
    fns, lf = [i.fn for i in items], left.fn

    def fn(row):
        v = lf(row)
        values = []
        for f in fns:
            x = f(row)
            values += x if isinstance(x, list) else [x]
        if node.op == "has_any":
            text = to_kql_string(v)
            found = any(has_pattern(to_kql_string(x), False).search(text) for x in values if x is not None)
        elif want_text:
            found = to_kql_string(v).lower() in {to_kql_string(x).lower() for x in values}
        else:
            found = v is not None and hashable(v) in {hashable(x) for x in values if x is not None}
        return found != negated
    return Compiled(fn, "bool")


def _between(node: s.Between, scope: Scope) -> Compiled:
    value, low, high = (compile_expr(n, scope) for n in (node.left, node.low, node.high))
    span = value.type == "datetime" and high.type == "timespan"  # between (start .. 1d)
    if value.type not in NUMERIC | {"datetime", "timespan", "dynamic"} or not comparable(value.type, low.type) \
            or not (span or comparable(value.type, high.type)):
        raise scope.error(node.pos, f"'between' cannot compare {value.type} with {low.type} .. "
                                    f"{high.type}", name="between")
    vf, lof, hif, neg = value.fn, low.fn, high.fn, node.negated

    def fn(row):
        x, a, b = vf(row), lof(row), hif(row)
        if x is None or a is None or b is None:
            return None
        try:
            return (a <= x <= (a + b if span else b)) != neg
        except (TypeError, OverflowError):
            return None
    return _fold(Compiled(fn, "bool"), [value, low, high])


# ---- arithmetic -------------------------------------------------------------------------------

_ARITH_OPS = frozenset("+-*/%")


def _arith_type(op: str, a: str, b: str) -> str | None:
    if "dynamic" in (a, b):
        return "dynamic"
    if a in NUMERIC and b in NUMERIC:
        return "real" if "real" in (a, b) else ("long" if "long" in (a, b) else "int")
    pair = (a, b)
    table = {("-", "datetime", "datetime"): "timespan", ("+", "datetime", "timespan"): "datetime",
             ("-", "datetime", "timespan"): "datetime", ("+", "timespan", "datetime"): "datetime",
             ("+", "timespan", "timespan"): "timespan", ("-", "timespan", "timespan"): "timespan",
             ("/", "timespan", "timespan"): "real", ("%", "timespan", "timespan"): "timespan"}
    if (op, *pair) in table:
        return table[(op, *pair)]
    if op == "*" and "timespan" in pair and (a in NUMERIC or b in NUMERIC):
        return "timespan"
    if op == "/" and a == "timespan" and b in NUMERIC:
        return "timespan"
    return None


def _int_div(x, y):
    q = abs(x) // abs(y)  # KQL truncates toward zero; ZeroDivisionError → null below
    return q if (x >= 0) == (y >= 0) else -q


def _arith_impl(op: str, result: str, a: str, b: str) -> Callable:
    integer = result in ("int", "long")
    base: Callable = {"+": operator.add, "-": operator.sub, "*": operator.mul,
                      "/": operator.truediv, "%": operator.mod}[op]
    if op == "/" and integer:
        base = _int_div
    elif op == "%" and integer:
        base = lambda x, y: x - y * _int_div(x, y)  # noqa: E731
    elif op == "%" and result == "real":
        base = lambda x, y: __import__("math").fmod(x, y)  # noqa: E731

    def impl(x, y):
        if x is None or y is None:
            return None
        try:
            v = base(x, y)
        except (ArithmeticError, TypeError, ValueError):
            return None
        if type(v) is int and not -2**63 <= v < 2**63:
            v = (v - _LONG_MIN) % _LONG_SPAN + _LONG_MIN  # 64-bit wrap-around, like the service
        if result == "dynamic" and isinstance(v, (str, list, dict)):
            return None
        return v
    return impl


def _arith(node: s.Binary, scope: Scope) -> Compiled:
    left, right = compile_expr(node.left, scope), compile_expr(node.right, scope)
    result = _arith_type(node.op, left.type, right.type)
    if result is None:
        hint = " (use strcat() to join strings)" if "string" in (left.type, right.type) else ""
        raise scope.error(node.pos, f"Operator '{node.op}' cannot be applied to values of types "
                                    f"{left.type} and {right.type}{hint}", name=node.op)
    impl, lf, rf = _arith_impl(node.op, result, left.type, right.type), left.fn, right.fn
    return _fold(Compiled(lambda row: impl(lf(row), rf(row)), result), [left, right])


def _negate(node: s.Unary, scope: Scope) -> Compiled:
    operand = compile_expr(node.operand, scope)
    if operand.type not in NUMERIC | {"timespan", "dynamic"}:
        raise scope.error(node.pos, f"unary '-' cannot be applied to a {operand.type}", name="-")
    impl, f = _arith_impl("-", operand.type, operand.type, operand.type), operand.fn
    return _fold(Compiled(lambda row: impl(0 if isinstance(v := f(row), (int, float)) else
                                           (v - v - v if v is not None else None), v)
                          if False else impl(_zero(f(row)), f(row)), operand.type), [operand])


def _zero(v):
    return None if v is None else (v - v if not isinstance(v, (str, list, dict, bool)) else None)


# ---- dynamic access and calls -----------------------------------------------------------------

def _get(target: Any, key: Any) -> Any:
    if isinstance(target, dict) and isinstance(key, str):
        return target.get(key)
    if isinstance(target, list) and isinstance(key, int) and not isinstance(key, bool):
        return target[key] if -len(target) <= key < len(target) else None
    return None


def _member(node: s.Member, scope: Scope) -> Compiled:
    target = compile_expr(node.target, scope)
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
    if name in ("ago", "now"):
        return _clock(node, scope)
    if name in AGGREGATE_NAMES:
        raise scope.error(node.pos, f"'{name}()' is an aggregation function; it can only be used in "
                                    "'summarize'", name=name)
    function = FUNCTIONS.get(name)
    if function is None:
        if name in KNOWN_KQL_FUNCTIONS:
            raise scope.error(node.pos, f"the function '{name}' is not supported by the soar-runner "
                                        "simulator", code="NotSupported", name=name)
        raise scope.error(node.pos, f"Unknown function: '{name}'",
                          hint=did_you_mean(name, list(FUNCTIONS) + ["ago", "now"]), name=name)
    if not function.min_args <= len(node.args) <= function.max_args:
        expected = (str(function.min_args) if function.min_args == function.max_args
                    else f"{function.min_args} to {function.max_args}")
        raise scope.error(node.pos, f"function '{name}' expects {expected} arguments, got "
                                    f"{len(node.args)}", name=name)
    args = [compile_expr(a, scope) for a in node.args]
    try:
        result = function.result(name, [a.type for a in args])
    except ValueError as exc:
        raise scope.error(node.pos, str(exc), name=name) from None
    impl, fns = function.impl, [a.fn for a in args]
    if len(fns) == 1:
        a0 = fns[0]
        fn = lambda row: impl(a0(row))  # noqa: E731
    elif len(fns) == 2:
        a0, a1 = fns
        fn = lambda row: impl(a0(row), a1(row))  # noqa: E731
    else:
        fn = lambda row: impl(*[f(row) for f in fns])  # noqa: E731
    return _fold(Compiled(fn, result), args)


def _clock(node: s.Call, scope: Scope) -> Compiled:
    if node.name == "now" and not node.args:
        return constant(scope.now, "datetime")
    if len(node.args) != 1:
        raise scope.error(node.pos, f"function '{node.name}' expects {'1' if node.name == 'ago' else '0 or 1'} "
                                    f"argument{'s' if node.name == 'now' else ''}, got {len(node.args)}",
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
