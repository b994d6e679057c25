"""One ``soar serve`` per run store: an exclusive lock held for the life of the process.

APScheduler 3 supports one scheduler per job store; a second ``soar serve`` on the same store
would fire every schedule twice. So a serve process takes, before it schedules anything:

- SQLite: ``flock`` on a lock file next to the database (``<db>.serve.lock``), holding the pid
  of its owner. The operating system drops the lock when the process dies (also on SIGKILL), so
  a stale file never blocks a restart.
- PostgreSQL: the session advisory lock ``SERVE_LOCK_KEY`` on a connection of its own, whose
  ``application_name`` names the owner's host and pid (the lock dies with the connection).
- an in-memory SQLite store cannot be shared: no lock.

A second process is refused with a :class:`~runner.errors.StoreError` naming the store and the
other process's pid.

A session advisory lock lives as long as its connection: a PostgreSQL restart (or a terminated
backend) drops it silently, and a second ``soar serve`` could then start. So ``soar serve`` calls
:meth:`ServeLock.check` every few seconds; when the lock is gone it calls :meth:`ServeLock.regain`
until the database answers: the lock is taken again on a new connection (``"held"``), or another
process holds it now (``"taken"``: serve stops, exit 1). A flock cannot be lost that way.
"""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text

from runner.errors import StoreError

SERVE_LOCK_KEY = 0x50A7_5E7E  # bigint key of the PostgreSQL advisory lock
_HINT = ("one `soar serve` per run store (a second one would fire every schedule twice): stop the "
         "other one (kill -TERM {pid}), or give this one its own store (--store / SOAR_STORE)")


def _owner() -> str:
    return f"soar serve pid={os.getpid()} host={socket.gethostname()}"


class ServeLock:
    """Held while ``soar serve`` runs; :meth:`release` (or the process's end) frees it."""

    def __init__(self, store_url: str, handle: Any, kind: str, engine: Any = None):
        self.store_url, self._handle, self.kind = store_url, handle, kind
        self._engine = engine
        self._mutex = threading.Lock()  # check/regain run in a thread; release in the loop's
        self.holder: str | None = None  # who holds it, after regain() found it taken

    @classmethod
    def acquire(cls, engine: Any) -> "ServeLock":
        """Take the lock of the store behind ``engine`` (a SQLAlchemy engine), or refuse."""
        url = engine.url
        shown = url.render_as_string(hide_password=True)
        if url.get_backend_name() == "sqlite":
            database = url.database
            if database in (None, "", ":memory:") or url.query.get("mode") == "memory":
                return cls(shown, None, "none")
            return cls(shown, _lock_file(Path(database).expanduser().resolve(), shown), "file")
        return cls(shown, _advisory_lock(engine, shown), "advisory", engine)

    @property
    def held(self) -> bool:
        return self._handle is not None

    def check(self) -> bool:
        """Still held? (PostgreSQL: the lock's connection answers and holds the advisory lock.)
        Blocking: a few milliseconds, more while the database is unreachable."""
        if self.kind != "advisory":
            return self._handle is not None or self.kind == "none"
        with self._mutex:
            return self._check()

    def _check(self) -> bool:
        conn = self._handle
        if conn is None:
            return False
        try:
            held = conn.execute(text(
                "select count(*) from pg_locks where locktype = 'advisory' and granted "
                "and pid = pg_backend_pid() and classid = :hi and objid = :lo"), _KEY_PARTS).scalar()
            conn.rollback()
        except Exception:  # noqa: BLE001 - a dead connection, however the driver says it
            held = 0
        if not held:
            self._drop()
        return bool(held)

    def regain(self) -> str:
        """After :meth:`check` found the advisory lock lost: take it again on a new connection.
        ``"held"``: taken; ``"taken"``: another process holds it (see ``holder``); ``"down"``:
        the database does not answer yet (try again later)."""
        with self._mutex:
            return self._regain()

    def _regain(self) -> str:
        if self._handle is not None:
            return "held"
        try:
            conn = self._engine.connect()
        except Exception:  # noqa: BLE001 - the database is not back yet
            return "down"
        try:
            got, holder = _try_advisory(conn)
        except Exception:  # noqa: BLE001
            _discard(conn)
            return "down"
        if got:
            self._handle = conn
            return "held"
        _discard(conn)
        self.holder = holder or "pid unknown"
        return "taken"

    def _drop(self) -> None:
        conn, self._handle = self._handle, None
        if conn is not None:
            _discard(conn)  # the session (and its lock) is gone

    def release(self) -> None:
        with self._mutex:
            self._release()

    def _release(self) -> None:
        handle, self._handle = self._handle, None
        if handle is None:
            return
        if self.kind == "file":
            os.close(handle)  # closing the descriptor drops the flock; the file stays (no unlink race)
        elif self.kind == "advisory":
            try:
                handle.execute(select(func.pg_advisory_unlock(SERVE_LOCK_KEY)))
                handle.commit()
            except Exception:  # noqa: BLE001 - a dead session holds no lock: nothing to release
                pass
            finally:
                _discard(handle)


