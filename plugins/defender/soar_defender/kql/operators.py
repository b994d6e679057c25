"""Scalar operators as closures: comparisons, string operators, ``in``, ``between``, arithmetic.

The compiler compiles the operands and hands them here; each builder checks the operand types
(raising ``ValueError`` with a sentence the compiler positions) and returns ``fn(row)``.
Column-versus-constant cases get dedicated one-closure forms: they are the hot path of ``where``.
"""

from __future__ import annotations

import math
import operator
import re
from functools import lru_cache
from typing import Any, Callable, Protocol

from .convert import convert_to
from .model import NUMERIC, hashable, to_kql_string
from .regex import compile_regex

_LONG_MIN, _LONG_SPAN = -2**63, 2**64
Fn = Callable[[Any], Any]


class Operand(Protocol):  # soar_defender.kql.compiler.Compiled
    fn: Fn
    type: str
    const: bool
    value: Any
    column: str | None


_NUMBERLIKE = NUMERIC | {"bool"}  # KQL compares a bool with a number as 0 or 1 (IsLocalAdmin == 0)


def comparable(a: str, b: str) -> bool:
    return a == b or "dynamic" in (a, b) or (a in _NUMBERLIKE and b in _NUMBERLIKE) or {a, b} == {"guid", "string"}


def _type_error(a: str, b: str) -> ValueError:
    return ValueError(f"Cannot compare values of types {a} and {b}. Try adding explicit casts")


# ---- comparisons ------------------------------------------------------------------------------

PYOPS = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
         ">": operator.gt, ">=": operator.ge}
_FLIP = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
_ORDERABLE = NUMERIC | {"datetime", "timespan", "string", "bool", "guid", "dynamic"}
_COLUMN_CONST = {
    "==": lambda k, c: lambda r: r[k] == c,
    "!=": lambda k, c: lambda r: (v := r[k]) is not None and v != c,
    "<": lambda k, c: lambda r: (v := r[k]) is not None and v < c,
    "<=": lambda k, c: lambda r: (v := r[k]) is not None and v <= c,
    ">": lambda k, c: lambda r: (v := r[k]) is not None and v > c,
    ">=": lambda k, c: lambda r: (v := r[k]) is not None and v >= c,
}


def compare(op: str, left: Operand, right: Operand) -> Fn:
    """``left op right`` for ==, !=, <, <=, >, >=; null on either side gives null."""
    if op in ("==", "!=") and not comparable(left.type, right.type) and "string" in (left.type, right.type):
        left, right = _text_as_other(left, right)
    if not comparable(left.type, right.type) or (op not in ("==", "!=") and left.type not in _ORDERABLE):
        raise _type_error(left.type, right.type)
    if left.const and not right.const:
        left, right, op = right, left, _FLIP[op]
    if right.const and "dynamic" not in (left.type, right.type):
        c = right.value
        if c is None:
            return lambda row: None
        if left.column is not None:
            return _COLUMN_CONST[op](left.column, c)
    pyop, lf, rf = PYOPS[op], left.fn, right.fn

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
    return fn


class _Converted:
    """An operand read as another type (see :func:`_text_as_other`)."""

    def __init__(self, fn: Fn, type_: str, const: bool, value: Any = None) -> None:
        self.fn, self.type, self.const, self.value, self.column = fn, type_, const, value, None


_CONVERTIBLE = NUMERIC | {"bool", "datetime", "timespan"}


def _text_as_other(left: Operand, right: Operand) -> tuple[Operand, Operand]:
    """Kusto accepts ``==`` and ``!=`` between a string and any other scalar (published queries
    write ``IsCompliant == "0"``, ``CriticalityLevel == "1"``, ``extract(...) == ProcessId``): the
    string is read as the other side's type, as ``tobool()``, ``tolong()``, ``todatetime()``... read
    it, so text that is not such a value gives null and the comparison is null. Other mixes stay a
    type error."""
    text_side, other = (right, left) if right.type == "string" else (left, right)
    if other.type not in _CONVERTIBLE:
        return left, right
    kind = other.type
    if text_side.const:
        value = convert_to(text_side.value, kind)
        converted = _Converted(lambda row: value, kind, True, value)
    else:
        f = text_side.fn
        converted = _Converted(lambda row: convert_to(f(row), kind), kind, False)
    return (other, converted) if text_side is right else (converted, other)


# ---- string operators -------------------------------------------------------------------------

def text(c: Operand) -> Fn:
    """A closure that yields the operand as a string (KQL strings are never null)."""
    if c.type == "string":
        return c.fn
    f = c.fn
    return lambda row: to_kql_string(f(row))


