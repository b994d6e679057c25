"""Fixtures for the run store contract suite: every test runs against SQLite and PostgreSQL.

PostgreSQL: the server on 127.0.0.1:5432 (trust auth, user ``postgres``; override with
``SOAR_TEST_POSTGRES``). The session gets a fresh database ``soar_test_<random>``, dropped at the
end, and every test its own schema in it. When the server is down the postgres tests FAIL (they
never skip): deselect them with ``-m "not postgres"``.
"""

from __future__ import annotations

import secrets as pyrandom
import urllib.parse

import pytest
from store_helpers import ADMIN_URL, libpq

from runner.store import RunStore


@pytest.fixture(scope="session")
def pg_database():
    """A fresh database for this test session; yields its URL (SQLAlchemy form)."""
    import psycopg

    name = f"soar_test_{pyrandom.token_hex(6)}"
    try:
        admin = psycopg.connect(libpq(ADMIN_URL), autocommit=True, connect_timeout=5)
    except psycopg.Error as exc:
        pytest.fail(
            f"PostgreSQL is unreachable at {ADMIN_URL} ({str(exc).strip()}); the postgres tests "
            "need it. Start it (trust auth for user postgres), set SOAR_TEST_POSTGRES, or deselect "
            "them with -m 'not postgres'.",
            pytrace=False,
        )
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            base = ADMIN_URL.rsplit("/", 1)[0]
            yield f"{base}/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_schema(pg_database):
    """A fresh schema in the session database; yields (store URL using it, schema name)."""
    import psycopg

    schema = f"t_{pyrandom.token_hex(6)}"
    with psycopg.connect(libpq(pg_database), autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    options = urllib.parse.quote(f"-csearch_path={schema}")
    yield f"{pg_database}?options={options}", schema
    with psycopg.connect(libpq(pg_database), autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request, tmp_path):
    """(backend name, store URL, details): a private SQLite file, or a private PostgreSQL schema."""
    if request.param == "sqlite":
        path = tmp_path / "store" / "soar.db"
        return "sqlite", f"sqlite:///{path}", {"dir": path.parent}
    url, schema = request.getfixturevalue("pg_schema")
    db_url = url.split("?", 1)[0]
    return "postgres", url, {"schema": schema, "db_url": db_url}


@pytest.fixture
def store_url(backend) -> str:
    return backend[1]


@pytest.fixture
def store(store_url):
    s = RunStore.open(store_url)
    yield s
    s.close()


@pytest.fixture
def other(store, store_url):
    """A second RunStore on the same database: it sees what is committed, nothing buffered."""
    s = RunStore.open(store_url)
    yield s
    s.close()
