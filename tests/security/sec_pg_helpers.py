"""PostgreSQL for the security tests: the shared server's maintenance connection, and a fresh
database per test (the server is shared with the rest of the suite: never restarted here)."""

from __future__ import annotations

import os

PG_ADMIN = os.environ.get("SOAR_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


def pg_admin():
    """An autocommit connection to the server's maintenance database."""
    import psycopg

    return psycopg.connect(PG_ADMIN.replace("postgresql+psycopg://", "postgresql://"), autocommit=True,
                           connect_timeout=5)