@lru_cache(maxsize=512)
def has_pattern(term: str, case_sensitive: bool, prefix: bool = True, suffix: bool = True) -> re.Pattern:
    """``has``: the term must sit between non-alphanumeric characters (or the string's ends).
    ``hasprefix`` only needs the start of a term (``suffix=False``), ``hassuffix`` its end."""
    lead = r"(?<![A-Za-z0-9])" if prefix and term[:1].isascii() and term[:1].isalnum() else ""
    trail = r"(?![A-Za-z0-9])" if suffix and term[-1:].isascii() and term[-1:].isalnum() else ""
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
    if base == "matches regex":
        search = compile_regex(term).search
    elif base.startswith("hasprefix"):
        search = has_pattern(term, base.endswith("_cs"), suffix=False).search
    elif base.startswith("hassuffix"):
        search = has_pattern(term, base.endswith("_cs"), prefix=False).search
    else:
        search = has_pattern(term, base == "has_cs").search
    return lambda v: search(v) is not None


def string_operator(op: str, left: Operand, right: Operand) -> Fn:
    """=~, !~, contains, has, hasprefix, hassuffix, startswith, endswith, their _cs and ! forms,
    and 'matches regex'. Non-string operands are compared by their tostring() text."""
    negated = op.startswith("!")
    base = "=~" if op in ("=~", "!~") else op.lstrip("!")
    lt = text(left)
    if not right.const:
        rt = text(right)

        def test(r):
            try:
                return string_test(base, rt(r))(lt(r)) != negated
            except ValueError:  # a regex built per row that does not compile
                return None
        return test
    term = to_kql_string(right.value)
    k = left.column if left.type == "string" else None
    if base == "=~" and k is not None:  # FileName =~ "powershell.exe": a single closure per row
        low = term.lower()
        return (lambda r: r[k].lower() != low) if negated else (lambda r: r[k].lower() == low)
    test = string_test(base, term)
    return (lambda r: not test(lt(r))) if negated else (lambda r: test(lt(r)))


# ---- in, has_any, between ---------------------------------------------------------------------

def membership(op: str, left: Operand, items: list[Operand]) -> Fn:
    """``in``, ``!in`` (case-sensitive), ``in~``, ``!in~``, ``has_any`` and ``has_all``. Dynamic
    arrays among the items are expanded, as in KQL."""
    textual = op in ("in~", "!in~") or "has_" in op
    for item in items:
        if not textual and not comparable(left.type, item.type) and not (item.const and item.type == "string") \
                and not (item.const and left.type == "string" and item.type in _CONVERTIBLE):
            raise _type_error(left.type, item.type)
    negated = op.startswith("!")
    if not all(i.const for i in items):
        return _row_membership(op, left, items)
    values: list = []
    for i in items:
        if not textual and i.type == "string" and left.type not in ("string", "guid", "dynamic"):
            values.append(convert_to(i.value, left.type))  # ErrorCode in ("50074"): the text as a number
            continue
        if not textual and left.type == "string" and i.type in _CONVERTIBLE:
            values.append(to_kql_string(i.value))  # "5" in (5, 6): the number as text
            continue
        values += i.value if isinstance(i.value, list) and i.type == "dynamic" else [i.value]
    values = [v for v in values if v is not None]
    if "has_" in op:
        searches = [has_pattern(to_kql_string(v), False).search for v in values if to_kql_string(v)]
        lt = text(left)
        if op.endswith("has_all"):
            return lambda r: all(f(s) is not None for s in (lt(r),) for f in searches) != negated
        return lambda r: any(f(s) is not None for s in (lt(r),) for f in searches) != negated
    if textual:
        members = frozenset(to_kql_string(v).lower() for v in values)
        lt = text(left)
        return (lambda r: lt(r).lower() not in members) if negated else (lambda r: lt(r).lower() in members)
    members = frozenset(hashable(v) for v in values)
    lf, k = left.fn, left.column
    if left.type == "dynamic":
        return lambda r: (v := lf(r)) is not None and (hashable(v) in members) != negated
    if k is not None:
        return (lambda r: (v := r[k]) is not None and v not in members) if negated else (lambda r: r[k] in members)
    return lambda r: (v := lf(r)) is not None and (v in members) != negated


def _row_membership(op: str, left: Operand, items: list[Operand]) -> Fn:
    fns, lf, negated = [i.fn for i in items], left.fn, op.startswith("!")

    def fn(row):
        v = lf(row)
        values: list = []
        for f in fns:
            x = f(row)
            values += x if isinstance(x, list) else [x]
        values = [x for x in values if x is not None]
        if "has_" in op:
            s = to_kql_string(v)
            found = [has_pattern(to_kql_string(x), False).search(s) is not None for x in values]
            return (all(found) if op.endswith("has_all") else any(found)) != negated
        if op in ("in~", "!in~"):
            return (to_kql_string(v).lower() in {to_kql_string(x).lower() for x in values}) != negated
        return v is not None and (hashable(v) in {hashable(x) for x in values}) != negated
    return fn


