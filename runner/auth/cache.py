"""The one token cache shared by every msal app (and by our v1 requests), persisted.

The cache is an msal :class:`~msal.SerializableTokenCache`; entries are keyed by tenant
(``realm``), client id and scope, so one cache serves every tenant and cloud. Where it is
kept is a :class:`CacheStore`:

- :class:`FileCacheStore` (default): a JSON file created with mode ``0600`` (its directory
  ``0700``), written atomically; concurrent processes merge their entries under a lock file.
- :class:`MemoryCacheStore`: nothing on disk (``--simulate``, tests).
- :class:`PersistenceCacheStore`: any object with ``load() -> str`` and ``save(str)``, such as
  msal-extensions' encrypted persistences (DPAPI, Keychain, libsecret); see
  :func:`encrypted_store` and ``docs/auth.md``.

Or the tokens are rows in the run store's database, shared by every process on it
(:mod:`runner.auth.dbcache`); msal then keeps only a memory copy. :func:`choose_store` decides.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Protocol

import msal

from runner.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from runner.auth.dbcache import DatabaseTokenCache

log = logging.getLogger("soar.auth")

AT = msal.TokenCache.CredentialType.ACCESS_TOKEN


class CacheStore(Protocol):
    description: str

    def load(self) -> str | None: ...

    def save(self, text: str) -> None: ...


class MemoryCacheStore:
    description = "memory (not persisted)"
    in_memory = True  # saving does no I/O: the token provider saves without a thread hop

    def __init__(self) -> None:
        self._text: str | None = None

    def load(self) -> str | None:
        return self._text

    def save(self, text: str) -> None:
        self._text = text


class FileCacheStore:
    """A JSON file, mode 0600. ``save`` merges with what other processes wrote meanwhile."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        self.description = f"file {self.path} (mode 0600)"

    def load(self) -> str | None:
        try:
            mode = stat.S_IMODE(self.path.stat().st_mode)
        except FileNotFoundError:
            return None
        if mode & 0o077:
            log.warning("token cache %s was readable by others (mode %o); tightened to 0600",
                        self.path, mode)
            os.chmod(self.path, 0o600)
        try:
            return self.path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read the token cache {self.path} ({exc.strerror})",
                              hint="fix its permissions or delete it (tokens are fetched again)") from None

    @contextmanager
    def locked(self) -> Iterator[None]:
        self._ensure_dir()
        lock_path = self.path.with_name(self.path.name + ".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                import fcntl
            except ImportError:  # pragma: no cover - Windows: no cross-process lock
                yield
                return
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def _ensure_dir(self) -> None:
        if not self.path.parent.exists():
            self.path.parent.mkdir(parents=True, mode=0o700, exist_ok=True)

    def save(self, text: str) -> None:
        self._ensure_dir()
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o600)  # in case the umask or a filesystem widened it
            os.replace(tmp, self.path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise


class PersistenceCacheStore:
    """Adapter for msal-extensions persistences (or anything with ``load``/``save``)."""

    def __init__(self, persistence: Any, description: str | None = None) -> None:
        self.persistence = persistence
        self.description = description or f"{type(persistence).__name__}"

    def load(self) -> str | None:
        try:
            return self.persistence.load()
        except FileNotFoundError:
            return None
        except Exception as exc:  # noqa: BLE001 - persistence back ends raise their own types
            if type(exc).__name__ == "PersistenceNotFound":
                return None
            raise

    def save(self, text: str) -> None:
        self.persistence.save(text)


def encrypted_store(path: str | Path) -> PersistenceCacheStore:
    """msal-extensions' encrypted persistence at ``path`` (DPAPI / Keychain / libsecret)."""
    try:
        from msal_extensions import build_encrypted_persistence
    except ImportError:
        raise ConfigError("`token_cache.encrypt: true` needs the msal-extensions package",
                          hint="pip install msal-extensions (it comes with 'soar-runner[keyvault]')") from None
    try:
        persistence = build_encrypted_persistence(str(Path(path).expanduser()))
    except Exception as exc:  # noqa: BLE001 - e.g. no libsecret on a headless Linux box
        raise ConfigError(f"no encrypted token store is available here ({type(exc).__name__})",
                          hint="install the OS secret service (libsecret) or set token_cache.encrypt: false") from None
    return PersistenceCacheStore(persistence, f"encrypted {path}")


def choose_store(config: Any, *, cache_path: str | Path | None = None, cache_store: CacheStore | None = None,
                 store_url: str | None = None, role: str | None = None) -> "tuple[CacheStore, DatabaseTokenCache | None]":
    """msal's store for ``config``'s token provider, and the database cache when tokens are kept
    there. ``cache_store`` wins, then ``cache_path`` (``":memory:"``: not persisted); given
    neither, the database when :func:`runner.auth.dbcache.wanted_url` names a store (``store_url``:
    the one this process uses; ``role``: the process's, "front" or "worker"), else
    ``token_cache.path`` (encrypted with ``encrypt: true``)."""
    if cache_store is not None:
        return cache_store, None
    tc = config.token_cache
    if cache_path is None:
        from runner.auth.dbcache import DatabaseTokenCache, cipher, wanted_url

        url = wanted_url(config, store_url, role=role)
        if url is not None:
            return MemoryCacheStore(), DatabaseTokenCache(url, cipher(config, auto=tc.backend == "auto"))
    path = Path(cache_path) if cache_path else config.cache_path()
    if path is None or str(path) == ":memory:":
        return MemoryCacheStore(), None
    if tc.encrypt and not cache_path:
        return encrypted_store(path), None
    return FileCacheStore(path), None


class SharedTokenCache:
    """The msal cache plus loading, saving and targeted eviction."""

    def __init__(self, store: CacheStore) -> None:
        self.store = store
        self.msal = msal.SerializableTokenCache()
        self._removed: set[str] = set()
        self._lock = threading.Lock()
        text = store.load()
        if text:
            try:
                self.msal.deserialize(text)
            except ValueError:
                log.warning("token cache (%s) is unreadable; starting empty", store.description)

    @property
    def saves_in_memory(self) -> bool:
        """``persist()`` does no I/O (a memory store): no need to leave the event loop for it."""
        return getattr(self.store, "in_memory", False)

    def persist(self) -> None:
        """Write the cache if it changed, merged with entries other processes wrote meanwhile.

        The flag is cleared *before* serialising, so a token added by another thread during the
        write marks the cache dirty again and is written by that thread's own ``persist()``.
        """
        with self._lock:
            if not self.msal.has_state_changed:
                return
            self.msal.has_state_changed = False
            removed, self._removed = self._removed, set()
            locked = getattr(self.store, "locked", None)
            if locked is None:
                self.store.save(self.msal.serialize())
                return
            with locked():
                self.store.save(self._merge(self.store.load(), removed))

    def _merge(self, disk_text: str | None, removed: set[str]) -> str:
        mine = json.loads(self.msal.serialize())
        try:
            disk = json.loads(disk_text) if disk_text else {}
        except ValueError:
            disk = {}
        for section, entries in mine.items():
            if isinstance(entries, dict):
                disk.setdefault(section, {}).update(entries)
            else:
                disk[section] = entries
        for key in removed - set(mine.get(AT, {})):  # a key re-filled since is a new token: keep it
            disk.get(AT, {}).pop(key, None)
        return json.dumps(disk, indent=1)

    def access_tokens(self, client_id: str, tenant_id: str, target: list[str]) -> list[dict]:
        return list(self.msal.search(AT, target=target, query={"client_id": client_id, "realm": tenant_id}))

    def remove(self, client_id: str, tenant_id: str, target: list[str]) -> int:
        """Drop cached access tokens for (client, tenant, target); returns how many."""
        entries = self.access_tokens(client_id, tenant_id, target)
        for entry in entries:
            with self._lock:
                self._removed.add(self.msal.key_makers[AT](**entry))
                self.msal.remove_at(entry)
        return len(entries)

    def add_v1(self, *, client_id: str, token_endpoint: str, resource: str, response: dict) -> None:
        """Store a v1 (``resource=``) token; its target is the bare resource URI."""
        self.msal.add({"client_id": client_id, "scope": [resource], "token_endpoint": token_endpoint,
                       "response": response, "params": {}, "data": {}, "grant_type": "client_credentials"})

