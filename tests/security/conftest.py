"""Shared by the security tests: the serve test helpers (tests/serve), the webhook secret, and a
fresh PostgreSQL database per test (`fresh_pg_database`) for the tests marked `postgres`."""

from __future__ import annotations

import secrets
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "serve"))

from serve_helpers import SECRET  # noqa: E402


@pytest.fixture(autouse=True)
def _hook_secret(monkeypatch):
    monkeypatch.setenv("SOAR_TEST_HOOK_SECRET", SECRET)
    monkeypatch.setenv("SOAR_TEST_API_TOKEN", "api-token-canary-51d0")


@pytest.fixture
def fresh_pg_database():
    """A database of this test's own on the shared server — (name, store URL) — dropped afterwards
    (connections are allowed again first, in case the test refused them)."""
    from sec_pg_helpers import PG_ADMIN, pg_admin

    name = f"soar_sec_{secrets.token_hex(6)}"
    with pg_admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        yield name, f"{base}/{name}"
    finally:
        with pg_admin() as admin:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
