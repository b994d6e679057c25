"""Cron expressions, read as crontab reads them, on APScheduler's cron trigger — the one parser
``soar validate``, ``soar playbooks list`` and ``soar serve`` share, so they agree.

APScheduler 3 numbers the days of the week from Monday (0) where crontab numbers them from
Sunday (0 or 7): given ``1-5`` as is, it would fire Tuesday to Saturday. So the day-of-week
field is translated to day names first (``1-5`` -> ``mon,tue,wed,thu,fri``). When both
day-of-month and day-of-week are restricted, a time must match both (APScheduler's rule;
classic cron fires when either matches).
"""

from __future__ import annotations

from typing import Any

DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")  # crontab's numbering: 0 (and 7) = Sunday


def cron_trigger(expr: str, timezone: str | None = None) -> Any:
    """APScheduler's ``CronTrigger`` for the 5-field crontab expression ``expr`` (raises
    ``ValueError`` or ``KeyError`` with the parser's reason)."""
    from apscheduler.triggers.cron import CronTrigger

    fields = expr.split()
    if len(fields) != 5:
        raise ValueError(f"wrong number of fields; got {len(fields)}, expected 5")
    minute, hour, day, month, weekday = fields
    return CronTrigger(minute=minute, hour=hour, day=day, month=month, day_of_week=weekdays(weekday),
                       timezone=timezone or "UTC")


def weekdays(field: str) -> str:
    """A crontab day-of-week field as APScheduler day names: ``*`` stays ``*``; ``1-5`` (or
    ``mon-fri``) becomes ``mon,tue,wed,thu,fri``; ``0``/``7`` is Sunday; steps (``*/2``,
    ``1-5/2``) count as crontab counts them."""
    if field == "*":
        return field
    days: list[int] = []
    for item in field.split(","):
        for n in _days(item):
            if n not in days:
                days.append(n)
    return ",".join(DAY_NAMES[n] for n in sorted(days))


def _days(item: str) -> list[int]:
    part, slash, step_text = item.partition("/")
    step = 1
    if slash:
        if not step_text.isdigit() or int(step_text) < 1:
            raise ValueError(f"day of week {item!r}: the step must be a positive number")
        step = int(step_text)
    if part == "*":
        first, last = 0, 6
    elif "-" in part:
        a, _, b = part.partition("-")
        first, last = _day(a, item), _day(b, item)
        if last < first:
            if last == 0:  # `5-7` or `fri-sun`: up to Sunday as day 7
                last = 7
            else:
                raise ValueError(f"day of week {item!r}: the range must go forward (e.g. 1-5 or mon-fri)")
    else:
        first = _day(part, item)
        last = 6 if slash else first
    return sorted({n % 7 for n in range(first, last + 1, step)})


def _day(text: str, item: str) -> int:
    text = text.strip().lower()
    if text.isdigit() and int(text) <= 7:
        return int(text) % 7 if int(text) != 7 else 7
    if text[:3] in DAY_NAMES and len(text) == 3:
        return DAY_NAMES.index(text)
    raise ValueError(f"day of week {item!r}: {text!r} is not a day (0-7, 0 and 7 are Sunday, or sun..sat)")


def check_cron(expr: str, timezone: str | None = None) -> None:
    """Raise ``ValueError`` with the reason when ``expr`` is not a valid 5-field cron."""
    try:
        cron_trigger(expr, timezone)
    except (ValueError, KeyError) as exc:
        raise ValueError(f"invalid cron expression {expr!r}: {exc}") from None