def _lock_file(database: Path, shown: str) -> int:
    import fcntl

    path = database.with_name(database.name + ".serve.lock")
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)  # names the owner: no one else's business
        os.fchmod(fd, 0o600)  # also a lock file left by an older version (0644)
    except OSError as exc:
        raise StoreError(f"cannot create the serve lock {path} of run store {shown}: {exc.strerror or exc}",
                         hint="check that the store's directory is writable") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        other = os.pread(fd, 200, 0).decode(errors="replace").strip() or "pid unknown"
        os.close(fd)
        pid = other.split("pid=")[1].split()[0] if "pid=" in other else "PID"
        raise StoreError(f"run store {shown} is already served by another process ({other}; lock {path})",
                         hint=_HINT.format(pid=pid)) from None
    except OSError as exc:
        os.close(fd)
        raise StoreError(f"cannot lock {path} for run store {shown}: {exc.strerror or exc}") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, (_owner() + "\n").encode(), 0)
    return fd


_KEY_PARTS = {"hi": SERVE_LOCK_KEY >> 32, "lo": SERVE_LOCK_KEY & 0xFFFF_FFFF}


def _try_advisory(conn: Any) -> tuple[bool, str | None]:
    """Try the lock on ``conn``, naming this process as its owner: (got it, the holder if not)."""
    conn.execute(text("select set_config('application_name', :name, false)"), {"name": _owner()})
    if conn.execute(select(func.pg_try_advisory_lock(SERVE_LOCK_KEY))).scalar():
        conn.commit()  # a session lock outlives the transaction
        return True, None
    holder = conn.execute(text(
        "select a.application_name from pg_locks l join pg_stat_activity a on a.pid = l.pid "
        "where l.locktype = 'advisory' and l.granted and l.classid = :hi and l.objid = :lo"),
        _KEY_PARTS).scalar()
    conn.rollback()
    return False, holder


def _advisory_lock(engine: Any, shown: str) -> Any:
    try:
        conn = engine.connect()
    except Exception as exc:  # noqa: BLE001 - a database error, shown as the store's
        raise StoreError(f"run store {shown}: cannot take the serve lock: {exc}") from None
    try:
        got, holder = _try_advisory(conn)
    except Exception as exc:  # noqa: BLE001 - a database error, shown as the store's
        _discard(conn)
        raise StoreError(f"run store {shown}: cannot take the serve lock: {exc}") from None
    if got:
        return conn
    _discard(conn)
    raise taken_error(shown, holder)


def _discard(conn: Any) -> None:
    """Close a connection of the lock for good: its session carries the owner's name
    (``application_name``), which must not follow it back into the store's pool."""
    try:
        conn.invalidate()
    except Exception:  # noqa: BLE001 - already dead
        pass
    conn.close()


def taken_error(shown: str, holder: str | None) -> StoreError:
    """The error of a store served by another process (``holder``: its application name)."""
    other = holder or "pid unknown"
    pid = other.split("pid=")[1].split()[0] if "pid=" in other else "PID"
    return StoreError(f"run store {shown} is already served by another process ({other})",
                      hint=_HINT.format(pid=pid))
