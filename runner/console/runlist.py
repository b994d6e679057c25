"""The runs list of the console: top-level runs, newest first, filtered, one page at a time.

Paging is by keyset, never by offset: a page ends with a cursor naming its last row's
``(created_at, id)``, and the next page is the rows strictly before it in that order — one index
range read however deep the page is (an offset would read and drop every earlier row, and shift
when runs are added meanwhile). The cursor is opaque to callers (URL-safe text).

Filters: ``playbook`` and ``status`` (exact), ``tenant`` (a run on that tenant, or a run whose
tenant runs include it), ``trigger`` (the trigger type: manual, webhook, schedule, poll, ...),
``since`` / ``until`` (creation time, UTC, ``since`` ≤ created < ``until``).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import and_, or_, select

from runner.errors import UsageError
from runner.store import tables as t
from runner.store.runstore import STATUSES

UTC = timezone.utc
MAX_LIMIT = 200


@dataclass(frozen=True)
class RunFilter:
    playbook: str | None = None
    status: str | None = None
    tenant: str | None = None
    trigger: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def as_params(self) -> dict[str, str]:
        """The filter as query parameters (for links to the next page)."""
        out = {k: getattr(self, k) for k in ("playbook", "status", "tenant", "trigger")}
        out["since"] = self.since.isoformat() if self.since else None
        out["until"] = self.until.isoformat() if self.until else None
        return {k: v for k, v in out.items() if v}


def parse_time(value: str | None, name: str) -> datetime | None:
    """An ISO 8601 time (a date, or a date and time; without a zone: UTC), or None."""
    if value is None or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip().upper().replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"{name}: {value!r} is not a time",
                         hint=f"give {name} as ISO 8601, e.g. 2026-03-01 or 2026-03-01T07:00:00Z") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_filter(params: Any) -> RunFilter:
    """A :class:`RunFilter` from query parameters; an unknown status or a bad time is a UsageError."""
    def text(name: str) -> str | None:
        value = params.get(name)
        return value.strip() or None if isinstance(value, str) else None

    status = text("status")
    if status is not None and status not in STATUSES:
        raise UsageError(f"status: unknown status {status!r}", hint="one of " + ", ".join(sorted(STATUSES)))
    return RunFilter(playbook=text("playbook"), status=status, tenant=text("tenant"), trigger=text("trigger"),
                     since=parse_time(params.get("since"), "since"), until=parse_time(params.get("until"), "until"))


def encode_cursor(created_at: datetime, run_id: str) -> str:
    raw = f"{t.iso(created_at)}|{run_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        when, run_id = raw.split("|", 1)
        return datetime.fromisoformat(when), run_id
    except (ValueError, UnicodeDecodeError):
        raise UsageError("after: not a cursor this console made",
                         hint="follow the `next` link of a page (or leave `after` out for the first page)") from None


@dataclass(frozen=True)
class RunRow:
    """One line of the runs list (no playbook text, inputs or outputs: those are on the run's page)."""

    id: str
    playbook: str
    tenant: str | None
    tenants: list[str]  # the tenant runs' tenants, for a run on several
    status: str
    trigger: str | None
    dry_run: bool
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    rerun_of: str | None

    @property
    def duration(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return max(0.0, (self.finished_at - self.started_at).total_seconds())

    def as_doc(self) -> dict:
        def when(v: datetime | None) -> str | None:
            return v.isoformat() if v is not None else None

        return {"run_id": self.id, "playbook": self.playbook, "tenant": self.tenant, "tenants": self.tenants,
                "status": self.status, "trigger": self.trigger, "dry_run": self.dry_run,
                "created_at": when(self.created_at), "started_at": when(self.started_at),
                "finished_at": when(self.finished_at), "duration_s": self.duration, "rerun_of": self.rerun_of}


_COLUMNS = (t.runs.c.id, t.runs.c.playbook_name, t.runs.c.tenant, t.runs.c.status, t.runs.c.dry_run,
            t.runs.c.created_at, t.runs.c.started_at, t.runs.c.finished_at, t.runs.c.rerun_of)


def _trigger_type():
    return t.runs.c.trigger["type"].as_string()


def page_query(flt: RunFilter, after: tuple[datetime, str] | None, limit: int):
    """The SELECT of one page (``limit`` + 1 rows: the extra one says whether there is a next)."""
    runs = t.runs
    query = select(*_COLUMNS, _trigger_type().label("trigger_type")).where(runs.c.parent_id.is_(None))
    if flt.playbook:
        query = query.where(runs.c.playbook_name == flt.playbook)
    if flt.status:
        query = query.where(runs.c.status == flt.status)
    if flt.trigger:
        query = query.where(_trigger_type() == flt.trigger)
    if flt.since:
        query = query.where(runs.c.created_at >= flt.since)
    if flt.until:
        query = query.where(runs.c.created_at < flt.until)
    if flt.tenant:
        child = t.runs.alias("child")
        parents = select(child.c.parent_id).where(child.c.tenant == flt.tenant, child.c.parent_id.is_not(None))
        query = query.where(or_(runs.c.tenant == flt.tenant, runs.c.id.in_(parents)))
    if after is not None:
        when, run_id = after
        query = query.where(or_(runs.c.created_at < when, and_(runs.c.created_at == when, runs.c.id < run_id)))
    return query.order_by(runs.c.created_at.desc(), runs.c.id.desc()).limit(limit + 1)


def list_page(store: Any, flt: RunFilter, *, after: str | None = None, limit: int = 50) -> tuple[list[RunRow], str | None]:
    """One page of runs and the cursor of the next page (None: this is the last)."""
    limit = max(1, min(int(limit), MAX_LIMIT))
    query = page_query(flt, decode_cursor(after) if after else None, limit)
    with store._db.read("list runs") as conn:
        if flt.tenant and conn.execute(select(t.runs.c.id).where(t.runs.c.tenant == flt.tenant).limit(1)).first() is None:
            return [], None  # no run on that tenant: one index probe, not a scan of every run
        rows = list(conn.execute(query))
        more = len(rows) > limit
        rows = rows[:limit]
        tenants: dict[str, list[str]] = {}
        parents = [r.id for r in rows if r.tenant is None]
        if parents:
            found = conn.execute(select(t.runs.c.parent_id, t.runs.c.tenant)
                                 .where(t.runs.c.parent_id.in_(parents), t.runs.c.tenant.is_not(None))
                                 .order_by(t.runs.c.parent_id, t.runs.c.tenant))
            for parent_id, tenant in found:
                tenants.setdefault(parent_id, []).append(tenant)
    out = [RunRow(id=r.id, playbook=r.playbook_name, tenant=r.tenant, tenants=tenants.get(r.id, []),
                  status=r.status, trigger=r.trigger_type, dry_run=bool(r.dry_run), created_at=r.created_at,
                  started_at=r.started_at, finished_at=r.finished_at, rerun_of=r.rerun_of) for r in rows]
    cursor = encode_cursor(out[-1].created_at, out[-1].id) if more and out else None
    return out, cursor


def _distinct(conn, column: str, most: int = 500) -> list[str]:
    """The distinct values of an indexed column of ``runs``, smallest first, by a loose index scan
    (one index probe per value: ``SELECT DISTINCT`` would read the whole index, every run)."""
    from sqlalchemy import text

    sql = (f"WITH RECURSIVE v(x, n) AS (SELECT MIN({column}), 1 FROM runs UNION ALL "
           f"SELECT (SELECT MIN({column}) FROM runs WHERE {column} > v.x), n + 1 FROM v "
           f"WHERE v.x IS NOT NULL AND n < {int(most)}) SELECT x FROM v WHERE x IS NOT NULL")
    return [row[0] for row in conn.execute(text(sql))]


def facets(store: Any) -> dict[str, list[str]]:
    """The playbook names and tenants runs were recorded for (the filter form's choices)."""
    with store._db.read("list run facets") as conn:
        return {"playbooks": _distinct(conn, "playbook_name"), "tenants": _distinct(conn, "tenant")}
