"""The trigger inbox: every event that should start a run (webhook, schedule, poll), recorded
durably *before* anyone is told it was accepted — so a crash loses nothing.

An event is one row in ``trigger_events``. Its run id is chosen when the event is accepted (the
webhook answers it at once), and the run is later created under that id. So the inbox needs no
"started" flag: an event whose run row does not exist yet is still to be started
(:meth:`TriggerInbox.unstarted`), and a run can never be started twice for one event, because a
run id can only be created once.

Deduplication (``trigger_dedup``) is one upsert in the same transaction: the row for
(playbook, key) is taken over only when its window has passed, so two deliveries of the same
event — in one process or in two — yield one run.

Accepting an event is one transaction (one or two inserts) on the run store's connection: the
accept path of a webhook stays cheap (no fsync per event with SQLite's WAL + synchronous=NORMAL).
Several events (the schedules due in one wake-up) can share one transaction (:meth:`accept_many`).

Retention: :meth:`prune` deletes events whose run finished and whose dedup window passed
(``soar serve`` calls it every 10 minutes); until then an event is what stops a duplicate.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Sequence

from sqlalchemy import Column, Index, MetaData, String, Table, and_, bindparam, cast, delete, func, select, text

from .records import new_run_id, to_json
from .tables import Json, UtcDateTime

UTC = timezone.utc
MAX_KEY = 200  # longer dedup keys are stored as their SHA-256

metadata = MetaData()  # our own: created on first use, also in a store made before these tables

trigger_events = Table(
    "trigger_events",
    metadata,
    Column("id", String, primary_key=True),
    Column("run_id", String, nullable=False, unique=True),
    Column("playbook", String, nullable=False),
    Column("source", String, nullable=False),   # webhook | schedule | poll
    Column("trigger_key", String),               # which trigger of the playbook (path, job id)
    Column("tenant", String),                    # poll events run on the tenant they came from
    Column("payload", Json),
    Column("dedup_key", String),
    Column("received_at", UtcDateTime, nullable=False),
    Column("scheduled_for", UtcDateTime),
    Index("ix_trigger_events_playbook", "playbook", "received_at"),
    implicit_returning=False,
)

trigger_dedup = Table(
    "trigger_dedup",
    metadata,
    Column("playbook", String, primary_key=True),
    Column("dedup_key", String, primary_key=True),
    Column("event_id", String, nullable=False),
    Column("run_id", String, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Index("ix_trigger_dedup_expires", "expires_at"),
    implicit_returning=False,
)


@dataclass(frozen=True)
class TriggerEvent:
    """One recorded trigger event; ``run_id`` is the run it starts (or started)."""

    id: str
    run_id: str
    playbook: str
    source: str
    trigger_key: str | None
    tenant: str | None
    payload: Any
    dedup_key: str | None
    received_at: datetime
    scheduled_for: datetime | None

    def trigger(self) -> dict:
        """The run's ``trigger`` context (``trigger.type``, ``.payload`` ...)."""
        since = self.payload.get("since") if isinstance(self.payload, dict) else None
        doc = {"type": self.source, "event_id": self.id, "key": self.trigger_key,
               "payload": self.payload, "received_at": self.received_at.isoformat(), "since": since}
        if self.scheduled_for is not None:
            doc["scheduled_for"] = self.scheduled_for.isoformat()
        if self.tenant is not None:
            doc["tenant"] = self.tenant
        return doc


@dataclass(frozen=True)
class RecordedEvent:
    """A trigger event as ``soar events`` shows it: read from the trigger its run keeps (which
    outlives the inbox row :meth:`TriggerInbox.prune` deletes), or from the inbox for an event
    whose run has not started. ``event_id`` is None for a replay (``replay_of`` names the event
    it replayed); ``run_status`` None: not started yet."""

    event_id: str | None
    run_id: str
    playbook: str
    source: str
    key: str | None
    tenant: str | None
    payload: Any
    received_at: str | None
    run_status: str | None = None
    playbook_path: str | None = None
    replay_of: str | None = None


@dataclass(frozen=True)
class Accepted:
    """What :meth:`TriggerInbox.accept` answers. ``duplicate``: the key was seen within its
    window; ``event_id``/``run_id`` are then those of the first event."""

    event_id: str
    run_id: str
    duplicate: bool = False
    event: TriggerEvent | None = None


