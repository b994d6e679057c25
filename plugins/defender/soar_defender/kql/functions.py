"""Scalar functions: for each name, its arity, a type rule and a Python implementation.

A type rule maps the argument types to the result type, or raises ``ValueError`` with a sentence
the compiler turns into a positioned KqlError. Implementations take plain values, treat None as
null and never raise on odd input (dynamic values can be anything): they return null instead.
``ago()`` and ``now()`` need the query's clock, so the compiler handles them itself.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable

from .model import NUMERIC, UTC, parse_datetime, parse_timespan, to_kql_string

MAX_STRING = 1_048_576  # longer strings are cut, so strcat() cannot blow up memory
_EPOCH = datetime(1, 1, 1, tzinfo=UTC)  # KQL bins datetimes on ticks since 0001-01-01
_INT32 = (-2**31, 2**31 - 1)
_INT64 = (-2**63, 2**63 - 1)


@dataclass(frozen=True)
class Function:
    name: str
    min_args: int
    max_args: int
    result: Callable[[str, list[str]], str]  # (function name, argument types) → result type
    impl: Callable[..., Any]


# ---- type rules ---------------------------------------------------------------------------------

def _check(name: str, types: list[str], index: int, allowed: frozenset[str] | set[str], what: str) -> None:
    t = types[index]
    if t not in allowed and t != "dynamic":
        raise ValueError(f"argument {index + 1} of {name}() must be {what}, not {t}")


def unify(types: list[str], what: str) -> str:
    """The one type several branches (iff, case, coalesce) share, or ValueError."""
    distinct = set(types)
    if len(distinct) == 1:
        return types[0]
    if distinct <= NUMERIC:
        return "real" if "real" in distinct else "long"
    if "dynamic" in distinct:
        return "dynamic"
    raise ValueError(f"{what} must all have the same type, got {', '.join(types)}")


_STRINGY = frozenset({"string", "guid"})


def _rule(result: str | Callable[[list[str]], str], *arg_kinds: tuple[frozenset | None, str]):
    """A type rule: argument i must be of arg_kinds[i] (the last kind repeats); then ``result``."""
    def check(name: str, types: list[str]) -> str:
        for i in range(len(types)):
            allowed, what = arg_kinds[min(i, len(arg_kinds) - 1)]
            if allowed is not None:
                _check(name, types, i, allowed, what)
        return result(types) if callable(result) else result
    return check


_STR = (_STRINGY, "a string")
_INTEGER = (frozenset({"int", "long"}), "an integer")
_NUM = (NUMERIC, "a number")
_BOOL = (frozenset({"bool"}), "a bool")
_DATETIME = (frozenset({"datetime"}), "a datetime")
_WHATEVER = (None, "")


def _bin_rule(name: str, types: list[str]) -> str:
    value, size = types
    if value in ("datetime", "timespan") and size in ("timespan", "dynamic"):
        return value
    if value in NUMERIC and size in NUMERIC | {"dynamic"}:
        return value
    if value == "dynamic":
        return "dynamic"
    raise ValueError(f"{name}() cannot round a {value} to a {size} (use bin(Timestamp, 1h) or bin(number, 10))")


def _iff_rule(name: str, types: list[str]) -> str:
    if types[0] not in ("bool", "dynamic"):
        raise ValueError(f"the condition of {name}() must be a bool, not {types[0]}")
    return unify(types[1:], f"the two results of {name}()")


def _case_rule(name: str, types: list[str]) -> str:
    if len(types) % 2 == 0:
        raise ValueError("case() takes predicate/value pairs and a final else value")
    for i in range(0, len(types) - 1, 2):
        if types[i] not in ("bool", "dynamic"):
            raise ValueError(f"argument {i + 1} of case() must be a bool predicate, not {types[i]}")
    return unify(types[1::2] + [types[-1]], "the values of case()")


# ---- implementations ----------------------------------------------------------------------------

def _cut(text: str) -> str:
    return text if len(text) <= MAX_STRING else text[:MAX_STRING]


def _join(delimiter: Any, values: tuple) -> str:
    """strcat / strcat_delim, stopping once the result passes MAX_STRING."""
    sep, parts, size = to_kql_string(delimiter), [], 0
    for v in values:
        text = to_kql_string(v)
        parts.append(text)
        size += len(text) + len(sep)
        if size > MAX_STRING:
            break
    return _cut(sep.join(parts))


def _to_integer(v: Any, bounds: tuple[int, int]) -> int | None:
    if v is None or isinstance(v, (list, dict, datetime, timedelta)):
        return None
    try:
        if isinstance(v, str):
            text = v.strip()
            try:
                v = int(text)
            except ValueError:
                v = float(text)
        number = int(v)
    except (ValueError, OverflowError, TypeError):
        return None
    return number if bounds[0] <= number <= bounds[1] else None


def _todouble(v: Any) -> float | None:
    if v is None or isinstance(v, (list, dict, datetime, timedelta)):
        return None
    try:
        return float(v.strip() if isinstance(v, str) else v)
    except (ValueError, OverflowError, TypeError):
        return None


def _tobool(v: Any) -> bool | None:
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, (int, float)):
        return v != 0
    if isinstance(v, str) and v.strip().lower() in ("true", "false"):
        return v.strip().lower() == "true"
    return None


def _todatetime(v: Any) -> datetime | None:
    if isinstance(v, datetime):
        return v
    return parse_datetime(v) if isinstance(v, str) else None


def _totimespan(v: Any) -> timedelta | None:
    if isinstance(v, timedelta):
        return v
    return parse_timespan(v) if isinstance(v, str) else None


def _substring(s: Any, start: Any, length: Any = None) -> str:
    text = to_kql_string(s)
    if not isinstance(start, int) or isinstance(start, bool):
        return ""
    start = max(start, 0)
    if length is None:
        return text[start:]
    if not isinstance(length, int) or length < 0:
        return ""
    return text[start:start + length]


def _bin(value: Any, size: Any) -> Any:
    if value is None or size is None:
        return None
    try:
        if isinstance(value, datetime):
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


_FORMAT_TOKENS = re.compile(r"yyyy|yy|MM|M|dd|d|HH|H|hh|h|mm|m|ss|s|f{1,7}|F{1,7}|tt|.", re.S)


def _format_datetime(value: Any, fmt: Any) -> str:
    if not isinstance(value, datetime) or not isinstance(fmt, str):
        return ""
    v = value.astimezone(UTC)
    out = []
    for tok in _FORMAT_TOKENS.findall(fmt):
        c = tok[0]
        if c == "y":
            out.append(f"{v.year:04d}" if len(tok) == 4 else f"{v.year % 100:02d}")
        elif c in "MdHms" and tok in ("MM", "M", "dd", "d", "HH", "H", "mm", "m", "ss", "s"):
            number = {"M": v.month, "d": v.day, "H": v.hour, "m": v.minute, "s": v.second}[c]
            out.append(f"{number:02d}" if len(tok) == 2 else str(number))
        elif c == "h":
            hour = v.hour % 12 or 12
            out.append(f"{hour:02d}" if len(tok) == 2 else str(hour))
        elif c in "fF":
            digits = f"{v.microsecond:06d}0"[:len(tok)]
            out.append(digits.rstrip("0") if c == "F" else digits)
        elif tok == "tt":
            out.append("AM" if v.hour < 12 else "PM")
        else:
            out.append(tok)
    return "".join(out)


def _round(value: Any, precision: Any = 0) -> Any:
    if value is None or not isinstance(precision, int):
        return None
    try:
        factor = 10.0 ** precision
        result = math.copysign(math.floor(abs(value) * factor + 0.5) / factor, value)
    except (OverflowError, ValueError, TypeError):
        return value if isinstance(value, float) else None
    return result


def _too_deep(value: Any, limit: int = 64) -> bool:
    stack = [(value, 1)]
    while stack:
        v, depth = stack.pop()
        if isinstance(v, (list, dict)):
            if depth > limit:
                return True
            stack += [(c, depth + 1) for c in (v.values() if isinstance(v, dict) else v)]
    return False


def _parse_json(v: Any) -> Any:
    """JSON text → dynamic; text that is not JSON (or nests deeper than 64) stays a string."""
    if not isinstance(v, str):
        return v
    try:
        parsed = json.loads(v)
    except (ValueError, RecursionError):
        return v
    return v if _too_deep(parsed) else parsed


def _split(s: Any, delimiter: Any, index: Any = None) -> Any:
    text, delim = to_kql_string(s), to_kql_string(delimiter)
    if not delim:
        return None
    parts = text.split(delim)
    if index is None:
        return parts
    return parts[index] if isinstance(index, int) and -len(parts) <= index < len(parts) else None


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


def _abs(v: Any) -> Any:
    try:
        return None if v is None or isinstance(v, (str, list, dict, bool)) else abs(v)
    except (TypeError, OverflowError):
        return None


def _startofday(v: Any) -> Any:
    return v.replace(hour=0, minute=0, second=0, microsecond=0) if isinstance(v, datetime) else None


def _replace_string(s: Any, lookup: Any, rewrite: Any) -> str:
    text, old, new = to_kql_string(s), to_kql_string(lookup), to_kql_string(rewrite)
    if not old:
        return text
    growth = len(new) - len(old)
    if growth > 0 and len(text) + text.count(old) * growth > MAX_STRING:  # replace only what fits
        return _cut(text.replace(old, new, (MAX_STRING - len(text)) // growth + 1))
    return text.replace(old, new)


_F = Function
_table = [
    _F("isempty", 1, 1, _rule("bool", _WHATEVER), lambda v: v is None or v == ""),
    _F("isnotempty", 1, 1, _rule("bool", _WHATEVER), lambda v: not (v is None or v == "")),
    _F("isnull", 1, 1, _rule("bool", _WHATEVER), lambda v: v is None),
    _F("isnotnull", 1, 1, _rule("bool", _WHATEVER), lambda v: v is not None),
    _F("not", 1, 1, _rule("bool", _BOOL), lambda v: None if v is None else v is not True),
    _F("tolower", 1, 1, _rule("string", _STR), lambda v: to_kql_string(v).lower()),
    _F("toupper", 1, 1, _rule("string", _STR), lambda v: to_kql_string(v).upper()),
    _F("strcat", 1, 64, _rule("string", _WHATEVER), lambda *vs: _join("", vs)),
    _F("strcat_delim", 2, 65, _rule("string", _WHATEVER), lambda d, *vs: _join(d, vs)),
    _F("substring", 2, 3, _rule("string", _WHATEVER, _INTEGER), _substring),
    _F("strlen", 1, 1, _rule("long", _STR), lambda v: len(to_kql_string(v))),
    _F("tostring", 1, 1, _rule("string", _WHATEVER), to_kql_string),
    _F("toint", 1, 1, _rule("int", _WHATEVER), lambda v: _to_integer(v, _INT32)),
    _F("tolong", 1, 1, _rule("long", _WHATEVER), lambda v: _to_integer(v, _INT64)),
    _F("todouble", 1, 1, _rule("real", _WHATEVER), _todouble),
    _F("toreal", 1, 1, _rule("real", _WHATEVER), _todouble),
    _F("tobool", 1, 1, _rule("bool", _WHATEVER), _tobool),
    _F("toboolean", 1, 1, _rule("bool", _WHATEVER), _tobool),
    _F("todatetime", 1, 1, _rule("datetime", _WHATEVER), _todatetime),
    _F("totimespan", 1, 1, _rule("timespan", _WHATEVER), _totimespan),
    _F("iff", 3, 3, _iff_rule, lambda c, a, b: a if c is True else b),
    _F("iif", 3, 3, _iff_rule, lambda c, a, b: a if c is True else b),
    _F("case", 3, 63, _case_rule, _case),
    _F("bin", 2, 2, _bin_rule, _bin),
    _F("floor", 2, 2, _bin_rule, _bin),
    _F("format_datetime", 2, 2, _rule("string", _DATETIME, _STR), _format_datetime),
    _F("coalesce", 2, 64, lambda name, types: unify(types, "the arguments of coalesce()"), _coalesce),
    _F("abs", 1, 1, _rule(lambda t: t[0], (NUMERIC | {"timespan"}, "a number or timespan")), _abs),
    _F("round", 1, 2, _rule("real", _NUM, _INTEGER), _round),
    _F("array_length", 1, 1, _rule("long", (frozenset({"dynamic"}), "dynamic")),
       lambda v: len(v) if isinstance(v, list) else None),
    _F("parse_json", 1, 1, _rule("dynamic", _WHATEVER), _parse_json),
    _F("todynamic", 1, 1, _rule("dynamic", _WHATEVER), _parse_json),
    _F("split", 2, 3, _rule("dynamic", _STR, _STR, _INTEGER), _split),
    _F("replace_string", 3, 3, _rule("string", _STR), _replace_string),
    _F("indexof", 2, 2, _rule("long", _STR), lambda s, t: to_kql_string(s).find(to_kql_string(t))),
    _F("startofday", 1, 1, _rule("datetime", _DATETIME), _startofday),
]
FUNCTIONS: dict[str, Function] = {f.name: f for f in _table}

#: Real KQL functions outside the subset: refused as NotSupported rather than 'unknown'.
KNOWN_KQL_FUNCTIONS = frozenset("""
extract extract_all parse_path parse_url parse_command_line parse_xml parse_csv parse_user_agent
base64_decode_tostring base64_encode_tostring trim trim_start trim_end countof reverse
datetime_diff datetime_add datetime_part dayofweek dayofmonth dayofyear hourofday getmonth getyear
startofweek startofmonth startofyear endofday endofweek endofmonth make_datetime make_timespan
todecimal tohex hash hash_sha256 hash_md5 hash_sha1 ipv4_is_private ipv4_is_in_range ipv4_compare
parse_ipv4 parse_ipv6 ipv6_compare isnan isinf log log10 log2 exp pow sqrt rand range pack
pack_array pack_all bag_keys bag_pack bag_merge set_union set_intersect set_difference array_concat
array_slice array_index_of array_sort_asc array_sort_desc zip url_decode url_encode strrep
translate column_ifexists materialize toscalar typeof gettype geo_info_from_ip_address
percentile percentiles stdev variance any take_any make_bag dcountif maxif minif avgif
countof has_any_index regex_quote replace_regex unixtime_seconds_todatetime
unixtime_milliseconds_todatetime format_timespan bin_at ceiling sign tohex current_cluster_endpoint
""".split())

#: Aggregation functions: usable only in 'summarize' (see aggregates.py).
AGGREGATE_NAMES = frozenset({"count", "countif", "dcount", "make_set", "make_list", "make_set_if",
                             "make_list_if", "min", "max", "sum", "sumif", "avg", "arg_max", "arg_min"})
