"""PostgreSQL session advisory locks of a queue deployment.

:class:`FrontLock` — held by every ``soar serve --role front`` on a connection of its own:

- the serve lock (``runner.serve.lock.SERVE_LOCK_KEY``) in *shared* mode: any number of fronts
  hold it together, and an all-in-one ``soar serve`` (which takes it exclusively) cannot start
  beside them, nor a front beside it;
- the *leader* lock, exclusive, taken by one front: the one that fires schedules and polls and
  sweeps the inbox. Every front tries to take it every few seconds, so when the leader dies (its
  session ends with it) another front leads within that time. Leadership is checked on the
  lock's connection each time: a database restart drops it, and the front stops leading until
  it takes it again.

:class:`RunLeases` — a worker's lease on each run it executes (one connection per worker, one
lock per run): a second worker never executes a run at the same time, whatever the queue says;
the leases die with the worker's session (SIGKILL, machine lost).
"""

from __future__ import annotations

import os
import socket
import threading
import zlib
from typing import Any

from sqlalchemy import func, select, text

from runner.errors import StoreError
from runner.serve.lock import SERVE_LOCK_KEY

LEADER_KEY = 0x50A7_1EAD   # bigint key of the leader lock
LEASE_CLASS = 0x50A7_0A5E  # first int4 key of the run leases (the second: the run id's CRC-32)
_PARTS = {"shi": SERVE_LOCK_KEY >> 32, "slo": SERVE_LOCK_KEY & 0xFFFF_FFFF,
          "lhi": LEADER_KEY >> 32, "llo": LEADER_KEY & 0xFFFF_FFFF}
_HELD = text(
    "select coalesce(bool_or(classid = :shi and objid = :slo), false) as serving, "
    "coalesce(bool_or(classid = :lhi and objid = :llo), false) as leading "
    "from pg_locks where locktype = 'advisory' and granted and pid = pg_backend_pid() and objsubid = 1")


def _owner(what: str) -> str:
    return f"{what} pid={os.getpid()} host={socket.gethostname()}"


def _discard(conn: Any) -> None:
    try:
        conn.invalidate()  # its session carries our application_name: never back to the pool
    except Exception:  # noqa: BLE001 - already dead
        pass
    conn.close()


