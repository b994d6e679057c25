"""Fixtures for the polling tests; the cursor store runs on SQLite and on PostgreSQL.

PostgreSQL: the server on 127.0.0.1:5432 (user ``postgres``, trust auth; override with
``SOAR_TEST_POSTGRES``), as in tests/store: a fresh database per session, a schema per test.
When the server is down the postgres tests FAIL (never skip): deselect with ``-m "not postgres"``.
"""

from __future__ import annotations

import os
import secrets
import urllib.parse

import pytest
from poll_helpers import PollEnv

ADMIN_URL = os.environ.get("SOAR_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


@pytest.fixture(scope="session")
def poll_pg_database():
    import psycopg

    name = f"soar_poll_test_{secrets.token_hex(6)}"
    try:
        admin = psycopg.connect(_libpq(ADMIN_URL), autocommit=True, connect_timeout=5)
    except psycopg.Error as exc:
        pytest.fail(f"PostgreSQL is unreachable at {ADMIN_URL} ({str(exc).strip()}); start it, set "
                    "SOAR_TEST_POSTGRES, or deselect with -m 'not postgres'.", pytrace=False)
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"{ADMIN_URL.rsplit('/', 1)[0]}/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def poll_store_url(request, tmp_path):
    """A private SQLite file, or a private schema in the session's PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store' / 'soar.db'}"
        return
    import psycopg

    db = request.getfixturevalue("poll_pg_database")
    schema = f"p_{secrets.token_hex(6)}"
    with psycopg.connect(_libpq(db), autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    yield f"{db}?options={urllib.parse.quote(f'-csearch_path={schema}')}"
    with psycopg.connect(_libpq(db), autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def env(tmp_path):
    e = PollEnv(f"sqlite:///{tmp_path / 'soar.db'}")
    yield e
    e.close()
