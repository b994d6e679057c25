"""Store URLs and the one SQLAlchemy Engine a RunStore uses (SQLite pragmas, PostgreSQL pooling)."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import StaticPool

from runner.errors import StoreError

from .filemodes import private_database, private_dir

BUSY_SECONDS = 10.0  # how long a SQLite connection waits for another one's lock
_HINT = "use sqlite:///PATH (the default) or postgresql://USER:PASSWORD@HOST/DB (--store / SOAR_STORE)"


def default_store_url() -> str:
    """``$SOAR_STORE`` if set, else a SQLite file ``./.soar/soar.db`` (its directory is created,
    or tightened, to mode 0700: see :mod:`runner.store.filemodes`)."""
    url = os.environ.get("SOAR_STORE")
    if url:
        return url
    path = Path.cwd() / ".soar" / "soar.db"
    private_dir(path.parent, tighten=True)
    return f"sqlite:///{path}"


def _pass_through(text):
    # JSON columns get text the store has already masked and serialised (records.to_json)
    return text


def normalise_url(url: str) -> URL:
    """Parse a store URL: ``postgresql://`` and ``postgres://`` mean psycopg 3."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        raise StoreError(f"'{url}' is not a store URL", hint=_HINT) from None
    backend = parsed.get_backend_name()
    if backend in ("postgresql", "postgres"):
        if parsed.drivername in ("postgresql", "postgres"):
            parsed = parsed.set(drivername="postgresql+psycopg")
        return parsed
    if backend == "sqlite":
        return parsed
    raise StoreError(f"unsupported run store '{parsed.render_as_string(hide_password=True)}'",
                     hint=_HINT)


def _sqlite_memory(url: URL) -> bool:
    return url.database in (None, "", ":memory:") or url.query.get("mode") == "memory"


def _sqlite_uri(url: URL) -> bool:
    # sqlite:///file:NAME?uri=true: SQLite resolves the name itself (and may not make a file)
    return str(url.query.get("uri", "")).lower() in ("true", "1")


def create_store_engine(url: str) -> tuple[Engine, str]:
    """The engine for ``url`` and its dialect name (``sqlite`` or ``postgresql``)."""
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite":
        options: dict = {"connect_args": {"timeout": BUSY_SECONDS, "check_same_thread": False}}
        if _sqlite_memory(parsed):
            options["poolclass"] = StaticPool  # one connection, or every checkout is a new database
        elif not _sqlite_uri(parsed):
            database = Path(parsed.database).expanduser()
            try:
                private_dir(database.parent)
            except OSError as exc:
                raise StoreError(f"cannot create the directory {database.parent} for the run store: "
                                 f"{exc.strerror or exc}", hint=f"fix the path, or {_HINT}") from None
            try:
                private_database(database)  # 0600 before SQLite opens it, so its -wal/-shm are too
            except OSError as exc:
                raise StoreError(f"cannot create the run store file {database}: {exc.strerror or exc}",
                                 hint=f"check that its directory is writable, or {_HINT}") from None
        engine = create_engine(parsed, json_serializer=_pass_through, **options)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine, "sqlite"
    try:
        engine = create_engine(parsed, json_serializer=_pass_through, pool_pre_ping=True,
                               pool_size=5, max_overflow=10)
    except ImportError as exc:  # no psycopg installed
        raise StoreError(f"cannot use a PostgreSQL store: {exc}",
                         hint="pip install 'soar-runner[postgres]'") from None
    return engine, "postgresql"


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout={int(BUSY_SECONDS * 1000)}")
        # WAL: readers (`soar runs`, `soar approve`) never block the engine's writes.
        # NORMAL: a commit survives a crash of the process (not of the OS) without an fsync each.
        _switch_to_wal(cursor)
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()



def _switch_to_wal(cursor) -> None:
    """``PRAGMA journal_mode=WAL``, tried again while the file is locked.

    Switching a rollback-journal file (a new store, or one an older tool made) to WAL needs a lock
    SQLite takes without calling the busy handler: a process opening the file while another
    switches it, or reads it, gets "database is locked" at once. The switch is tried again for as
    long as the busy timeout would have waited; once any connection has switched the file, the
    mode is persistent and the pragma is a no-op."""
    deadline = time.monotonic() + BUSY_SECONDS
    pause = 0.002
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            if time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.1)


def store_error(exc: Exception, *, url: str, dialect: str, doing: str) -> StoreError:
    """A database error (SQLAlchemy's or the driver's) as the StoreError users see."""
    lines = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    detail = lines[0] if lines else type(exc).__name__
    if "locked" in detail or "busy" in detail:
        hint = "another process held the store for more than 10 s; try again"
    elif dialect == "postgresql":
        hint = "check that PostgreSQL is running and the store URL (--store / SOAR_STORE) is right"
    else:
        hint = "check that the store file's directory exists and is writable (--store / SOAR_STORE)"
    return StoreError(f"run store {url}: cannot {doing}: {detail}", hint=hint)