class FrontLock:
    """The shared serve lock and, when this front leads, the leader lock (one connection)."""

    kind = "front"

    def __init__(self, engine: Any):
        self.engine = engine
        self.store_url = engine.url.render_as_string(hide_password=True)
        self._conn: Any = None
        self._mutex = threading.Lock()
        self.leading = False
        self.holder: str | None = None  # the all-in-one serve holding the store, after "taken"

    @classmethod
    def acquire(cls, engine: Any) -> "FrontLock":
        lock = cls(engine)
        state = lock.regain()
        if state == "down":
            raise StoreError(f"run store {lock.store_url}: cannot take the front lock: the database does not answer",
                             hint="check that PostgreSQL is running and the store URL is right")
        if state == "taken":
            raise StoreError(f"run store {lock.store_url} is served by an all-in-one `soar serve` ({lock.holder})",
                             hint="a front and an all-in-one serve on one store would both run schedules: stop "
                                  "it (kill -TERM its pid), then start the fronts and workers")
        return lock

    def regain(self) -> str:
        """Take the shared serve lock on a new connection: ``"held"``, ``"taken"`` (an all-in-one
        serve holds it exclusively: see ``holder``) or ``"down"`` (no database yet)."""
        with self._mutex:
            if self._conn is not None:
                return "held"
            try:
                conn = self.engine.connect()
            except Exception:  # noqa: BLE001 - the database is not there (yet)
                return "down"
            try:
                conn.execute(text("select set_config('application_name', :n, false)"),
                             {"n": _owner("soar serve --role front")})
                got = conn.execute(select(func.pg_try_advisory_lock_shared(SERVE_LOCK_KEY))).scalar()
                if not got:
                    self.holder = conn.execute(text(
                        "select a.application_name from pg_locks l join pg_stat_activity a on a.pid = l.pid "
                        "where l.locktype = 'advisory' and l.granted and l.mode = 'ExclusiveLock' "
                        "and l.classid = :shi and l.objid = :slo"), _PARTS).scalar() or "pid unknown"
                conn.commit()
            except Exception:  # noqa: BLE001
                _discard(conn)
                return "down"
            if not got:
                _discard(conn)
                return "taken"
            self._conn, self.leading = conn, False
            return "held"

    def check(self) -> bool:
        """Is the serve lock still held? Updates :attr:`leading` (False when it was lost)."""
        with self._mutex:
            conn = self._conn
            if conn is None:
                return False
            try:
                row = conn.execute(_HELD, _PARTS).one()
                conn.rollback()
            except Exception:  # noqa: BLE001 - a dead connection
                row = None
            if row is None or not row.serving:
                self._conn, self.leading = None, False
                _discard(conn)
                return False
            self.leading = bool(row.leading)
            return True

    def try_lead(self) -> bool:
        """Take the leader lock if no other front holds it. True: this front leads."""
        with self._mutex:
            if self._conn is None:
                return False
            if self.leading:
                return True
            try:
                self.leading = bool(self._conn.execute(select(func.pg_try_advisory_lock(LEADER_KEY))).scalar())
                self._conn.commit()
            except Exception:  # noqa: BLE001 - found out by the next check()
                self.leading = False
            return self.leading

    def release(self) -> None:
        with self._mutex:
            conn, self._conn, self.leading = self._conn, None, False
            if conn is None:
                return
            try:
                conn.execute(text("select pg_advisory_unlock_all()"))
                conn.commit()
            except Exception:  # noqa: BLE001 - a dead session holds nothing
                pass
            finally:
                _discard(conn)


def lease_key(run_id: str) -> int:
    """The run's second lock key: its CRC-32 as a signed int4 (two runs may share one: then the
    second waits, which is harmless)."""
    value = zlib.crc32(run_id.encode())
    return value - (1 << 32) if value >= 1 << 31 else value


class RunLeases:
    """A worker's leases on the runs it executes, on one connection of its own."""

    def __init__(self, engine: Any):
        self.engine = engine
        self._conn: Any = None
        self._mutex = threading.Lock()
        self.held: set[str] = set()

    def _connection(self) -> Any:
        if self._conn is None:
            conn = self.engine.connect()
            conn.execute(text("select set_config('application_name', :n, false)"), {"n": _owner("soar worker")})
            conn.commit()
            self._conn = conn
        return self._conn

    def take(self, run_id: str) -> bool:
        """Lease ``run_id``; False when another worker holds it. Raises StoreError when the
        database cannot be reached."""
        with self._mutex:
            if run_id in self.held:  # the lock is re-entrant in one session: this set is not
                return False
            for attempt in (1, 2):
                try:
                    conn = self._connection()
                    got = conn.execute(select(func.pg_try_advisory_lock(LEASE_CLASS, lease_key(run_id)))).scalar()
                    conn.commit()
                    break
                except Exception as exc:  # noqa: BLE001 - a dead session: every lease went with it
                    self._drop()
                    if attempt == 2:
                        raise StoreError(f"cannot lease run {run_id}: {exc}",
                                         hint="check that PostgreSQL is running") from None
            if got:
                self.held.add(run_id)
            return bool(got)

    def give(self, run_id: str) -> None:
        with self._mutex:
            if run_id not in self.held:
                return
            self.held.discard(run_id)
            try:
                self._conn.execute(select(func.pg_advisory_unlock(LEASE_CLASS, lease_key(run_id))))
                self._conn.commit()
            except Exception:  # noqa: BLE001 - a dead session released it already
                self._drop()

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        self.held.clear()
        if conn is not None:
            _discard(conn)

    def close(self) -> None:
        with self._mutex:
            self._drop()
