"""The token cache in the run store's database, shared by every process that uses the store.

One row per (app, tenant, scope or resource) in the store's ``token_cache`` table
(:data:`runner.store.tables.token_cache`). The access token is encrypted with Fernet
(``cryptography``) under ``token_cache.key``; only its issue and expiry times, the tenant id and
the scope are in clear. A row also carries its own key inside the ciphertext, so a row copied
onto another tenant's key does not decrypt as that tenant's token.

**Single flight across processes.** A process that finds no fresh token takes a lock on the row's
key (:meth:`DatabaseTokenCache.flight`), reads the row again — another process may have fetched
it while this one waited — and only when it is still missing or stale asks Entra ID, writes the
row and releases the lock:

- PostgreSQL: ``pg_advisory_xact_lock(class, hashtext(key))`` in a transaction that ends with the
  row's write, so the lock and the new token become visible together; a process that dies
  mid-request loses its connection and with it the lock. Token rows of different tenants never
  wait for each other (up to a hash collision).
- SQLite (one machine): a byte-range lock (``lockf``) on ``<store file>.token-lock`` at an offset
  taken from the key, plus a thread lock per offset; the database itself is written in short
  transactions, so a token request never holds the run store's write lock.

Which cache a :class:`~runner.auth.TokenProvider` uses is :func:`wanted_url`'s answer:
``token_cache.backend: database``, or ``auto`` in a front or a worker (the role the composition
root, :func:`runner.compose.build_services`, was given) when the store is PostgreSQL.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import random
import socket
import threading
import time
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

from runner.errors import ConfigError, StoreError
from runner.secrets import Secret

log = logging.getLogger("soar.auth")
T = TypeVar("T")

UTC = timezone.utc
LOCK_CLASS = 0x50A7  # first key of the advisory locks on token rows (the second: hashtext(key))
LOCK_TIMEOUT = "60s"  # how long a process waits for another's token request before it gives up
SQLITE_SLOTS = 1 << 16  # byte offsets of the SQLite lock file

_IMPORTING = threading.Lock()  # threads importing the store's modules at once see them half made

KEY_HINT = ("make one with python -c \"from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())\" and keep it where `token_cache.key` points "
            "(e.g. env:SOAR_TOKEN_CACHE_KEY); every process of the deployment needs the same key")


ROLES = ("front", "worker")  # processes of a scaled-out deployment: `backend: auto` shares the store's


def _is_postgres(url: str) -> bool:
    from runner.store.connect import normalise_url

    return normalise_url(url).get_backend_name() in ("postgresql", "postgres")


def wanted_url(config: Any, store_url: str | None = None, *, role: str | None = None) -> str | None:
    """The store URL whose database keeps ``config``'s tokens, or ``None`` for the file cache.

    ``backend: database``: ``store_url`` (the store this process uses), else ``store:`` in
    soar.yaml, else ``$SOAR_STORE``, else the default store. ``auto``: the same store when
    ``role`` is ``"front"`` or ``"worker"`` (``soar serve --role front``, ``soar worker``) and that
    store is PostgreSQL — unless soar.yaml names a ``path`` (or ``encrypt``) for the file cache."""
    backend = config.token_cache.backend
    if backend == "file":
        return None
    url = store_url or getattr(config, "store", None) or os.environ.get("SOAR_STORE")
    if backend == "database":
        if url is None:
            from runner.store.connect import default_store_url

            url = default_store_url()
        return url
    tc = config.token_cache
    if tc.path or tc.encrypt:  # auto, but soar.yaml chose the file cache (or memory) explicitly
        return None
    if role in ROLES and url and _is_postgres(url):
        return url
    return None


def cipher(config: Any, *, auto: bool) -> Any:
    """The Fernet cipher of ``token_cache.key`` (several keys, comma- or space-separated: the first
    encrypts, every one decrypts — for rotating the key). :class:`ConfigError` without a key or
    with one that is not a Fernet key; the message never shows the value."""
    from cryptography.fernet import Fernet, MultiFernet

    from runner import secrets

    ref = config.token_cache.key
    if not ref:
        why = ("this process shares its tokens with the deployment's other processes through the "
               "PostgreSQL store (a front or worker; token_cache.backend: auto)" if auto
               else "token_cache.backend is database")
        raise ConfigError(f"no token cache key: {why}, and tokens are never stored there in clear",
                          hint="set token_cache.key to a secret reference; " + KEY_HINT
                               + (" (or token_cache.backend: file for a cache per machine)" if auto else ""))
    raw = secrets.resolve(ref, name="token_cache.key").reveal()
    parts = [p for p in raw.replace(",", " ").split() if p]
    ciphers = []
    for i, part in enumerate(parts, 1):
        try:
            ciphers.append(Fernet(part.encode()))
        except (ValueError, TypeError):
            which = f"key {i} of {len(parts)}" if len(parts) > 1 else "its value"
            raise ConfigError(f"token_cache.key ({ref}): {which} is not a Fernet key "
                              "(32 bytes in url-safe base64, 44 characters)", hint=KEY_HINT) from None
        Secret(part, name="token_cache.key")  # registered: masked wherever it might show up as text
    if not ciphers:
        raise ConfigError(f"token_cache.key ({ref}) is empty", hint=KEY_HINT)
    return MultiFernet(ciphers)


@dataclass(frozen=True)
class CachedToken:
    """A decrypted row."""

    value: str
    issued_at: float | None
    expires_on: float


class Undecryptable(Exception):
    """A row this key cannot read (written under another key, or altered)."""


def row_key(client_id: str, tenant_id: str, target: str) -> str:
    return f"{client_id} {tenant_id} {target}"


def token_row(result: dict, now: float) -> CachedToken:
    """The row for a token endpoint's answer: its times from the token's claims (unverified: the
    provider validates every token it hands out), else from ``expires_in``."""
    from runner.auth.validation import decode_unverified

    raw = result["access_token"]
    claims = decode_unverified(raw)[1]
    expires_on = float(claims["exp"]) if "exp" in claims else now + float(result.get("expires_in", 0))
    return CachedToken(raw, float(claims["iat"]) if "iat" in claims else None, expires_on)


class DatabaseTokenCache:
    """Token rows in the store at ``url``, encrypted with ``cipher`` (:func:`cipher`). The store is
    opened (its schema created or upgraded) on first use."""

    def __init__(self, url: str, cipher: Any) -> None:
        self.url = url
        self._cipher = cipher
        self._db: Any = None
        self._open_lock = threading.Lock()
        self.unreadable = 0  # rows this key could not decrypt (then fetched again)
        self._warned: set[str] = set()
        self.description = "the run store's database (encrypted)"

    # ---- connection ------------------------------------------------------------------------------

    def _database(self) -> Any:
        with self._open_lock:
            if self._db is None:
                with _IMPORTING:
                    from runner.store.database import Database

                self._db = Database(self.url)
                self.description = f"{self._db.url} (encrypted token rows)"
            return self._db

    def close(self) -> None:
        with self._open_lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    # ---- rows ------------------------------------------------------------------------------------

    def read(self, key: str, conn: Any = None) -> CachedToken | None:
        """The token under ``key``; ``None`` when there is none or this key cannot decrypt it
        (logged: it is fetched again and the row overwritten)."""
        db = self._database()  # first: it imports the store's modules under a lock
        from sqlalchemy import select

        from runner.store.tables import token_cache as table

        query = select(table.c.token, table.c.issued_at, table.c.expires_on).where(table.c.key == key)
        if conn is None:
            with db.read("read the token cache") as c:
                row = c.execute(query).first()
        else:
            row = conn.execute(query).first()
        if row is None:
            return None
        try:
            value = self._decrypt(key, row.token)
        except Undecryptable:
            self.unreadable += 1
            if key in self._warned:  # once per row until this process replaces it
                return None
            self._warned.add(key)
            tenant = key.split(" ")[1] if key.count(" ") >= 2 else "?"
            log.warning("a cached token for tenant %s cannot be decrypted with token_cache.key (written under "
                        "another key, or altered): fetching a new one, which replaces it", tenant)
            return None
        return CachedToken(value, float(row.issued_at) if row.issued_at is not None else None, float(row.expires_on))

    def write(self, key: str, token: CachedToken, conn: Any = None) -> None:
        """Store ``token`` under ``key`` (replacing the row), encrypted."""
        db = self._database()
        from runner.store.buffer import dialect_insert
        from runner.store.tables import token_cache as table

        self._warned.discard(key)
        client_id, tenant_id, target = key.split(" ", 2)
        payload = json.dumps({"key": key, "access_token": token.value}).encode()
        values = {"token": self._cipher.encrypt(payload).decode("ascii"),
                  "issued_at": int(token.issued_at) if token.issued_at is not None else None,
                  "expires_on": int(token.expires_on), "fetched_by": f"{socket.gethostname()}:{os.getpid()}",
                  "updated_at": datetime.now(UTC)}
        stmt = dialect_insert(db.dialect, table).values(key=key, client_id=client_id, tenant_id=tenant_id,
                                                        target=target, **values)
        stmt = stmt.on_conflict_do_update(index_elements=[table.c.key], set_=values)
        if conn is None:
            with db.transaction("write the token cache", commit=True) as c:
                c.execute(stmt)
        else:
            conn.execute(stmt)

    def _decrypt(self, key: str, text: str) -> str:
        from cryptography.fernet import InvalidToken

        try:
            doc = json.loads(self._cipher.decrypt(text.encode("ascii")))
        except (InvalidToken, ValueError, UnicodeError):
            raise Undecryptable() from None
        if not isinstance(doc, dict) or doc.get("key") != key or not isinstance(doc.get("access_token"), str):
            raise Undecryptable()
        return doc["access_token"]

    # ---- single flight ---------------------------------------------------------------------------

    def get_or_fetch(self, key: str, usable: Callable[[CachedToken], bool],
                     fetch: Callable[[], tuple[CachedToken, T]]) -> tuple[CachedToken, T | None]:
        """``(row, None)`` when the row under ``key`` is ``usable``; else, holding the lock on
        ``key``, the row again if another process wrote a usable one while this one waited,
        else ``fetch()``'s row (written before the lock is released) and its second value."""
        row = self.read(key)
        if row is not None and usable(row):
            return row, None
        with self.flight(key) as flight:
            row = flight.read()
            if row is not None and usable(row):
                return row, None
            row, extra = fetch()
            flight.write(row)
            return row, extra

    @contextmanager
    def flight(self, key: str) -> Iterator["Flight"]:
        """Hold the lock on ``key`` across processes for the block; read and write through the
        :class:`Flight` it yields (on PostgreSQL the write commits as the block ends)."""
        db = self._database()
        if db.dialect == "postgresql":
            with self._pg_flight(db, key) as flight:
                yield flight
        else:
            with self._sqlite_lock(db, key):
                yield Flight(self, key, None)

    @contextmanager
    def _pg_flight(self, db: Any, key: str) -> Iterator["Flight"]:
        from sqlalchemy import func, select, text

        try:
            conn = db.engine.connect()
        except Exception as exc:  # noqa: BLE001 - the driver's or SQLAlchemy's
            raise db.error(exc, "lock a token cache row") from None
        try:
            try:
                conn.begin()
                conn.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
                conn.execute(select(func.pg_advisory_xact_lock(LOCK_CLASS, func.hashtext(key))))
            except Exception as exc:  # noqa: BLE001
                conn.rollback()
                if "lock timeout" in str(getattr(exc, "orig", exc)):
                    raise StoreError(f"run store {db.url}: another process has been fetching this token for "
                                     f"more than {LOCK_TIMEOUT}", hint="check that Entra ID is reachable from "
                                     "the other workers; this step can be retried") from None
                raise db.error(exc, "lock a token cache row") from None
            try:
                yield Flight(self, key, conn)
            except BaseException as exc:
                conn.rollback()
                from sqlalchemy.exc import SQLAlchemyError

                if isinstance(exc, (SQLAlchemyError, db.engine.dialect.loaded_dbapi.Error)):
                    raise db.error(exc, "read or write the token cache") from None
                raise  # the token request's own error (AuthError...), or an interruption
            try:
                conn.commit()
            except Exception as exc:  # noqa: BLE001
                raise db.error(exc, "write the token cache") from None
        finally:
            conn.close()

    @contextmanager
    def _sqlite_lock(self, db: Any, key: str) -> Iterator[None]:
        database = db.engine.url.database
        if not database or database == ":memory:" or database.startswith("file:"):
            lock_file = _LockFile.for_path(None)  # a store of this process only
        else:
            path = Path(database).expanduser()
            lock_file = _LockFile.for_path(path.with_name(path.name + ".token-lock"))
        with lock_file.locked(zlib.crc32(key.encode()) % SQLITE_SLOTS):
            yield


