"""Date and time functions. Weeks start on Sunday, as in KQL; ``endof*()`` is the last
microsecond of the period (KQL's last 100-ns tick cannot be held by a Python datetime)."""

from __future__ import annotations

import calendar
import re
from datetime import datetime, timedelta
from typing import Any

from .model import UTC
from .signatures import DATETIME, INTEGER, NUM, STR, TIMESPAN, Function, rule

_TICK = timedelta(microseconds=1)
_UNIX = datetime(1970, 1, 1, tzinfo=UTC)
_FORMAT_TOKENS = re.compile(r"yyyy|yy|MM|M|dd|d|HH|H|hh|h|mm|m|ss|s|f{1,7}|F{1,7}|tt|.", re.S)
_SPAN_TOKENS = re.compile(r"d{1,8}|hh|h|HH|H|mm|m|ss|s|f{1,7}|F{1,7}|.", re.S)


def _dt(fn):
    """A function of datetimes that gives null on anything else (or on overflow)."""
    def apply(*args):
        if not isinstance(args[0], datetime):
            return None
        try:
            return fn(*args)
        except (ValueError, OverflowError, TypeError):
            return None
    return apply


def format_datetime(value: Any, fmt: Any) -> str:
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


def format_timespan(value: Any, fmt: Any) -> str:
    if not isinstance(value, timedelta) or not isinstance(fmt, str):
        return ""
    total = abs(value)
    days, rest = total.days, total.seconds
    parts = {"d": days, "h": rest // 3600, "m": rest // 60 % 60, "s": rest % 60}
    out = ["-" if value < timedelta(0) else ""]
    for tok in _SPAN_TOKENS.findall(fmt):
        c = tok[0].lower() if tok[0] in "Hh" else tok[0]
        if c in "dhms" and set(tok) <= set("dhmsH"):
            out.append(str(parts[c]).rjust(len(tok), "0"))
        elif c in "fF":
            digits = f"{total.microseconds:06d}0"[:len(tok)]
            out.append(digits.rstrip("0") if c == "F" else digits)
        else:
            out.append(tok)
    return "".join(out)


def _add_months(value: datetime, months: int) -> datetime:
    index = value.year * 12 + value.month - 1 + months
    year, month = divmod(index, 12)
    day = min(value.day, calendar.monthrange(year, month + 1)[1])
    return value.replace(year=year, month=month + 1, day=day)


def _start_of_week(value: datetime) -> datetime:
    day = value.replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=(day.weekday() + 1) % 7)


_SPANS = {"day": timedelta(days=1), "hour": timedelta(hours=1), "minute": timedelta(minutes=1),
          "second": timedelta(seconds=1), "millisecond": timedelta(milliseconds=1),
          "microsecond": timedelta(microseconds=1), "week": timedelta(days=7)}
_TRUNC = {"day": dict(hour=0, minute=0, second=0, microsecond=0), "hour": dict(minute=0, second=0, microsecond=0),
          "minute": dict(second=0, microsecond=0), "second": dict(microsecond=0)}


