"""Tables, columns, results and the KQL scalar value model.

Values inside the evaluator are plain Python objects, one Python type per KQL type:

    string → str (never None: KQL strings are empty, not null)   int, long → int (64-bit wrap)
    real → float     bool → bool     datetime → timezone-aware datetime (UTC)
    timespan → timedelta     guid → str     dynamic → list / dict / str / int / float / bool / None

``None`` is KQL's null for every other type. :class:`Table` normalises rows on the way in, so
the evaluator's hot loops can index ``row[name]`` without checks.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable, Mapping

UTC = timezone.utc

KQL_TYPES = ("string", "int", "long", "real", "bool", "datetime", "dynamic", "guid", "timespan")
TYPE_ALIASES = {"boolean": "bool", "double": "real", "date": "datetime", "time": "timespan",
                "uniqueid": "guid", "decimal": "real"}
NUMERIC = frozenset({"int", "long", "real"})

#: Column type names as the Defender hunting APIs report them in ``Schema[].Type``.
#: DateTime and String are shown in the API docs; the others follow the same .NET naming.
API_TYPE_NAMES = {"string": "String", "int": "Int32", "long": "Int64", "real": "Double",
                  "bool": "Boolean", "datetime": "DateTime", "dynamic": "Object", "guid": "Guid",
                  "timespan": "TimeSpan"}


def kql_type(name: str) -> str:
    """The canonical KQL type for ``name`` (accepts aliases such as 'boolean', 'double')."""
    t = TYPE_ALIASES.get(name, name)
    if t not in KQL_TYPES:
        raise ValueError(f"unknown KQL type {name!r}; expected one of {', '.join(KQL_TYPES)}")
    return t


@dataclass(frozen=True)
class Column:
    """A column: its name and KQL type ('string', 'long', 'datetime', ...)."""

    name: str
    type: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "type", kql_type(self.type))

    @property
    def api_type(self) -> str:
        """The type name the hunting APIs show in their schema ('DateTime', 'String', ...)."""
        return API_TYPE_NAMES[self.type]


# ---- conversions shared by tables, literals and functions -------------------------------------

_DATETIME_RE = re.compile(
    r"\s*(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?"
    r"\s*(Z|z|[+-]\d{2}:?\d{2})?\s*$", re.ASCII)


_US_RE = re.compile(r"\s*(\d{1,2})[/-](\d{1,2})[/-](\d{4})(?:\s+(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?"
                    r"\s*([AaPp][Mm])?)?\s*$", re.ASCII)
_RFC_RE = re.compile(r"\s*(?:[A-Za-z]+,\s*)?(\d{1,2})[\s-]+([A-Za-z]{3})[A-Za-z]*[\s-]+(\d{2,4})"
                     r"(?:\s+(\d{1,2}):(\d{2})(?::(\d{2}))?)?\s*(GMT|UTC|UT|Z|[+-]\d{4})?\s*$", re.ASCII)
_MONTHS = {m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct",
                                       "nov", "dec"), start=1)}


def parse_datetime(text: str) -> datetime | None:
    """Date text → aware UTC datetime, or None when it is not a date. ISO 8601 (``2026-11-23``,
    ``2026-11-23T10:00:00.5Z``, ``2026-11-23 10:00 +02:00``), US ``11/23/2026 10:00:00 PM`` and
    RFC 822/850 (``Mon, 23 Nov 2026 10:00:00 GMT``), as KQL's datetime() accepts them."""
    m = _DATETIME_RE.fullmatch(text)
    if not m:
        return _parse_other_datetime(text)
    y, mo, d, h, mi, s, frac, tz = m.groups()
    micro = int((frac or "0")[:6].ljust(6, "0"))
    try:
        value = datetime(int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(s or 0), micro)
    except ValueError:
        return None
    offset = timedelta(0)
    if tz and tz not in "Zz":
        sign = -1 if tz[0] == "-" else 1
        digits = tz[1:].replace(":", "")
        offset = sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    try:
        return (value - offset).replace(tzinfo=UTC)
    except OverflowError:
        return None


def _parse_other_datetime(text: str) -> datetime | None:
    m = _US_RE.fullmatch(text)
    if m:
        mo, d, y, h, mi, s, frac, half = m.groups()
        hour = int(h or 0)
        if half:
            hour = hour % 12 + (12 if half.upper() == "PM" else 0)
        micro = int((frac or "0")[:6].ljust(6, "0"))
        try:
            return datetime(int(y), int(mo), int(d), hour, int(mi or 0), int(s or 0), micro, tzinfo=UTC)
        except ValueError:
            return None
    m = _RFC_RE.fullmatch(text)
    if m and m.group(2).lower() in _MONTHS:
        d, mon, y, h, mi, s, tz = m.groups()
        year = int(y) + (2000 if len(y) == 2 else 0)
        offset = timedelta(0)
        if tz and tz[0] in "+-":
            offset = (-1 if tz[0] == "-" else 1) * timedelta(hours=int(tz[1:3]), minutes=int(tz[3:]))
        try:
            value = datetime(year, _MONTHS[mon.lower()], int(d), int(h or 0), int(mi or 0), int(s or 0))
            return (value - offset).replace(tzinfo=UTC)
        except (ValueError, OverflowError):
            return None
    return None