def between(negated: bool, value: Operand, low: Operand, high: Operand) -> Fn:
    """``value between (low .. high)``, inclusive; for datetimes ``high`` may be a timespan
    counted from ``low``."""
    span = value.type == "datetime" and high.type == "timespan"
    if value.type not in NUMERIC | {"datetime", "timespan", "dynamic"} or not comparable(value.type, low.type) \
            or not (span or comparable(value.type, high.type)):
        raise ValueError(f"'between' cannot compare {value.type} with {low.type} .. {high.type}")
    vf, lof, hif = value.fn, low.fn, high.fn
    if low.const and high.const and not span and value.type != "dynamic":
        a, b = low.value, high.value
        if a is None or b is None:
            return lambda row: None
        if negated:
            return lambda row: (x := vf(row)) is not None and not a <= x <= b
        return lambda row: (x := vf(row)) is not None and a <= x <= b

    def fn(row):
        x, a, b = vf(row), lof(row), hif(row)
        if x is None or a is None or b is None:
            return None
        try:
            return (a <= x <= (a + b if span else b)) != negated
        except (TypeError, OverflowError):
            return None
    return fn


# ---- arithmetic -------------------------------------------------------------------------------

ARITHMETIC = frozenset("+-*/%")
_MIXED = {("-", "datetime", "datetime"): "timespan", ("+", "datetime", "timespan"): "datetime",
          ("-", "datetime", "timespan"): "datetime", ("+", "timespan", "datetime"): "datetime",
          ("+", "timespan", "timespan"): "timespan", ("-", "timespan", "timespan"): "timespan",
          ("/", "timespan", "timespan"): "real", ("%", "timespan", "timespan"): "timespan"}


def arithmetic_type(op: str, a: str, b: str) -> str:
    """The result type of ``a op b``, or ValueError."""
    if "dynamic" in (a, b):
        return "dynamic"
    if a in NUMERIC and b in NUMERIC:
        return "real" if "real" in (a, b) else ("long" if "long" in (a, b) else "int")
    if (op, a, b) in _MIXED:
        return _MIXED[(op, a, b)]
    if (op == "*" and "timespan" in (a, b) and (a in NUMERIC or b in NUMERIC)) \
            or (op == "/" and a == "timespan" and b in NUMERIC):
        return "timespan"
    hint = " (use strcat() to join strings)" if "string" in (a, b) else ""
    raise ValueError(f"Operator '{op}' cannot be applied to values of types {a} and {b}{hint}")


def _int_div(x: int, y: int) -> int:
    q = abs(x) // abs(y)  # KQL truncates toward zero
    return q if (x >= 0) == (y >= 0) else -q


def _wrap(v: Any) -> Any:
    if type(v) is int and not _LONG_MIN <= v < -_LONG_MIN:
        return (v - _LONG_MIN) % _LONG_SPAN + _LONG_MIN  # 64-bit wrap-around, like the service
    return v


def arithmetic(op: str, left: Operand, right: Operand) -> tuple[Fn, str]:
    """``left op right`` for + - * / %: (closure, result type). Nulls, division by zero and
    overflow give null."""
    result = arithmetic_type(op, left.type, right.type)
    integer = result in ("int", "long")
    base: Callable = {"+": operator.add, "-": operator.sub, "*": operator.mul,
                      "/": operator.truediv, "%": operator.mod}[op]
    if op == "/" and integer:
        base = _int_div
    elif op == "%" and integer:
        base = lambda x, y: x - y * _int_div(x, y)  # noqa: E731
    elif op == "%" and result == "real":
        base = math.fmod
    lf, rf = left.fn, right.fn

    def fn(row):
        x, y = lf(row), rf(row)
        if x is None or y is None:
            return None
        try:
            v = _wrap(base(x, y))
        except (ArithmeticError, TypeError, ValueError):
            return None
        return None if result == "dynamic" and isinstance(v, (str, list, dict)) else v
    return fn, result


def negation(operand: Operand) -> Fn:
    """Unary minus on a number or timespan."""
    if operand.type not in NUMERIC | {"timespan", "dynamic"}:
        raise ValueError(f"unary '-' cannot be applied to a {operand.type}")
    f = operand.fn

    def fn(row):
        v = f(row)
        if v is None or isinstance(v, (str, list, dict, bool)):
            return None
        try:
            return _wrap(-v)
        except TypeError:
            return None
    return fn
