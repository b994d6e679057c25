"""Cron expressions are checked with APScheduler's own parser, so validate and serve agree."""

from __future__ import annotations


def check_cron(expr: str, timezone: str | None = None) -> None:
    """Raise ``ValueError`` with APScheduler's reason when ``expr`` is not a valid 5-field cron."""
    from apscheduler.triggers.cron import CronTrigger

    try:
        CronTrigger.from_crontab(expr, timezone=timezone or "UTC")
    except (ValueError, KeyError) as exc:
        raise ValueError(f"invalid cron expression {expr!r}: {exc}") from None
