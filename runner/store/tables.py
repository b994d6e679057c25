"""The run store's schema (SQLAlchemy Core): runs, step attempts, audit events, approvals,
polling cursors.

Conventions that hold for every table:

- Times are UTC. PostgreSQL stores ``timestamptz``; SQLite stores fixed-width ISO 8601 text
  (``2024-05-01T12:00:00.000000+00:00``), which sorts chronologically. :func:`iso` is the one
  function that writes that text, for the ORM-free fast path and for :class:`UtcDateTime` alike.
- JSON columns receive text the store has already masked and serialised (see
  ``runner.store.records.to_json``); the engine is created with a pass-through
  ``json_serializer``. They are ``JSONB`` on PostgreSQL (queryable) and ``JSON`` text on SQLite.
- Strings have no length limit: PostgreSQL would enforce one only when a buffered row is
  written, far from the call that brought it.
- ``item`` is ``-1`` for a step that is not a foreach item, so it can be part of a unique key
  (NULLs are never equal in SQL).

``schema_version`` holds one row (``id = 1``). Version 6 is this file; :mod:`runner.store.migrate`
brings an older store up to it (:data:`ADDED` lists the columns each version added,
:data:`CREATED` the tables, :data:`INDEXED` the indexes on existing tables).
"""

from __future__ import annotations

import time
from datetime import datetime, timezone

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator

SCHEMA_VERSION = 6
NO_ITEM = -1  # `item` of a step that is not a foreach item

UTC = timezone.utc


def iso(value: datetime) -> str:
    """The SQLite text form of a time: UTC, microseconds, fixed width (so text order = time order)."""
    if value.tzinfo is None:  # naive times are taken to be UTC already
        value = value.replace(tzinfo=UTC)
    elif value.utcoffset():
        value = value.astimezone(UTC)
    return value.isoformat(timespec="microseconds")


_second = (0, "1970-01-01T00:00:00")  # the last whole second iso_now() formatted


def iso_now() -> str:
    """``iso(datetime.now(timezone.utc))``, about five times faster (the hot path stamps every row)."""
    global _second
    micros = time.time_ns() // 1000
    sec, frac = divmod(micros, 1_000_000)
    cached = _second
    if cached[0] != sec:
        cached = _second = (sec, datetime.fromtimestamp(sec, UTC).strftime("%Y-%m-%dT%H:%M:%S"))
    return f"{cached[1]}.{frac:06d}+00:00"