_TIMESPAN_UNITS_US = {
    "d": 86_400_000_000, "day": 86_400_000_000, "days": 86_400_000_000,
    "h": 3_600_000_000, "hr": 3_600_000_000, "hrs": 3_600_000_000, "hour": 3_600_000_000,
    "hours": 3_600_000_000, "m": 60_000_000, "min": 60_000_000, "minute": 60_000_000,
    "minutes": 60_000_000, "s": 1_000_000, "sec": 1_000_000, "second": 1_000_000,
    "seconds": 1_000_000, "ms": 1000, "milli": 1000, "millis": 1000, "millisecond": 1000,
    "milliseconds": 1000, "microsecond": 1, "microseconds": 1, "tick": 0.1, "ticks": 0.1,
}
TIMESPAN_UNITS = frozenset(_TIMESPAN_UNITS_US)
_CLOCK_RE = re.compile(r"\s*(-)?(?:(\d+)\.)?(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,7}))?)?\s*$", re.ASCII)
_UNIT_RE = re.compile(r"\s*(-)?(\d+(?:\.\d+)?)([a-z]+)\s*$", re.ASCII)


def timespan_from(amount: float, unit: str) -> timedelta:
    """``amount`` of ``unit`` ('h', 'ms', ...) as a timedelta; OverflowError when too large."""
    return timedelta(microseconds=round(amount * _TIMESPAN_UNITS_US[unit]))


def parse_timespan(text: str) -> timedelta | None:
    """'1h', '1.5d', '00:10:00', '2.03:00:00.5' → timedelta, or None when it is not a timespan."""
    m = _UNIT_RE.fullmatch(text)
    try:
        if m and m.group(3) in _TIMESPAN_UNITS_US:
            span = timespan_from(float(m.group(2)), m.group(3))
            return -span if m.group(1) else span
        m = _CLOCK_RE.fullmatch(text)
        if not m:
            return None
        neg, days, h, mi, s, frac = m.groups()
        span = timedelta(days=int(days or 0), hours=int(h), minutes=int(mi), seconds=int(s or 0),
                         microseconds=int((frac or "0")[:6].ljust(6, "0")))
        return -span if neg else span
    except (OverflowError, ValueError):
        return None


def format_datetime_iso(value: datetime) -> str:
    """``2026-11-23T10:00:00Z`` (with ``.ffffff`` when there are microseconds)."""
    return value.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"


