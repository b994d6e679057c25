"""Database: one store's engine, connection, lock and write buffer, and the transactions on them.

SQLite: one connection for the store's life (cheap; SQLite serialises writers anyway), and the
buffer is flushed straight through the driver — SQLAlchemy's transaction bookkeeping would
otherwise cost as much as the commit itself for a durable step row. PostgreSQL: a pooled
connection per transaction, so ``pool_pre_ping`` can replace connections that died.

Every database error leaves here as a :class:`~runner.errors.StoreError`.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any, Callable

from sqlalchemy import func, inspect, select
from sqlalchemy.exc import SQLAlchemyError

from runner.errors import StoreError

from . import tables as t
from .buffer import WriteBuffer, dialect_insert
from .connect import create_store_engine, store_error
from .migrate import upgrade

UTC = timezone.utc


class Database:
    """The connection layer under :class:`~runner.store.RunStore`; all methods need ``lock``
    held or take it themselves."""

    def __init__(self, url: str):
        self.engine, self.dialect = create_store_engine(url)
        self.lock = threading.RLock()
        self.closed = False
        dbapi = self.engine.dialect.loaded_dbapi
        self._dbapi_error, self._transient_error = dbapi.Error, dbapi.OperationalError
        sqlite = self.dialect == "sqlite"
        # "now" in the form the driver takes, for buffered rows (ISO text on SQLite)
        self.now: Callable[[], Any] = t.iso_now if sqlite else (lambda: datetime.now(UTC))
        self._conn = self._raw = None
        try:
            try:
                if sqlite:
                    self._conn = self.engine.connect()
                    self._raw = self._conn.connection.driver_connection
                self.buffer = WriteBuffer(self.engine.dialect)
            except (SQLAlchemyError, self._dbapi_error) as exc:
                raise self.error(exc, "open the store") from exc
            self._create_schema()
        except BaseException:
            self._dispose()
            raise

    @property
    def url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    def close(self) -> None:
        with self.lock:
            if self.closed:
                return
            try:
                self.flush_locked()
            finally:
                self.closed = True
                self._dispose()

    def error(self, exc: Exception, doing: str) -> StoreError:
        return store_error(exc, url=self.url, dialect=self.dialect, doing=doing)

    @contextmanager
    def transaction(self, doing: str, *, commit: bool):
        """A connection in a transaction, with the lock held; commits (or rolls back) at the end."""
        with self.lock:
            if self.closed:
                raise StoreError(f"cannot {doing}: the run store is closed",
                                 hint="open it again with RunStore.open()")
            try:
                conn = self._conn if self._conn is not None else self.engine.connect()
                try:
                    conn.begin()
                    yield conn
                    if commit:
                        conn.commit()
                    else:
                        conn.rollback()
                except BaseException:
                    conn.rollback()
                    raise
                finally:
                    if conn is not self._conn:
                        conn.close()
            except (SQLAlchemyError, self._dbapi_error) as exc:
                raise self.error(exc, doing) from exc

    def read(self, doing: str):
        """A transaction that is rolled back: for reads."""
        return self.transaction(doing, commit=False)

    def commit(self, work: Callable | None = None, *, doing: str):
        """Write the buffer, then ``work(conn)``, in one transaction; return what work returned."""
        with self.lock:
            with self.transaction(doing, commit=True) as conn:
                if len(self.buffer):
                    cursor = conn.connection.cursor()
                    try:
                        self._write_buffer(cursor)
                    finally:
                        cursor.close()
                result = work(conn) if work is not None else None
            self.buffer.clear()
            return result

    def flush_locked(self) -> None:
        """Write and commit the buffer (the caller holds ``lock``)."""
        if not len(self.buffer):
            return
        if self._raw is None:
            self.commit(doing="write buffered rows")
            return
        if self.closed:
            raise StoreError("cannot write buffered rows: the run store is closed")
        try:
            try:
                self._write_buffer(self._raw)
                self._raw.commit()
            except BaseException:
                self._raw.rollback()
                raise
        except self._dbapi_error as exc:
            raise self.error(exc, "write buffered rows") from exc
        self.buffer.clear()

    # ---- internals ----------------------------------------------------------------------------

    def _write_buffer(self, cursor) -> None:
        try:
            self.buffer.write(cursor)
        except self._dbapi_error as exc:
            if isinstance(exc, self._transient_error):  # locked, connection lost: kept, retried
                raise
            # a row the database refuses would fail every later flush too: drop the batch
            # rather than stop every later run of this process
            lost = len(self.buffer)
            self.buffer.clear()
            detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise StoreError(f"run store {self.url}: {lost} buffered row(s) were refused and "
                             f"dropped: {detail}",
                             hint="this is a bug in soar-runner or a plugin; please report it") from exc

    def _create_schema(self) -> None:
        # SQLite fast path (start-up of every `soar` command): one SELECT straight through the
        # driver; the catalogue query and SQLAlchemy's statement compilation below cost ~4 ms.
        if self._raw is not None and self._sqlite_version() == t.SCHEMA_VERSION:
            return

        def create(conn):
            if self.dialect == "sqlite":
                conn.exec_driver_sql("BEGIN IMMEDIATE")  # one process creates, others wait
            else:
                conn.execute(select(func.pg_advisory_xact_lock(0x50A7_0001)))
            t.metadata.create_all(conn)
            conn.execute(dialect_insert(self.dialect, t.schema_version)
                         .values(id=1, version=t.SCHEMA_VERSION).on_conflict_do_nothing())
            found = conn.execute(select(t.schema_version.c.version)).scalar_one()
            return upgrade(conn, found)  # a store made by an older soar-runner (under the same lock)

        with self.read("read the schema version") as conn:  # usually there: no write lock needed
            exists = inspect(conn).has_table(t.schema_version.name)
            version = conn.execute(select(t.schema_version.c.version)).scalar() if exists else None
        if version is None or version < t.SCHEMA_VERSION:
            version = self.commit(create, doing="create or upgrade the schema")
        if version > t.SCHEMA_VERSION:
            raise StoreError(
                f"run store {self.url} has schema version {version}; this soar-runner knows "
                f"up to {t.SCHEMA_VERSION}", hint="upgrade soar-runner (pip install -U soar-runner)")

    def _sqlite_version(self) -> int | None:
        """The stored schema version, or ``None`` (no table yet, or unreadable: the full path decides)."""
        try:
            rows = self._raw.execute(f"SELECT version FROM {t.schema_version.name} WHERE id = 1").fetchall()
        except self._dbapi_error:
            return None
        return rows[0][0] if rows else None

    def _dispose(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = self._raw = None
        self.engine.dispose()
