"""Shared by the security tests: the serve test helpers (tests/serve), the webhook secret, and a
fresh PostgreSQL database per test (`fresh_pg_database`) for the tests marked `postgres`."""

from __future__ import annotations

import os
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


TEST_PLUGIN_DIR = Path(__file__).parents[1] / "engine"  # soar_testplugin: test.record and friends


@pytest.fixture
def test_plugin(tmp_path, monkeypatch) -> Path:
    """The engine tests' plugin (`soar_testplugin`) installed for this test, in this process and
    in the `soar` subprocesses it starts; it appends what it sends to `<tmp_path>/ledger.txt`."""
    monkeypatch.setenv("SOAR_PLUGINS", "soar_testplugin")
    monkeypatch.setenv("PYTHONPATH", str(TEST_PLUGIN_DIR) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    monkeypatch.setenv("SOAR_TEST_LEDGER", str(tmp_path / "ledger.txt"))
    if str(TEST_PLUGIN_DIR) not in sys.path:
        monkeypatch.syspath_prepend(str(TEST_PLUGIN_DIR))
    import runner.plugins

    monkeypatch.setattr(runner.plugins, "_default", None)
    return tmp_path


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
