"""Scalar functions: null tests, conversions, logic, rounding and arithmetic; and the registry
:data:`FUNCTIONS` that gathers every implemented function (strings.py, timefuncs.py, dynamic.py,
network.py add theirs). ``ago()``, ``now()``, ``toscalar()``, ``ingestion_time()``,
``column_ifexists()`` and ``pack_all()`` need the query's clock or row, so the compiler handles
them itself (see compiler.py).
"""

from __future__ import annotations

import math
import random
import uuid
from datetime import datetime, timedelta
from typing import Any

from .catalog import AGGREGATE_FUNCTIONS
from .convert import INT32, to_bool, to_datetime, to_double, to_guid, to_integer, to_timespan
from .model import NUMERIC, UTC, to_kql_string
from .signatures import BOOL, INTEGER, NUM, Function, rule, unify

_EPOCH = datetime(1, 1, 1, tzinfo=UTC)  # KQL bins datetimes on ticks since 0001-01-01


# ---- type rules ---------------------------------------------------------------------------------

def _bin_rule(name: str, types: list[str]) -> str:
    value, size = types[0], types[1]
    if value in ("datetime", "timespan") and size in ("timespan", "dynamic") + (("datetime",) if value == "datetime"
                                                                                 else ()):
        return value
    if value in NUMERIC and size in NUMERIC | {"dynamic"}:
        return value if value == "real" or size != "real" else "real"
    if value == "dynamic":
        return "dynamic"
    raise ValueError(f"{name}() cannot round a {value} to a {size} (use bin(Timestamp, 1h) or bin(number, 10))")


def _branches(types: list[str], what: str) -> str:
    # a dynamic branch next to a string one gives a string (the compiler converts the dynamic
    # value, as tostring() does): iff(Split[-2] == "", Split[0], strcat(...)) is a string in
    # Kusto, which Microsoft's published queries union with other string columns
    if set(types) == {"dynamic", "string"}:
        return "string"
    return unify(types, what)


def _iff_rule(name: str, types: list[str]) -> str:
    if types[0] not in ("bool", "dynamic"):
        raise ValueError(f"the condition of {name}() must be a bool, not {types[0]}")
    return _branches(types[1:], f"the two results of {name}()")


def _case_rule(name: str, types: list[str]) -> str:
    if len(types) % 2 == 0:
        raise ValueError("case() takes predicate/value pairs and a final else value")
    for i in range(0, len(types) - 1, 2):
        if types[i] not in ("bool", "dynamic"):
            raise ValueError(f"argument {i + 1} of case() must be a bool predicate, not {types[i]}")
    return _branches(types[1::2] + [types[-1]], "the values of case()")


def _abs_rule(types: list[str]) -> str:
    return "long" if types[0] == "int" else types[0]


_NUM_OR_SPAN = (NUMERIC | {"timespan"}, "a number or timespan")


# ---- implementations ----------------------------------------------------------------------------

def _tohex(v: Any, width: Any = None) -> str:
    if not isinstance(v, int) or isinstance(v, bool):
        return ""
    text = format(v if v >= 0 else v + 2**64, "x")
    return text.rjust(width, "0") if isinstance(width, int) else text


