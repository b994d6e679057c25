"""``soar db upgrade``: the store's versioned migrations and the job queue's schema, in one command.

1. The run store is opened, which creates or upgrades its schema to the version this soar-runner
   knows (``runner.store.migrate``), and the tables of the trigger inbox and the poll cursors.
2. On PostgreSQL, in one transaction under the schema lock every soar process takes before
   changing a schema (an advisory transaction lock, so two upgrades at once apply it once):
   soar's queue tables (below), then procrastinate's schema — the whole of it on a database
   that has none, else procrastinate's migration scripts newer than the version recorded here.

Running it again changes nothing. soar's own queue tables:

- ``soar_queue_state``: key → JSON value: ``queue_schema`` (procrastinate's version whose
  schema is in place) and ``deployment`` (single-process or queue mode: :mod:`runner.queue.roles`);
- ``soar_queue_workers``: the workers seen (``soar queue status``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

from sqlalchemy import Column, Integer, MetaData, String, Table, func, select, text

from runner.errors import StoreError
from runner.store.tables import Json, UtcDateTime

UTC = timezone.utc
SCHEMA_LOCK = 0x50A7_0001  # the store's own schema lock (runner.store.database)

metadata = MetaData()

queue_state = Table(
    "soar_queue_state",
    metadata,
    Column("key", String, primary_key=True),
    Column("value", Json),
    Column("updated_at", UtcDateTime, nullable=False),
)

queue_workers = Table(
    "soar_queue_workers",
    metadata,
    Column("name", String, primary_key=True),     # host:pid
    Column("host", String, nullable=False),
    Column("pid", Integer, nullable=False),
    Column("concurrency", Integer, nullable=False),
    Column("queues", Json),                       # null: every queue
    Column("metrics_url", String),
    Column("started_at", UtcDateTime, nullable=False),
    Column("seen_at", UtcDateTime, nullable=False),
    Column("running", Integer, nullable=False, default=0),
)


@dataclass
class Upgrade:
    """What ``soar db upgrade`` found and did."""

    store: str
    store_schema: int
    queue_schema: str | None = None   # procrastinate's version in place (None: SQLite, no queue)
    applied: list[str] = field(default_factory=list)  # what was applied this time

    def as_doc(self) -> dict:
        return {"store": self.store, "store_schema": self.store_schema, "queue_schema": self.queue_schema,
                "applied": self.applied}


def upgrade(store_url: str | None) -> Upgrade:
    """Bring the store at ``store_url`` (None: the default) and its job queue up to date."""
    from runner.store import RunStore
    from runner.store import tables as store_tables
    from runner.store.cursors import CursorStore
    from runner.store.inbox import TriggerInbox

    store = RunStore.open(store_url)
    try:
        inbox = TriggerInbox(store)  # creates the inbox tables if missing
        CursorStore(store)            # the polling tables
        engine = inbox.engine
        done = Upgrade(store=store.url, store_schema=store_tables.SCHEMA_VERSION)
        if engine.dialect.name != "postgresql":
            return done
        try:
            with engine.begin() as conn:
                conn.execute(select(func.pg_advisory_xact_lock(SCHEMA_LOCK)))
                _queue_schema(conn, done)
        except StoreError:
            raise
        except Exception as exc:  # noqa: BLE001 - a database error, shown as the store's
            detail = (str(getattr(exc, "orig", None) or exc).strip().splitlines() or [type(exc).__name__])[0]
            raise StoreError(f"run store {store.url}: cannot put the job queue's schema in place: {detail}",
                             hint="nothing was changed; check that the store's user may create tables and "
                                  "functions, then run `soar db upgrade` again") from None
        return done
    finally:
        store.close()


def _queue_schema(conn, done: Upgrade) -> None:
    from runner.queue import jobs

    missing = [t for t in metadata.sorted_tables if not conn.dialect.has_table(conn, t.name)]
    metadata.create_all(conn, tables=missing)
    done.applied += [f"table {t.name}" for t in missing]
    recorded = conn.execute(select(queue_state.c.value).where(queue_state.c.key == "queue_schema")).scalar()
    present = conn.execute(text(jobs.INSTALLED_SQL)).scalar() is not None
    raw = conn.connection.driver_connection  # procrastinate's scripts are many statements each
    version = jobs.library_version()
    if not present:
        raw.execute(jobs.schema_sql())
        done.applied.append(f"procrastinate {version} schema")
    elif isinstance(recorded, dict) and recorded.get("version"):
        for name, sql in jobs.migrations(after=recorded["version"]):
            raw.execute(sql)
            done.applied.append(f"procrastinate migration {name}")
    # else: installed by procrastinate's own command-line: taken as this version's
    if not isinstance(recorded, dict) or recorded.get("version") != version:
        set_state(conn, "queue_schema", {"version": version})
    done.queue_schema = version


def set_state(conn, key: str, value: dict) -> None:
    """Write one ``soar_queue_state`` entry (in the caller's transaction)."""
    from sqlalchemy.dialects.postgresql import insert

    row = {"key": key, "value": _json(value), "updated_at": datetime.now(UTC)}
    stmt = insert(queue_state).values(row)
    conn.execute(stmt.on_conflict_do_update(index_elements=["key"],
                                            set_={"value": stmt.excluded.value,
                                                  "updated_at": stmt.excluded.updated_at}))


def get_state(conn, key: str) -> dict | None:
    """One ``soar_queue_state`` entry, or None (also when the table is not there)."""
    if not conn.dialect.has_table(conn, queue_state.name):
        return None
    value = conn.execute(select(queue_state.c.value).where(queue_state.c.key == key)).scalar()
    return value if isinstance(value, dict) else None


def _json(value: dict) -> str:
    from runner.store.records import to_json

    return to_json(value)


def queue_installed(conn) -> bool:
    """The job queue's schema is in this database (``soar db upgrade`` was run)."""
    from runner.queue import jobs

    return conn.execute(text(jobs.INSTALLED_SQL)).scalar() is not None
