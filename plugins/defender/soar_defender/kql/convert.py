"""Conversions between KQL types, shared by the conversion functions (``toint()``, ...),
``extract(..., typeof(T))``, ``parse`` with typed columns and ``mv-expand ... to typeof(T)``.
Each returns null (None; '' for strings) when the value does not convert."""

from __future__ import annotations

import math
import uuid
from datetime import datetime, timedelta
from typing import Any

from .model import parse_datetime, parse_timespan, to_kql_string

INT32 = (-2**31, 2**31 - 1)
INT64 = (-2**63, 2**63 - 1)


def to_integer(v: Any, bounds: tuple[int, int] = INT64) -> int | None:
    if v is None or isinstance(v, (list, dict, datetime, timedelta)):
        return None
    try:
        if isinstance(v, str):
            text = v.strip()
            try:
                v = int(text)
            except ValueError:
                v = float(text)
        if isinstance(v, float) and not math.isfinite(v):
            return None
        number = int(v)
    except (ValueError, OverflowError, TypeError):
        return None
    return number if bounds[0] <= number <= bounds[1] else None


def to_double(v: Any) -> float | None:
    if v is None or isinstance(v, (list, dict, datetime, timedelta)):
        return None
    try:
        return float(v.strip() if isinstance(v, str) else v)
    except (ValueError, OverflowError, TypeError):
        return None


def to_bool(v: Any) -> bool | None:
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, (int, float)):
        return v != 0
    if isinstance(v, str) and v.strip().lower() in ("true", "false", "1", "0"):
        return v.strip().lower() in ("true", "1")
    return None


def to_datetime(v: Any) -> datetime | None:
    if isinstance(v, datetime):
        return v
    return parse_datetime(v) if isinstance(v, str) else None


def to_timespan(v: Any) -> timedelta | None:
    if isinstance(v, timedelta):
        return v
    return parse_timespan(v) if isinstance(v, str) else None


def to_guid(v: Any) -> str | None:
    try:
        return str(uuid.UUID(v.strip())) if isinstance(v, str) else None
    except ValueError:
        return None



def convert_to(value: Any, kql: str) -> Any:
    """``value`` parsed or converted to ``kql`` (as ``toint()``, ``todatetime()``, ... do)."""
    if kql == "string":
        return to_kql_string(value)
    if kql in ("int", "long"):
        return to_integer(value, INT32 if kql == "int" else INT64)
    return _CONVERTERS.get(kql, lambda v: v)(value)


def cast_to(value: Any, kql: str) -> Any:
    """``mv-expand ... to typeof(T)``: a dynamic element as T, null when it is not a T (strings
    are the exception: any element shows as its text; numbers cast between number types)."""
    if value is None:
        return "" if kql == "string" else None
    if kql == "dynamic":
        return value
    if kql == "string":
        return to_kql_string(value)
    if kql in ("int", "long"):  # a number of another kind is truncated, as a cast does
        return to_integer(value, INT32 if kql == "int" else INT64) if isinstance(value, (int, float)) and \
            not isinstance(value, bool) else None
    if kql == "real":
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    if kql == "bool":
        return value if isinstance(value, bool) else None
    if isinstance(value, (datetime, timedelta)):  # make-series axes hold datetimes already
        return value if isinstance(value, datetime) == (kql == "datetime") and kql in ("datetime", "timespan") \
            else None
    return convert_to(value, kql) if isinstance(value, str) else None


_CONVERTERS = {"real": to_double, "bool": to_bool, "datetime": to_datetime, "timespan": to_timespan,
               "guid": to_guid, "dynamic": lambda v: v}
