"""The database token cache in one process: choosing it, its key, rows it cannot read, a 401,
and the store migration that adds its table (SQLite; tests/auth/test_tokdb_processes.py has the
processes and PostgreSQL)."""

from __future__ import annotations

import logging
import sqlite3

import pytest
from auth_helpers import MDE_HOST, call_mde, run
from cryptography.fernet import Fernet

from runner.auth import TokenProvider
from runner.auth.dbcache import wanted_url
from runner.config import TokenCacheConfig, parse_config
from runner.errors import ConfigError, SecretError
from runner.store import RunStore
from runner.store.tables import SCHEMA_VERSION

KEY_ENV = "SOAR_TOKDB_TEST_KEY"
CANARY = "canary-key-value-Q7Z"


@pytest.fixture
def key(monkeypatch) -> str:
    value = Fernet.generate_key().decode()
    monkeypatch.setenv(KEY_ENV, value)
    return value


def database_config(cloud, **cache):
    cfg = cloud.demo_config()
    return cfg.model_copy(update={"token_cache": TokenCacheConfig(**{"backend": "database",
                                                                     "key": f"env:{KEY_ENV}", **cache})})


def rows(path) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT key, token, expires_on FROM token_cache").fetchall()


APP = "app: {client_id: 11111111-2222-3333-4444-555555555555, client_secret: env:S}\n"


def test_the_database_backend_needs_a_key_and_no_file_options():
    with pytest.raises(ConfigError, match="needs `key`") as info:
        parse_config(APP + "token_cache: {backend: database}\n", source="soar.yaml")
    assert info.value.where.line == 2 and "Fernet" in str(info.value)
    with pytest.raises(ConfigError, match="`path` and `encrypt` are for the file cache"):
        parse_config(APP + "token_cache: {backend: database, key: env:K, path: x.json}\n")
    with pytest.raises(ConfigError, match="`key` encrypts the database cache"):
        parse_config(APP + "token_cache: {backend: file, key: env:K}\n")
    with pytest.raises(ConfigError, match="not a secret reference"):
        parse_config(APP + f"token_cache: {{backend: database, key: {CANARY}}}\n")
    assert parse_config(APP + "token_cache: {key: env:K}\n").token_cache.backend == "auto"


def test_auto_is_the_database_only_for_a_front_or_worker_on_postgresql(cloud, monkeypatch):
    monkeypatch.delenv("SOAR_STORE", raising=False)
    pg = "postgresql://soar@db.example/soar"
    auto = cloud.demo_config().model_copy(update={"token_cache": TokenCacheConfig(key="env:K")})
    assert wanted_url(auto, pg) is None  # a plain `soar run`: its file cache
    assert wanted_url(auto, pg, role="serve") is None  # not a role of a deployment
    assert wanted_url(auto, role="worker") is None  # no store named: the default SQLite one
    assert wanted_url(auto, "sqlite:///x.db", role="worker") is None
    assert wanted_url(auto, pg, role="worker") == pg
    assert wanted_url(auto, pg, role="front") == pg
    monkeypatch.setenv("SOAR_STORE", pg)
    assert wanted_url(auto, role="worker") == pg  # the store soar.yaml or $SOAR_STORE names
    file = auto.model_copy(update={"token_cache": TokenCacheConfig(backend="file")})
    assert wanted_url(file, pg, role="worker") is None


def test_a_worker_on_postgresql_without_a_key_refuses_to_start(cloud):
    with pytest.raises(ConfigError, match="no token cache key") as info:
        TokenProvider(cloud.demo_config(path=None), cloud.network(), store_url="postgresql://soar@db.example/soar",
                      role="worker")
    assert "token_cache.key" in info.value.hint and "backend: file" in info.value.hint


def test_a_key_that_is_not_a_fernet_key_is_refused_without_showing_it(cloud, tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, CANARY)
    with pytest.raises(ConfigError, match="is not a Fernet key") as info:
        TokenProvider(database_config(cloud), cloud.network(), store_url=f"sqlite:///{tmp_path}/s.db")
    assert CANARY not in f"{info.value} {info.value.hint}" and f"env:{KEY_ENV}" in str(info.value)
    monkeypatch.delenv(KEY_ENV)
    with pytest.raises(SecretError, match=KEY_ENV):
        TokenProvider(database_config(cloud), cloud.network(), store_url=f"sqlite:///{tmp_path}/s.db")


def test_tokens_are_shared_encrypted_and_never_logged(cloud, tmp_path, key, caplog):
    caplog.set_level(logging.DEBUG)
    url = f"sqlite:///{tmp_path}/s.db"
    first = TokenProvider(database_config(cloud), cloud.network(), store_url=url)
    second = TokenProvider(database_config(cloud), cloud.network(), store_url=url)
    try:
        a = run(first.get_token("contoso", "mde"))
        b = run(second.get_token("contoso", "mde"))
    finally:
        first.close()
        second.close()
    assert a.value == b.value and b.source == "cache"
    assert cloud.token_requests["contoso"] == 1
    (row,) = rows(tmp_path / "s.db")
    assert row[1].startswith("gAAAA") and a.value.reveal() not in row[1]
    assert key not in caplog.text and a.value.reveal() not in caplog.text


