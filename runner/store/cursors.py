"""Polling state in the run store: cursors, the keys already processed, and failed pages.

One *scope* is (playbook, tenant, source) — ``source`` being the poll trigger's source plus a
hash of its ``filter:``. Per scope the store keeps:

- the **cursor** (:class:`PollCursor`): the watermark (max ``lastUpdateTime`` seen) and how many
  consecutive polls a failed page held back;
- the **seen keys**: ``"<id>@<lastUpdateTime>"`` of every item already handed to ``soar serve``,
  with that time, so they can be pruned once older than the overlap window;
- the **failures** (:class:`PollFailure`): every page that failed, and whether it was skipped.

:meth:`CursorStore.save` writes the cursor, the new keys and the pruning in one transaction.
The tables live in the run store's database (``runner.store.tables``); a store created before
they existed gets them on first use.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Iterable

from sqlalchemy import delete, func, inspect, select

from runner.secrets import redact

from . import tables as t
from .buffer import dialect_insert

if TYPE_CHECKING:  # pragma: no cover
    from .runstore import RunStore

UTC = timezone.utc
POLL_TABLES = (t.poll_cursors, t.poll_seen, t.poll_failures)


@dataclass(frozen=True)
class PollCursor:
    """Where a poll scope stands."""

    playbook: str
    tenant: str
    source: str
    watermark: datetime | None
    failures: int
    last_error: str | None
    updated_at: datetime


@dataclass(frozen=True)
class PollFailure:
    """A page that failed (after the API client's own retries)."""

    id: int
    playbook: str
    tenant: str
    source: str
    at: datetime
    since: datetime | None
    page: int
    offset: int | None
    error: str
    skipped: bool


class CursorStore:
    """Polling state on top of a :class:`~runner.store.RunStore` (same database, same lock)."""

    def __init__(self, store: "RunStore"):
        self._db = store._db  # the store package's connection layer, shared on purpose
        self._ensure_tables()

    # ---- cursor ------------------------------------------------------------------------------

    def get(self, playbook: str, tenant: str, source: str) -> PollCursor | None:
        """The scope's cursor, or ``None`` before its first poll."""
        c = t.poll_cursors.c
        with self._db.read("read a poll cursor") as conn:
            row = conn.execute(select(t.poll_cursors).where(
                c.playbook == playbook, c.tenant == tenant, c.source == source)).first()
        if row is None:
            return None
        m = row._mapping
        return PollCursor(m["playbook"], m["tenant"], m["source"], m["watermark"], m["failures"],
                          m["last_error"], m["updated_at"])

    def seen_keys(self, playbook: str, tenant: str, source: str) -> set[str]:
        """Every item key recorded for the scope (the overlap window's worth)."""
        c = t.poll_seen.c
        with self._db.read("read poll keys") as conn:
            return set(conn.execute(select(c.item_key).where(
                c.playbook == playbook, c.tenant == tenant, c.source == source)).scalars())

    def save(self, playbook: str, tenant: str, source: str, *, watermark: datetime | None, failures: int,
             last_error: str | None = None, new_keys: Iterable[tuple[str, datetime]] = (),
             prune_before: datetime | None = None) -> None:
        """In one transaction: record ``new_keys`` ((key, lastUpdateTime) pairs), drop the
        scope's keys older than ``prune_before``, and write the cursor."""
        scope = {"playbook": playbook, "tenant": tenant, "source": source}
        keys = [{**scope, "item_key": k, "last_update": when} for k, when in new_keys]
        now = datetime.now(UTC)
        cursor_row = {**scope, "watermark": watermark, "failures": int(failures),
                      "last_error": redact(last_error) if last_error else None, "updated_at": now}
        dialect = self._db.dialect

        def write(conn):
            if keys:
                conn.execute(dialect_insert(dialect, t.poll_seen).on_conflict_do_nothing(), keys)
            if prune_before is not None:
                c = t.poll_seen.c
                conn.execute(delete(t.poll_seen).where(
                    c.playbook == playbook, c.tenant == tenant, c.source == source,
                    c.last_update < prune_before))
            insert = dialect_insert(dialect, t.poll_cursors).values(cursor_row)
            conn.execute(insert.on_conflict_do_update(
                index_elements=["playbook", "tenant", "source"],
                set_={k: insert.excluded[k] for k in ("watermark", "failures", "last_error", "updated_at")}))

        self._db.commit(write, doing="save a poll cursor")

    # ---- failures ----------------------------------------------------------------------------

    def record_failure(self, playbook: str, tenant: str, source: str, *, since: datetime | None, page: int,
                       offset: int | None, error: str, skipped: bool) -> None:
        """Record a failed page (durably); ``skipped``: the cursor moves past it."""
        row = {"playbook": playbook, "tenant": tenant, "source": source, "at": datetime.now(UTC),
               "since": since, "page": page, "page_offset": offset, "error": redact(error),
               "skipped": bool(skipped)}
        self._db.commit(lambda conn: conn.execute(t.poll_failures.insert().values(row)),
                        doing="record a failed poll page")

    def failures(self, playbook: str | None = None, tenant: str | None = None,
                 source: str | None = None) -> list[PollFailure]:
        """Recorded page failures, oldest first, optionally for one playbook/tenant/source."""
        c = t.poll_failures.c
        query = select(t.poll_failures).order_by(c.id)
        for column, value in ((c.playbook, playbook), (c.tenant, tenant), (c.source, source)):
            if value is not None:
                query = query.where(column == value)
        with self._db.read("read failed poll pages") as conn:
            rows = conn.execute(query).all()
        return [PollFailure(m["id"], m["playbook"], m["tenant"], m["source"], m["at"], m["since"], m["page"],
                            m["page_offset"], m["error"], bool(m["skipped"])) for m in (r._mapping for r in rows)]

    # ---- schema ------------------------------------------------------------------------------

    def _ensure_tables(self) -> None:
        with self._db.read("read the schema") as conn:
            names = set(inspect(conn).get_table_names())
        if all(table.name in names for table in POLL_TABLES):
            return

        def create(conn):
            if self._db.dialect == "sqlite":
                conn.exec_driver_sql("BEGIN IMMEDIATE")  # one process creates, others wait
            else:
                conn.execute(select(func.pg_advisory_xact_lock(0x50A7_0001)))
            t.metadata.create_all(conn, tables=list(POLL_TABLES))

        with self._db.lock:  # BEGIN IMMEDIATE must come first: write what is buffered before
            self._db.flush_locked()
            self._db.commit(create, doing="create the polling tables")