def format_timespan(value: timedelta) -> str:
    """KQL's timespan text: ``[-][d.]hh:mm:ss[.fffffff]``."""
    sign = "-" if value < timedelta(0) else ""
    value = abs(value)
    hours, rest = divmod(value.seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    text = f"{hours:02d}:{minutes:02d}:{seconds:02d}"
    if value.days:
        text = f"{value.days}.{text}"
    if value.microseconds:
        text += f".{value.microseconds:06d}0"
    return sign + text


def jsonable(value: Any) -> Any:
    """A value with datetimes, timespans, non-finite reals and tuples made JSON-safe."""
    if isinstance(value, datetime):
        return format_datetime_iso(value)
    if isinstance(value, timedelta):
        return format_timespan(value)
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def dynamic_text(value: Any) -> str:
    """Compact JSON text of a dynamic value, as KQL's tostring() shows it."""
    return json.dumps(jsonable(value), separators=(",", ":"), ensure_ascii=False)


def to_kql_string(value: Any) -> str:
    """KQL tostring(): null → '', bool → 'true', datetime → ISO 'Z', dynamic → JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return jsonable(value)
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, datetime):
        return format_datetime_iso(value)
    if isinstance(value, timedelta):
        return format_timespan(value)
    return dynamic_text(value)


def hashable(value: Any) -> Any:
    """A dict/set key for ``value``: dynamic lists and bags become their JSON text."""
    return dynamic_text(value) if isinstance(value, (list, dict)) else value


def null_of(kql: str) -> Any:
    """The 'empty' value of a type: '' for strings (KQL has no null string), None otherwise."""
    return "" if kql == "string" else None


# ---- row normalisation ------------------------------------------------------------------------

def _fix_string(v: Any) -> str:
    return v if type(v) is str else to_kql_string(v)


def _fix_integer(v: Any) -> int | None:
    if v is None or (type(v) is int):
        return v
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, str):
        return int(v)
    raise ValueError(f"{v!r} is not an integer")


def _fix_real(v: Any) -> float | None:
    if v is None or type(v) is float:
        return v
    if isinstance(v, (int, str)) and not isinstance(v, bool):
        return float(v)
    raise ValueError(f"{v!r} is not a real number")


def _fix_bool(v: Any) -> bool | None:
    if v is None or type(v) is bool:
        return v
    if v in (0, 1):
        return bool(v)
    if isinstance(v, str) and v.lower() in ("true", "false"):
        return v.lower() == "true"
    raise ValueError(f"{v!r} is not a bool")


def _fix_datetime(v: Any) -> datetime | None:
    if v is None:
        return None
    if isinstance(v, datetime):
        if v.tzinfo is None:
            return v.replace(tzinfo=UTC)
        return v if v.utcoffset() == timedelta(0) else v.astimezone(UTC)
    if isinstance(v, str):
        parsed = parse_datetime(v)
        if parsed is not None:
            return parsed
    raise ValueError(f"{v!r} is not a datetime")


def _fix_timespan(v: Any) -> timedelta | None:
    if v is None or isinstance(v, timedelta):
        return v
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return timedelta(seconds=v)
    if isinstance(v, str) and (parsed := parse_timespan(v)) is not None:
        return parsed
    raise ValueError(f"{v!r} is not a timespan")


def _fix_guid(v: Any) -> str | None:
    return v if v is None or type(v) is str else str(v)


_FIXERS: dict[str, Callable[[Any], Any]] = {
    "string": _fix_string, "int": _fix_integer, "long": _fix_integer, "real": _fix_real,
    "bool": _fix_bool, "datetime": _fix_datetime, "timespan": _fix_timespan, "guid": _fix_guid,
    "dynamic": lambda v: v,
}


class Table:
    """A named table: its columns and its rows (dicts keyed by column name).

    Rows are normalised on the way in (missing columns filled, naive datetimes taken as UTC,
    ISO strings in datetime columns parsed, None in string columns made ''). Add rows later with
    :meth:`append` / :meth:`extend` so they are normalised too. A value that cannot be converted
    to its column's type raises ``ValueError`` naming the table, column and value.
    """

    def __init__(self, name: str, columns: Iterable[Column], rows: Iterable[Mapping] = ()) -> None:
        self.name = name
        self.columns = list(columns)
        seen: set[str] = set()
        for c in self.columns:
            if c.name in seen:
                raise ValueError(f"table {name!r}: duplicate column {c.name!r}")
            seen.add(c.name)
        self._fixers = [(c.name, _FIXERS[c.type]) for c in self.columns]
        self.rows: list[dict] = []
        self.extend(rows)

    def __repr__(self) -> str:
        return f"Table({self.name!r}, {len(self.columns)} columns, {len(self.rows)} rows)"

    def append(self, row: Mapping) -> None:
        """Add one row, normalised to the table's column types."""
        self.rows.append(self._normalise(row))

    def extend(self, rows: Iterable[Mapping]) -> None:
        """Add rows, normalised to the table's column types."""
        self.rows.extend(self._normalise(r) for r in rows)

    def _normalise(self, row: Mapping) -> dict:
        fixed = None if type(row) is dict else dict(row)
        for name, fix in self._fixers:
            value = row.get(name)
            try:
                new = fix(value)
            except (ValueError, TypeError, OverflowError) as exc:
                raise ValueError(f"table {self.name!r}, column {name!r}: {exc}") from None
            if new is not value or name not in row:
                if fixed is None:
                    fixed = dict(row)
                fixed[name] = new
        return row if fixed is None else fixed  # type: ignore[return-value]


@dataclass
class Relation:
    """An intermediate result inside the evaluator: columns and rows (dicts, never mutated once
    made; operators that change columns build new dicts)."""

    columns: list[Column]
    rows: list[dict]

    def types(self) -> dict[str, str]:
        return {c.name: c.type for c in self.columns}


@dataclass
class QueryResult:
    """What :func:`run_query` returns: the result schema, rows and execution statistics."""

    columns: list[Column]
    rows: list[dict]
    stats: dict = field(default_factory=dict)

    def to_json_rows(self) -> list[dict]:
        """Rows with JSON-safe values: datetimes as ``2026-11-23T10:00:00Z``, timespans as
        ``01:00:00``, dynamic values as JSON structures."""
        names = [c.name for c in self.columns]
        return [{n: jsonable(r[n]) for n in names} for r in self.rows]