def test_rows_written_under_another_key_are_fetched_again_and_replaced(cloud, tmp_path, key, monkeypatch, caplog):
    url = f"sqlite:///{tmp_path}/s.db"
    writer = TokenProvider(database_config(cloud), cloud.network(), store_url=url)
    run(writer.get_token("contoso", "mde"))
    writer.close()
    monkeypatch.setenv(KEY_ENV, Fernet.generate_key().decode())
    reader = TokenProvider(database_config(cloud), cloud.network(), store_url=url)
    try:
        with caplog.at_level(logging.WARNING, logger="soar.auth"):
            token = run(reader.get_token("contoso", "mde"))
        assert token.source == "identity_provider" and reader.stats["unreadable_cached_tokens"] >= 1
    finally:
        reader.close()
    assert cloud.token_requests["contoso"] == 2
    assert "cannot be decrypted with token_cache.key" in caplog.text and key not in caplog.text
    again = TokenProvider(database_config(cloud), cloud.network(), store_url=url)  # the row is now readable
    try:
        assert run(again.get_token("contoso", "mde")).source == "cache"
    finally:
        again.close()


def test_a_rotated_key_still_reads_rows_of_the_old_one(cloud, tmp_path, key, monkeypatch):
    url = f"sqlite:///{tmp_path}/s.db"
    old = TokenProvider(database_config(cloud), cloud.network(), store_url=url)
    run(old.get_token("contoso", "mde"))
    old.close()
    new_key = Fernet.generate_key().decode()
    monkeypatch.setenv(KEY_ENV, f"{new_key},{key}")
    rotated = TokenProvider(database_config(cloud), cloud.network(), store_url=url)
    try:
        assert run(rotated.get_token("contoso", "mde")).source == "cache"
        assert run(rotated.get_token("fabrikam", "mde")).source == "identity_provider"
    finally:
        rotated.close()
    assert cloud.token_requests["contoso"] == 1
    fabrikam = [r for r in rows(tmp_path / "s.db") if cloud.tenant("fabrikam").id in r[0]]
    assert Fernet(new_key.encode()).decrypt(fabrikam[0][1].encode())  # written under the new key


def test_a_401_replaces_the_shared_token_once(cloud, tmp_path, key, fake_mde):
    url = f"sqlite:///{tmp_path}/s.db"
    first = TokenProvider(database_config(cloud), cloud.network(), store_url=url)
    second = TokenProvider(database_config(cloud), cloud.network(), store_url=url)
    try:
        before = run(first.get_token("contoso", "mde"))
        fake_mde.reject_next = 1
        assert run(call_mde(first, cloud)).status_code == 200  # 401, new token, retried
        assert cloud.token_requests["contoso"] == 2
        after = run(second.get_token("contoso", "mde"))  # the replaced row, not the rejected token
        assert after.value != before.value and after.source == "cache"
        assert cloud.token_requests["contoso"] == 2
    finally:
        first.close()
        second.close()
    assert fake_mde.calls[-1].url.host == MDE_HOST


def test_a_version_2_store_gains_the_token_table(tmp_path):
    path = tmp_path / "old.db"
    RunStore.open(f"sqlite:///{path}").close()
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE token_cache")
        conn.execute("UPDATE schema_version SET version = 2")
    RunStore.open(f"sqlite:///{path}").close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchone() == (SCHEMA_VERSION,)
        assert conn.execute("SELECT count(*) FROM token_cache").fetchone() == (0,)


STRESS = """
import random, sys, threading, time
from pathlib import Path
from runner.auth.dbcache import _LockFile
lock_file = _LockFile.for_path(Path(sys.argv[1]))
errors = []
def work():
    for _ in range(40):
        try:
            with lock_file.locked(random.randrange(8)):
                time.sleep(0.002)
        except Exception as exc:
            errors.append(repr(exc))
threads = [threading.Thread(target=work) for _ in range(6)]
[t.start() for t in threads]
[t.join() for t in threads]
print(len(errors), errors[:1])
"""


def test_sqlite_row_locks_of_threads_in_several_processes_never_fail(tmp_path):
    # Linux refuses a record lock it takes for a deadlock between processes (EDEADLK) when threads
    # of two processes hold ranges the other's threads wait for: the lock waits and tries again
    import subprocess
    import sys

    procs = [subprocess.Popen([sys.executable, "-c", STRESS, str(tmp_path / "x.token-lock")],
                              stdout=subprocess.PIPE, text=True) for _ in range(3)]
    outputs = [p.communicate(timeout=60)[0].strip() for p in procs]
    assert outputs == ["0 []"] * 3