def bin_value(value: Any, size: Any) -> Any:
    if value is None or size is None:
        return None
    try:
        if isinstance(value, datetime):
            if isinstance(size, (int, float)) and not isinstance(size, bool):  # bin(dt, 1.5) counts days
                size = timedelta(days=size)
            return _EPOCH + ((value - _EPOCH) // size) * size if size > timedelta(0) else None
        if isinstance(value, timedelta):
            return (value // size) * size if size > timedelta(0) else None
        if isinstance(value, bool) or isinstance(size, bool) or size <= 0:
            return None
        if isinstance(value, int) and isinstance(size, int):
            return (value // size) * size
        return math.floor(value / size) * size
    except (TypeError, ValueError, OverflowError, ZeroDivisionError):
        return None


def _bin_at(value: Any, size: Any, fixed: Any) -> Any:
    if value is None or size is None or fixed is None:
        return None
    try:
        binned = bin_value(value - fixed, size)
        return None if binned is None else binned + fixed
    except TypeError:
        if isinstance(value, datetime) and isinstance(fixed, datetime):
            offset = bin_value(timedelta(0) + (value - fixed), size)
            return None if offset is None else fixed + offset
        return None


def _round(value: Any, precision: Any = 0) -> Any:
    if value is None or not isinstance(precision, int) or isinstance(value, (str, list, dict, bool)):
        return None
    try:
        factor = 10.0 ** precision
        result = math.copysign(math.floor(abs(value) * factor + 0.5) / factor, value)
    except (OverflowError, ValueError, TypeError):
        return value if isinstance(value, float) else None
    return int(result) if isinstance(value, int) else result


def _numeric(fn):
    """A one-number math function that gives null (not an exception) on bad input."""
    def apply(*args):
        if any(a is None or isinstance(a, (str, list, dict, bool, datetime, timedelta)) for a in args):
            return None
        try:
            result = fn(*args)
        except (ValueError, OverflowError, ZeroDivisionError, TypeError):
            return math.nan if fn in (math.log, math.log2, math.log10, math.sqrt, math.asin, math.acos) else None
        return result
    return apply


def _coalesce(*values: Any) -> Any:
    for v in values:
        if v is not None and v != "":
            return v
    return values[-1] if values and values[-1] == "" else None


def _case(*args: Any) -> Any:
    for i in range(0, len(args) - 1, 2):
        if args[i] is True:
            return args[i + 1]
    return args[-1]


def _extreme(pick):
    def apply(*values):
        present = [v for v in values if v is not None]
        try:
            return pick(present) if present else None
        except TypeError:
            return None
    return apply


def _abs(v: Any) -> Any:
    try:
        return None if v is None or isinstance(v, (str, list, dict, bool)) else abs(v)
    except (TypeError, OverflowError):
        return None


def _binary(fn):
    def apply(*args):
        if any(not isinstance(a, int) or isinstance(a, bool) for a in args):
            return None
        value = fn(*args) & (2**64 - 1)
        return value - 2**64 if value >= 2**63 else value
    return apply


def gettype(v: Any) -> str:
    if v is None:
        return "null"
    for kind, name in ((bool, "bool"), (int, "long"), (float, "real"), (str, "string"), (list, "array"),
                       (dict, "dictionary"), (datetime, "datetime"), (timedelta, "timespan")):
        if isinstance(v, kind):
            return name
    return "object"


def _isempty(v: Any) -> bool:
    return v is None or v == ""


_F = Function
_table = [
    _F("isempty", 1, 1, rule("bool"), _isempty),
    _F("isnotempty", 1, 1, rule("bool"), lambda v: not _isempty(v)),
    _F("notempty", 1, 1, rule("bool"), lambda v: not _isempty(v)),
    _F("isnull", 1, 1, rule("bool"), lambda v: v is None),
    _F("isnotnull", 1, 1, rule("bool"), lambda v: v is not None),
    _F("notnull", 1, 1, rule("bool"), lambda v: v is not None),
    _F("not", 1, 1, rule("bool", BOOL), lambda v: None if v is None else v is not True),
    _F("tostring", 1, 1, rule("string"), to_kql_string),
    _F("toint", 1, 1, rule("int"), lambda v: to_integer(v, INT32)),
    _F("tolong", 1, 1, rule("long"), to_integer),
    _F("todouble", 1, 1, rule("real"), to_double),
    _F("toreal", 1, 1, rule("real"), to_double),
    _F("todecimal", 1, 1, rule("real"), to_double),
    _F("tobool", 1, 1, rule("bool"), to_bool),
    _F("toboolean", 1, 1, rule("bool"), to_bool),
    _F("todatetime", 1, 1, rule("datetime"), to_datetime),
    _F("totimespan", 1, 1, rule("timespan"), to_timespan),
    _F("totime", 1, 1, rule("timespan"), to_timespan),
    _F("toguid", 1, 1, rule("guid"), to_guid),
    _F("tohex", 1, 2, rule("string", INTEGER), _tohex),
    _F("gettype", 1, 1, rule("string"), gettype),
    _F("iff", 3, 3, _iff_rule, lambda c, a, b: a if c is True else b),
    _F("iif", 3, 3, _iff_rule, lambda c, a, b: a if c is True else b),
    _F("case", 3, 127, _case_rule, _case),
    _F("coalesce", 2, 64, lambda name, types: unify(types, "the arguments of coalesce()"), _coalesce),
    _F("max_of", 2, 64, lambda name, types: unify(types, "the arguments of max_of()"), _extreme(max)),
    _F("min_of", 2, 64, lambda name, types: unify(types, "the arguments of min_of()"), _extreme(min)),
    _F("bin", 2, 2, _bin_rule, bin_value),
    _F("floor", 2, 2, _bin_rule, bin_value),
    _F("bin_at", 3, 3, _bin_rule, _bin_at),
    _F("abs", 1, 1, rule(_abs_rule, _NUM_OR_SPAN), _abs),
    _F("round", 1, 2, rule(lambda t: "long" if t[0] == "int" else t[0], NUM, INTEGER), _round),
    _F("ceiling", 1, 1, rule(lambda t: "long" if t[0] == "int" else t[0], NUM),
       _numeric(lambda v: math.ceil(v) if isinstance(v, int) else float(math.ceil(v)))),
    _F("pow", 2, 2, rule("real", NUM), _numeric(lambda a, b: float(math.pow(a, b)))),
    _F("sqrt", 1, 1, rule("real", NUM), _numeric(math.sqrt)),
    _F("log", 1, 1, rule("real", NUM), _numeric(math.log)),
    _F("log2", 1, 1, rule("real", NUM), _numeric(math.log2)),
    _F("log10", 1, 1, rule("real", NUM), _numeric(math.log10)),
    _F("exp", 1, 1, rule("real", NUM), _numeric(math.exp)),
    _F("exp2", 1, 1, rule("real", NUM), _numeric(lambda v: 2.0 ** v)),
    _F("exp10", 1, 1, rule("real", NUM), _numeric(lambda v: 10.0 ** v)),
    _F("pi", 0, 0, rule("real"), lambda: math.pi),
    _F("sin", 1, 1, rule("real", NUM), _numeric(math.sin)),
    _F("cos", 1, 1, rule("real", NUM), _numeric(math.cos)),
    _F("tan", 1, 1, rule("real", NUM), _numeric(math.tan)),
    _F("cot", 1, 1, rule("real", NUM), _numeric(lambda v: 1.0 / math.tan(v))),
    _F("asin", 1, 1, rule("real", NUM), _numeric(math.asin)),
    _F("acos", 1, 1, rule("real", NUM), _numeric(math.acos)),
    _F("atan", 1, 1, rule("real", NUM), _numeric(math.atan)),
    _F("atan2", 2, 2, rule("real", NUM), _numeric(math.atan2)),
    _F("degrees", 1, 1, rule("real", NUM), _numeric(math.degrees)),
    _F("radians", 1, 1, rule("real", NUM), _numeric(math.radians)),
    _F("sign", 1, 1, rule("real", NUM), _numeric(lambda v: float((v > 0) - (v < 0)))),
    _F("isnan", 1, 1, rule("bool", NUM), lambda v: isinstance(v, float) and math.isnan(v)),
    _F("isinf", 1, 1, rule("bool", NUM), lambda v: isinstance(v, float) and math.isinf(v)),
    _F("isfinite", 1, 1, rule("bool", NUM), lambda v: isinstance(v, (int, float)) and math.isfinite(v)),
    _F("rand", 0, 1, rule("real", INTEGER),
       lambda n=None: float(random.randrange(n)) if isinstance(n, int) and n > 0 else random.random()),
    _F("new_guid", 0, 0, rule("guid"), lambda: str(uuid.uuid4())),
    _F("binary_and", 2, 2, rule("long", INTEGER), _binary(lambda a, b: a & b)),
    _F("binary_or", 2, 2, rule("long", INTEGER), _binary(lambda a, b: a | b)),
    _F("binary_xor", 2, 2, rule("long", INTEGER), _binary(lambda a, b: a ^ b)),
    _F("binary_not", 1, 1, rule("long", INTEGER), _binary(lambda a: ~a)),
    _F("binary_shift_left", 2, 2, rule("long", INTEGER), _binary(lambda a, b: a << (b % 64))),
    _F("binary_shift_right", 2, 2, rule("long", INTEGER), _binary(lambda a, b: (a & (2**64 - 1)) >> (b % 64))),
    _F("bitset_count_ones", 1, 1, rule("long", INTEGER), _binary(lambda a: bin(a & (2**64 - 1)).count("1"))),
]


def _registry() -> dict[str, Function]:
    from .dynamic import FUNCTIONS as dynamic_functions
    from .hashing import FUNCTIONS as hash_functions
    from .network import FUNCTIONS as network_functions
    from .series import FUNCTIONS as series_functions
    from .strings import FUNCTIONS as string_functions
    from .timefuncs import FUNCTIONS as time_functions
    table = _table + string_functions + time_functions + dynamic_functions + network_functions + series_functions + \
        hash_functions
    registry = {f.name: f for f in table}
    assert len(registry) == len(table), "a function is defined twice"
    return registry


FUNCTIONS: dict[str, Function] = _registry()

#: Every real KQL aggregation function: outside 'summarize' each one is refused as such.
AGGREGATE_NAMES = AGGREGATE_FUNCTIONS