def _datetime_diff(part: Any, a: Any, b: Any) -> int | None:
    """How many period boundaries lie between ``b`` and ``a`` (positive when ``a`` is later)."""
    if not (isinstance(a, datetime) and isinstance(b, datetime) and isinstance(part, str)):
        return None
    p = part.lower()
    if p == "year":
        return a.year - b.year
    if p == "quarter":
        return (a.year - b.year) * 4 + (a.month - 1) // 3 - (b.month - 1) // 3
    if p == "month":
        return (a.year - b.year) * 12 + a.month - b.month
    if p == "week":
        return (_start_of_week(a) - _start_of_week(b)).days // 7
    if p in _TRUNC:
        return (a.replace(**_TRUNC[p]) - b.replace(**_TRUNC[p])) // _SPANS[p]
    if p == "millisecond":  # boundaries crossed: .2001 - .1009 is 100, not the 99 ms between them
        def whole(v: datetime) -> datetime:
            return v.replace(microsecond=v.microsecond // 1000 * 1000)
        return (whole(a) - whole(b)) // _SPANS["millisecond"]
    if p in ("microsecond", "nanosecond"):
        micros = (a - b) // _TICK
        return micros * (1000 if p == "nanosecond" else 1)
    return None


def _datetime_add(part: Any, amount: Any, value: Any) -> datetime | None:
    if not (isinstance(value, datetime) and isinstance(amount, int) and isinstance(part, str)):
        return None
    p = part.lower()
    try:
        if p in ("year", "quarter", "month"):
            return _add_months(value, amount * {"year": 12, "quarter": 3, "month": 1}[p])
        if p == "nanosecond":
            return value + timedelta(microseconds=amount // 1000)
        return value + amount * _SPANS[p] if p in _SPANS else None
    except (OverflowError, ValueError):
        return None


def _datetime_part(part: Any, value: Any) -> int | None:
    if not (isinstance(value, datetime) and isinstance(part, str)):
        return None
    p = part.lower()
    simple = {"year": value.year, "quarter": (value.month - 1) // 3 + 1, "month": value.month, "day": value.day,
              "dayofyear": value.timetuple().tm_yday, "hour": value.hour, "minute": value.minute,
              "second": value.second, "millisecond": value.microsecond // 1000,
              "microsecond": value.microsecond, "nanosecond": value.microsecond * 1000,
              "week_of_year": value.isocalendar()[1], "weekofyear": value.isocalendar()[1]}
    return simple.get(p)


def _start_of(unit: str, end: bool = False):
    def apply(value: datetime, offset: Any = 0) -> datetime | None:
        if not isinstance(offset, int):
            return None
        if unit == "day":
            start = value.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=offset + end)
        elif unit == "week":
            start = _start_of_week(value) + timedelta(days=7 * (offset + end))
        elif unit == "month":
            start = _add_months(value.replace(day=1, hour=0, minute=0, second=0, microsecond=0), offset + end)
        else:
            start = value.replace(year=value.year + offset + end, month=1, day=1, hour=0, minute=0, second=0,
                                  microsecond=0)
        return start - _TICK if end else start
    return _dt(apply)


def _make_datetime(*parts: Any) -> datetime | None:
    if len(parts) == 1:
        return parts[0] if isinstance(parts[0], datetime) else None
    if any(not isinstance(p, (int, float)) or isinstance(p, bool) for p in parts):
        return None
    year, month, day, hour, minute, *second = list(parts) + [0] * (6 - len(parts))
    seconds = second[0] if second else 0
    try:
        return datetime(int(year), int(month), int(day), int(hour), int(minute), tzinfo=UTC) + \
            timedelta(seconds=seconds)
    except (ValueError, OverflowError):
        return None


def _make_timespan(*parts: Any) -> timedelta | None:
    if len(parts) == 1:
        return parts[0] if isinstance(parts[0], timedelta) else None
    if any(not isinstance(p, (int, float)) or isinstance(p, bool) for p in parts):
        return None
    days, (hours, minutes, seconds) = (parts[0], parts[1:]) if len(parts) == 4 else \
        (0, (list(parts) + [0])[:3])
    try:
        return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    except OverflowError:
        return None


def _unix(scale: float):
    def apply(v: Any) -> datetime | None:
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            return None
        try:
            return _UNIX + timedelta(seconds=v * scale)
        except (OverflowError, ValueError):
            return None
    return apply


def _zone(to_local: bool):
    def apply(value: Any, zone: Any) -> datetime | None:
        if not isinstance(value, datetime) or not isinstance(zone, str):
            return None
        try:
            from zoneinfo import ZoneInfo
            tz = ZoneInfo(zone)
        except Exception:  # unknown zone, or no time zone database installed
            return None
        naive = value.replace(tzinfo=None)
        if to_local:  # the local wall-clock time, shown as a UTC-kind datetime like KQL does
            return value.astimezone(tz).replace(tzinfo=UTC)
        return naive.replace(tzinfo=tz).astimezone(UTC)
    return apply


_F = Function
_D = rule("datetime", DATETIME, INTEGER)
_INT_OF_DT = rule("int", DATETIME)
FUNCTIONS = [
    _F("format_datetime", 2, 2, rule("string", DATETIME, STR), format_datetime),
    _F("format_timespan", 2, 2, rule("string", TIMESPAN, STR), format_timespan),
    _F("datetime_diff", 3, 3, rule("long", STR, DATETIME), _datetime_diff),
    _F("datetime_add", 3, 3, rule("datetime", STR, INTEGER, DATETIME), _datetime_add),
    _F("datetime_part", 2, 2, rule("int", STR, DATETIME), _datetime_part),
    _F("datepart", 2, 2, rule("int", STR, DATETIME), _datetime_part),
    _F("dayofweek", 1, 1, rule("timespan", DATETIME), _dt(lambda v: timedelta(days=(v.weekday() + 1) % 7))),
    _F("dayofmonth", 1, 1, _INT_OF_DT, _dt(lambda v: v.day)),
    _F("dayofyear", 1, 1, _INT_OF_DT, _dt(lambda v: v.timetuple().tm_yday)),
    _F("hourofday", 1, 1, _INT_OF_DT, _dt(lambda v: v.hour)),
    _F("getmonth", 1, 1, _INT_OF_DT, _dt(lambda v: v.month)),
    _F("monthofyear", 1, 1, _INT_OF_DT, _dt(lambda v: v.month)),
    _F("getyear", 1, 1, _INT_OF_DT, _dt(lambda v: v.year)),
    _F("week_of_year", 1, 1, _INT_OF_DT, _dt(lambda v: v.isocalendar()[1])),
    _F("weekofyear", 1, 1, _INT_OF_DT, _dt(lambda v: v.isocalendar()[1])),
    _F("startofday", 1, 2, _D, _start_of("day")),
    _F("startofweek", 1, 2, _D, _start_of("week")),
    _F("startofmonth", 1, 2, _D, _start_of("month")),
    _F("startofyear", 1, 2, _D, _start_of("year")),
    _F("endofday", 1, 2, _D, _start_of("day", end=True)),
    _F("endofweek", 1, 2, _D, _start_of("week", end=True)),
    _F("endofmonth", 1, 2, _D, _start_of("month", end=True)),
    _F("endofyear", 1, 2, _D, _start_of("year", end=True)),
    _F("make_datetime", 1, 6, rule("datetime"), _make_datetime),
    _F("make_timespan", 1, 4, rule("timespan"), _make_timespan),
    _F("unixtime_seconds_todatetime", 1, 1, rule("datetime", NUM), _unix(1)),
    _F("unixtime_milliseconds_todatetime", 1, 1, rule("datetime", NUM), _unix(1e-3)),
    _F("unixtime_microseconds_todatetime", 1, 1, rule("datetime", NUM), _unix(1e-6)),
    _F("unixtime_nanoseconds_todatetime", 1, 1, rule("datetime", NUM), _unix(1e-9)),
    _F("datetime_utc_to_local", 2, 2, rule("datetime", DATETIME, STR), _zone(True)),
    _F("datetime_local_to_utc", 2, 2, rule("datetime", DATETIME, STR), _zone(False)),
]