class _LockFile:
    """Byte-range locks on one file, one per process (POSIX record locks belong to the process,
    and closing any descriptor of the file drops them all: the file stays open), with a thread
    lock per range (threads of one process would otherwise all hold it)."""

    _files: dict[str | None, "_LockFile"] = {}
    _guard = threading.Lock()

    def __init__(self, path: Path | None) -> None:
        self.fd: int | None = None
        if path is not None:
            try:
                import fcntl  # noqa: F401
            except ImportError:  # pragma: no cover - Windows: one process per SQLite store
                pass
            else:
                self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        self.slots: dict[int, threading.Lock] = {}

    @classmethod
    def for_path(cls, path: Path | None) -> "_LockFile":
        name = str(path.resolve()) if path is not None else None
        with cls._guard:
            found = cls._files.get(name)
            if found is None:
                found = cls._files[name] = cls(path)
            return found

    @contextmanager
    def locked(self, slot: int) -> Iterator[None]:
        with self._guard:
            lock = self.slots.setdefault(slot, threading.Lock())
        with lock:
            if self.fd is None:
                yield
                return
            import fcntl

            while True:
                try:
                    fcntl.lockf(self.fd, fcntl.LOCK_EX, 1, slot)
                    break
                except OSError as exc:
                    # the kernel sees this process holding one range while (in another thread) it
                    # waits for a range a second process holds, which waits for the first: a
                    # deadlock between processes that the threads do not have. Wait, try again.
                    if exc.errno != errno.EDEADLK:
                        raise
                    time.sleep(0.01 + random.random() * 0.04)
            try:
                yield
            finally:
                fcntl.lockf(self.fd, fcntl.LOCK_UN, 1, slot)


class Flight:
    """Reads and writes of one key while its lock is held."""

    def __init__(self, cache: DatabaseTokenCache, key: str, conn: Any) -> None:
        self.cache, self.key, self.conn = cache, key, conn

    def read(self) -> CachedToken | None:
        return self.cache.read(self.key, self.conn)

    def write(self, token: CachedToken) -> None:
        self.cache.write(self.key, token, self.conn)