def _key(text: str) -> str:
    return text if len(text) <= MAX_KEY else "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _event(row) -> TriggerEvent:
    m = row._mapping
    return TriggerEvent(id=m["id"], run_id=m["run_id"], playbook=m["playbook"], source=m["source"],
                        trigger_key=m["trigger_key"], tenant=m["tenant"], payload=m["payload"],
                        dedup_key=m["dedup_key"], received_at=m["received_at"],
                        scheduled_for=m["scheduled_for"])


class TriggerInbox:
    """Durable trigger events on a :class:`~runner.store.RunStore` (its database and connection)."""

    def __init__(self, store: Any):
        self.store = store
        self._db = store._db  # same package: one connection, one lock, one transaction per accept
        self._db.commit(lambda conn: metadata.create_all(conn, checkfirst=True),
                        doing="create the trigger inbox")
        self._dialect = self._db.dialect

    @property
    def engine(self) -> Any:
        """The store's SQLAlchemy engine (``soar serve`` keeps its schedules in the same database)."""
        return self._db.engine

    # ---- writing ------------------------------------------------------------------------------

    def transaction(self, work: Callable[[Any], Any], *, doing: str, write: bool = False) -> Any:
        """``work(conn)`` in one transaction on the store's connection (committed with ``write``,
        else rolled back); ``soar serve``'s schedules use it, so the process has one connection."""
        if write:
            return self._db.commit(work, doing=doing)
        with self._db.read(doing) as conn:
            return work(conn)

    def accept(self, playbook: str, source: str, payload: Any, *, trigger_key: str | None = None,
               tenant: str | None = None, dedup_key: str | None = None, dedup_window: float = 3600.0,
               scheduled_for: datetime | None = None, now: datetime | None = None) -> Accepted:
        """Record an event durably (committed when this returns) and choose its run id.

        With ``dedup_key``, an event whose (playbook, key) was accepted less than
        ``dedup_window`` seconds ago is not recorded: the first event's ids come back with
        ``duplicate=True``.
        """
        return self.accept_many([dict(playbook=playbook, source=source, payload=payload,
                                      trigger_key=trigger_key, tenant=tenant, dedup_key=dedup_key,
                                      dedup_window=dedup_window, scheduled_for=scheduled_for)], now=now)[0]

    def accept_many(self, requests: Sequence[dict], *, also: Callable[[Any], None] | None = None,
                    now: datetime | None = None) -> list[Accepted]:
        """:meth:`accept` for several events (each a dict of its arguments) in **one** transaction,
        with ``also(conn)`` in it too (``soar serve`` saves its schedules' next run times there).
        Returns one :class:`Accepted` per request, in order."""
        now = now or datetime.now(UTC)
        prepared = [self._prepare(now=now, **request) for request in requests]

        def work(conn) -> list[Accepted | None]:
            if also is not None:
                also(conn)
            holders = self._claim_keys(conn, [row for row, _w in prepared if row["dedup_key"] is not None],
                                       {id(row): w for row, w in prepared}, now)
            answers, rows = [], []
            for row, _window in prepared:
                holder = holders.get((row["playbook"], row["dedup_key"])) if row["dedup_key"] is not None else None
                if holder is None or holder[0] == row["id"]:
                    rows.append(row)
                    answers.append(None)
                else:  # the key is held by an earlier event within its window
                    answers.append(Accepted(holder[0], holder[1], duplicate=True))
            if rows:
                conn.execute(trigger_events.insert(), rows)
            return answers

        if not prepared and also is None:
            return []
        answers = self._db.commit(work, doing="record a trigger event" if len(prepared) == 1
                                  else f"record {len(prepared)} trigger events")
        out = []
        for (row, _window), request, duplicate in zip(prepared, requests, answers):
            if duplicate is not None:
                out.append(duplicate)
                continue
            stored = {**row, "payload": request.get("payload")}
            event = TriggerEvent(**{k: stored[k] for k in TriggerEvent.__dataclass_fields__})
            out.append(Accepted(row["id"], row["run_id"], event=event))
        return out

    @staticmethod
    def _prepare(playbook: str, source: str, payload: Any = None, *, trigger_key: str | None = None,
                 tenant: str | None = None, dedup_key: str | None = None, dedup_window: float = 3600.0,
                 scheduled_for: datetime | None = None, now: datetime) -> tuple[dict, float]:
        key = _key(str(dedup_key)) if dedup_key is not None else None
        row = dict(id="e-" + new_run_id()[2:], run_id=new_run_id(), playbook=playbook, source=source,
                   trigger_key=trigger_key, tenant=tenant, payload=to_json(payload), dedup_key=key,
                   received_at=now, scheduled_for=scheduled_for)
        return row, dedup_window

    def _claim_keys(self, conn, rows: list[dict], windows: dict, now: datetime) -> dict:
        """Take the (playbook, key) row of each event, unless another event holds it within its
        window (also one earlier in ``rows``). One upsert for all rows, then one read per 500
        keys: returns {(playbook, key): (event id, run id)} of the holders. For one event (a
        webhook) the upsert's row count already says whether it took the key; the read is needed
        only for a duplicate."""
        if not rows:
            return {}
        params = [{"playbook": r["playbook"], "dedup_key": r["dedup_key"], "event_id": r["id"],
                   "run_id": r["run_id"], "expires_at": now + timedelta(seconds=windows[id(r)]), "now": now}
                  for r in rows]
        if len(rows) == 1:
            if conn.execute(self._upsert, params[0]).rowcount == 1:
                r = rows[0]
                return {(r["playbook"], r["dedup_key"]): (r["id"], r["run_id"])}
        else:
            conn.execute(self._upsert, params)
        holders: dict = {}
        keys = sorted({r["dedup_key"] for r in rows})
        for i in range(0, len(keys), 500):
            query = select(trigger_dedup.c.playbook, trigger_dedup.c.dedup_key, trigger_dedup.c.event_id,
                           trigger_dedup.c.run_id).where(trigger_dedup.c.dedup_key.in_(keys[i:i + 500]))
            for row in conn.execute(query):
                holders[(row.playbook, row.dedup_key)] = (row.event_id, row.run_id)
        return holders

    @functools.cached_property
    def _upsert(self):
        """INSERT ... ON CONFLICT: the row is taken over only when its window has passed. Written
        as text (the same SQL on SQLite and PostgreSQL) so SQLAlchemy compiles it once: the
        dialect's ``on_conflict_do_update`` construct with a ``where`` was compiled anew on every
        webhook, which cost more than the rest of accepting it."""
        return text(
            "INSERT INTO trigger_dedup (playbook, dedup_key, event_id, run_id, expires_at) "
            "VALUES (:playbook, :dedup_key, :event_id, :run_id, :expires_at) "
            "ON CONFLICT (playbook, dedup_key) DO UPDATE SET event_id = excluded.event_id, "
            "run_id = excluded.run_id, expires_at = excluded.expires_at "
            "WHERE trigger_dedup.expires_at <= :now"
        ).bindparams(bindparam("expires_at", type_=UtcDateTime()), bindparam("now", type_=UtcDateTime()))

    def last_succeeded(self, playbooks: Sequence[str]) -> dict[str, datetime]:
        """When each playbook's last succeeded top-level run started (``trigger.since``), for
        all of ``playbooks`` in one query; playbooks without one are left out."""
        from .tables import runs

        out: dict[str, datetime] = {}
        names = sorted(set(playbooks))
        for i in range(0, len(names), 500):
            query = (select(runs.c.playbook_name, func.max(runs.c.created_at))
                     .where(runs.c.playbook_name.in_(names[i:i + 500]), runs.c.status == "succeeded",
                            runs.c.parent_id.is_(None))
                     .group_by(runs.c.playbook_name))
            with self._db.read("read the last succeeded runs") as conn:
                for name, created in conn.execute(query):
                    if isinstance(created, str):  # SQLite returns max() of the ISO text as text
                        created = datetime.fromisoformat(created)
                    out[name] = created
        return out

    def prune(self, now: datetime | None = None) -> int:
        """Delete the events that are done with: their run finished (succeeded, failed, skipped,
        cancelled) and no dedup key still names them (its window passed, or they had none).
        The run row keeps the run's trigger. Returns how many."""
        from .runstore import FINISHED
        from .tables import runs

        now = now or datetime.now(UTC)
        finished = select(runs.c.id).where(runs.c.status.in_(sorted(FINISHED)))
        guarded = select(trigger_dedup.c.event_id).where(trigger_dedup.c.expires_at > now)
        stmt = delete(trigger_events).where(trigger_events.c.run_id.in_(finished),
                                            trigger_events.c.id.not_in(guarded))
        return self._db.commit(lambda conn: conn.execute(stmt).rowcount, doing="prune finished trigger events")

    def purge_dedup(self, now: datetime | None = None) -> int:
        """Forget dedup keys whose window has passed; returns how many."""
        now = now or datetime.now(UTC)
        return self._db.commit(
            lambda conn: conn.execute(delete(trigger_dedup).where(trigger_dedup.c.expires_at <= now)).rowcount,
            doing="purge expired dedup keys")

    # ---- reading ------------------------------------------------------------------------------

    def unstarted(self, limit: int | None = None) -> list[TriggerEvent]:
        """Events whose run does not exist yet (to start after a restart), oldest first."""
        from .tables import runs

        query = (select(trigger_events).select_from(
            trigger_events.outerjoin(runs, runs.c.id == trigger_events.c.run_id))
            .where(runs.c.id.is_(None)).order_by(trigger_events.c.received_at, trigger_events.c.id))
        if limit is not None:
            query = query.limit(limit)
        with self._db.read("list unstarted trigger events") as conn:
            return [_event(r) for r in conn.execute(query)]

    def get(self, event_id: str) -> TriggerEvent | None:
        with self._db.read("read a trigger event") as conn:
            row = conn.execute(select(trigger_events).where(trigger_events.c.id == event_id)).first()
        return None if row is None else _event(row)

    def events(self, playbook: str | None = None, source: str | None = None) -> list[TriggerEvent]:
        """Recorded events (of one playbook / source), oldest first."""
        query = select(trigger_events).order_by(trigger_events.c.received_at, trigger_events.c.id)
        if playbook is not None:
            query = query.where(trigger_events.c.playbook == playbook)
        if source is not None:
            query = query.where(trigger_events.c.source == source)
        with self._db.read("list trigger events") as conn:
            return [_event(r) for r in conn.execute(query)]

    def recorded(self, *, source: str | None = "webhook", playbook: str | None = None,
                 event_id: str | None = None, limit: int | None = 50) -> list[RecordedEvent]:
        """Trigger events (of ``source``; None: every source) newest first, with the run each
        started — the events not started yet first. ``event_id``: only that event and the
        replays of it. Reads the runs' stored triggers (a prefix filter on their text, then a
        check of each), so it finds events the inbox has pruned; for ``soar events``, not for
        a hot path."""
        from .tables import runs

        wanted = (lambda trig: trig.get("type") == source) if source else (lambda trig: trig.get("type") != "manual")
        out: list[RecordedEvent] = []
        for ev in reversed(self.unstarted()):
            if (source is None or ev.source == source) and (playbook is None or ev.playbook == playbook) \
                    and (event_id is None or ev.id == event_id):
                out.append(RecordedEvent(ev.id, ev.run_id, ev.playbook, ev.source, ev.trigger_key, ev.tenant,
                                         ev.payload, ev.received_at.isoformat()))
        query = (select(runs.c.id, runs.c.playbook_name, runs.c.playbook_path, runs.c.status, runs.c.trigger)
                 .where(runs.c.parent_id.is_(None), runs.c.trigger.is_not(None))
                 .order_by(runs.c.created_at.desc(), runs.c.id.desc()))
        text_of = cast(runs.c.trigger, String)
        query = query.where(text_of.contains(f'"{event_id}"' if event_id else '"event_id"', autoescape=True))
        if source:
            query = query.where(text_of.contains(f'"{source}"', autoescape=True))
        if playbook is not None:
            query = query.where(runs.c.playbook_name == playbook)
        with self._db.read("list recorded trigger events") as conn:
            for row in conn.execute(query):
                trig = row.trigger if isinstance(row.trigger, dict) else {}
                ids = (trig.get("event_id"), trig.get("replay_of"))
                if not wanted(trig) or not any(ids) or (event_id is not None and event_id not in ids):
                    continue
                if limit is not None and len(out) >= limit:
                    break
                out.append(RecordedEvent(trig.get("event_id"), row.id, row.playbook_name, trig.get("type"),
                                         trig.get("key"), trig.get("tenant"), trig.get("payload"),
                                         trig.get("received_at"), row.status, row.playbook_path,
                                         trig.get("replay_of")))
        return out[:limit] if limit is not None else out

    def count(self) -> int:
        with self._db.read("count trigger events") as conn:
            return conn.execute(select(func.count()).select_from(trigger_events)).scalar_one()

    def last_scheduled(self, playbook: str, trigger_key: str) -> datetime | None:
        """When the last event of this trigger was scheduled for (or received)."""
        query = (select(func.max(func.coalesce(trigger_events.c.scheduled_for, trigger_events.c.received_at)))
                 .where(and_(trigger_events.c.playbook == playbook, trigger_events.c.trigger_key == trigger_key)))
        with self._db.read("read the last trigger event") as conn:
            value = conn.execute(query).scalar()
        if isinstance(value, str):  # SQLite returns max() of the ISO text as text
            value = datetime.fromisoformat(value)
        return value