class UtcDateTime(TypeDecorator):
    """A timezone-aware UTC datetime: ``timestamptz`` on PostgreSQL, ISO text on SQLite."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(32))
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value, dialect):
        if value is None or isinstance(value, str):
            return value
        if dialect.name == "sqlite":
            return iso(value)
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, str):
            return datetime.fromisoformat(value)
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


class _Json(TypeDecorator):
    """``JSONB`` on PostgreSQL, ``JSON`` text elsewhere. The PostgreSQL dialect is imported only
    when a PostgreSQL store is used (~15 ms of every SQLite ``soar run`` otherwise)."""

    impl = JSON(none_as_null=True)
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import JSONB

            return dialect.type_descriptor(JSONB(none_as_null=True))
        return dialect.type_descriptor(JSON(none_as_null=True))


Json = _Json()
Id = BigInteger().with_variant(Integer, "sqlite")  # INTEGER PRIMARY KEY is SQLite's rowid

metadata = MetaData()

schema_version = Table(
    "schema_version",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("version", Integer, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("id", String, primary_key=True),
    Column("parent_id", String, ForeignKey("runs.id", ondelete="CASCADE")),
    Column("playbook_name", String, nullable=False),
    Column("playbook_path", Text),
    Column("playbook_text", Text, nullable=False),  # the exact version run, so any process can resume
    Column("tenant", String),
    Column("inputs", Json),
    Column("trigger", Json),
    Column("dry_run", Boolean, nullable=False, default=False),
    Column("status", String, nullable=False),
    Column("outputs", Json),
    Column("error", Json),
    Column("created_at", UtcDateTime, nullable=False),
    Column("started_at", UtcDateTime),
    Column("finished_at", UtcDateTime),
    Column("updated_at", UtcDateTime, nullable=False),
    # for `soar serve` (later): which worker holds the run, and until when
    Column("lease_owner", String),
    Column("lease_expires_at", UtcDateTime),
    # version 2: how the run was started (simulated or not, config file, ...: runner.cli.origin),
    # so `soar approve` / `soar runs resume` continue it without the original flags
    Column("origin", Json),
    Column("rerun_of", String),  # the run this one repeats (`soar runs rerun`)
    Column("cancel_requested_at", UtcDateTime),  # `soar runs cancel` on a run another process runs
    Column("cancel_requested_by", String),
    Index("ix_runs_status", "status"),
    Index("ix_runs_parent", "parent_id"),
    Index("ix_runs_created", "created_at"),
    Index("ix_runs_playbook", "playbook_name"),
    # version 5: the console's runs list (top-level runs, newest first, by keyset; runner.console.runlist)
    Index("ix_runs_top_created", "parent_id", "created_at", "id"),
    Index("ix_runs_top_status", "parent_id", "status", "created_at", "id"),
    Index("ix_runs_top_playbook", "parent_id", "playbook_name", "created_at", "id"),
    Index("ix_runs_tenant", "tenant", "parent_id"),
)

# Column order of a buffered step row (see RunStore); `seq` is assigned by the database.
STEP_COLUMNS = (
    "run_id", "step_id", "item", "attempt", "action", "effect", "status",
    "inputs", "output", "output_redacted", "error", "started_at", "finished_at", "calls",
)
STEP_FINISH_COLUMNS = ("status", "output", "output_redacted", "error", "finished_at", "calls")  # step_finished

steps = Table(
    "steps",
    metadata,
    Column("seq", Id, primary_key=True, autoincrement=True),  # insertion order
    Column("run_id", String, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("step_id", String, nullable=False),
    Column("item", Integer, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("action", String, nullable=False),
    Column("effect", String, nullable=False),
    Column("status", String, nullable=False),
    Column("inputs", Json),
    Column("output", Json),
    Column("output_redacted", Boolean, nullable=False, default=False),
    Column("error", Json),
    Column("started_at", UtcDateTime),
    Column("finished_at", UtcDateTime),
    # version 6: the API calls the attempt made (runner.apis.calllog), masked:
    # {"total": n, "calls": [{api, tenant, method, path, status, ms, throttled, waited_s}, ...]}
    # (the first MAX_CALLS of them); NULL when it made none
    Column("calls", Json),
    UniqueConstraint("run_id", "step_id", "item", "attempt", name="uq_steps_attempt"),
    implicit_returning=False,
)
STEP_KEY = ("run_id", "step_id", "item", "attempt")

EVENT_COLUMNS = ("run_id", "ts", "kind", "step_id", "data", "actor")

events = Table(
    "events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("run_id", String, ForeignKey("runs.id", ondelete="CASCADE")),
    Column("ts", UtcDateTime, nullable=False),
    Column("kind", String, nullable=False),
    Column("step_id", String),
    Column("data", Json),
    Column("actor", String),
    Index("ix_events_run", "run_id", "id"),
    implicit_returning=False,
)

approvals = Table(
    "approvals",
    metadata,
    Column("run_id", String, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("step_id", String, primary_key=True),
    Column("item", Integer, primary_key=True),
    Column("status", String, nullable=False),  # pending | approved | denied | expired | cancelled
    Column("message", Text, nullable=False, default=""),
    Column("approvers", Json),
    Column("requested_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime),
    Column("decided_at", UtcDateTime),
    Column("decided_by", String),
    Column("reason", Text),
    # version 2: what the approver is asked about, without reading the run
    Column("tenant", String),
    Column("playbook", String),
    Column("step_name", Text),  # the step's `name:`, rendered
    Column("plan", Json),  # {"action", "effect", "items": [{item, name, effect, inputs}], ...}, masked
    Index("ix_approvals_status", "status"),
)

# What each schema version added to the tables of the version before it (all nullable columns,
# so an older store gains them with ALTER TABLE ... ADD COLUMN: runner.store.migrate).
ADDED: dict[int, dict[str, tuple[str, ...]]] = {
    2: {"runs": ("origin", "rerun_of", "cancel_requested_at", "cancel_requested_by"),
        "approvals": ("tenant", "playbook", "step_name", "plan")},
    6: {"steps": ("calls",)},
}

# version 3: the token cache shared by every process on this store (runner.auth.dbcache): one
# row per (app, tenant, scope or resource); the token is Fernet-encrypted, only its times are clear
token_cache = Table(
    "token_cache",
    metadata,
    Column("key", String, primary_key=True),  # "<client id> <tenant id> <scope or resource>"
    Column("client_id", String, nullable=False),
    Column("tenant_id", String, nullable=False),
    Column("target", String, nullable=False),
    Column("token", Text, nullable=False),  # Fernet token of {"key", "access_token"}
    Column("issued_at", BigInteger),  # seconds since the epoch
    Column("expires_on", BigInteger, nullable=False),
    Column("fetched_by", String),  # host:pid of the process that asked Entra ID
    Column("updated_at", UtcDateTime, nullable=False),
)

# version 4: API call budgets shared by every process on a PostgreSQL store
# (runner.apis.shared_quotas, which holds their SQL): a row per (tenant, bucket), locked while a
# call is granted, and a row per call granted in the bucket's longest window. Times are seconds
# since the epoch on the database's clock, so processes on machines whose clocks differ agree.
quota_buckets = Table(
    "quota_buckets",
    metadata,
    Column("tenant", String, primary_key=True),
    Column("bucket", String, primary_key=True),
    Column("paused_until", Double, nullable=False, server_default="0"),  # a 429's Retry-After
)

quota_calls = Table(
    "quota_calls",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("tenant", String, nullable=False),
    Column("bucket", String, nullable=False),
    Column("at", Double, nullable=False),  # granted; moved to when the answer came
    Index("ix_quota_calls_bucket", "tenant", "bucket", "at"),
    implicit_returning=False,
)

# The tables each schema version added (runner.store.migrate creates them in an older store).
CREATED: dict[int, tuple[str, ...]] = {
    3: ("token_cache",),
    4: ("quota_buckets", "quota_calls"),
}

# The indexes each schema version added to tables an older store already has.
INDEXED: dict[int, tuple[str, ...]] = {
    5: ("ix_runs_top_created", "ix_runs_top_status", "ix_runs_top_playbook", "ix_runs_tenant"),
}

# ---- polling triggers (runner.store.cursors; added without a schema version bump: the
# cursor store creates these tables when an older store lacks them) ----------------------------

poll_cursors = Table(
    "poll_cursors",
    metadata,
    Column("playbook", String, primary_key=True),
    Column("tenant", String, primary_key=True),
    Column("source", String, primary_key=True),  # spec.source, plus a hash of `filter:` if any
    Column("watermark", UtcDateTime),  # max lastUpdateTime seen; queries start at watermark - overlap
    Column("failures", Integer, nullable=False, default=0),  # consecutive polls held back by a failed page
    Column("last_error", Text),
    Column("updated_at", UtcDateTime, nullable=False),
)

poll_seen = Table(
    "poll_seen",
    metadata,
    Column("playbook", String, primary_key=True),
    Column("tenant", String, primary_key=True),
    Column("source", String, primary_key=True),
    Column("item_key", String, primary_key=True),  # "<id>@<lastUpdateTime>"
    Column("last_update", UtcDateTime, nullable=False),  # pruned once older than watermark - overlap
    Index("ix_poll_seen_age", "playbook", "tenant", "source", "last_update"),
)

poll_failures = Table(
    "poll_failures",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("playbook", String, nullable=False),
    Column("tenant", String, nullable=False),
    Column("source", String, nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("since", UtcDateTime),
    Column("page", Integer, nullable=False),  # 0-based page index in that poll
    Column("page_offset", Integer),  # its $skip, when paging by $skip
    Column("error", Text, nullable=False),
    Column("skipped", Boolean, nullable=False, default=False),  # the cursor moved past it
    Index("ix_poll_failures_scope", "playbook", "tenant", "source", "id"),
    implicit_returning=False,
)
