"""Opening a SQLite store whose schema is current costs one SELECT through the driver (start-up of
every `soar` command); the catalogue query and schema creation run only for a new file, and a
store written by a newer soar-runner is still refused."""

from __future__ import annotations

import pytest

import runner.store.database as database
from runner.errors import StoreError
from runner.store import RunStore


def test_reopening_a_current_sqlite_store_skips_the_schema_catalogue(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'fast.db'}"
    RunStore.open(url).close()  # creates the schema
    monkeypatch.setattr(database, "inspect", lambda conn: pytest.fail("catalogue queried"))
    again = RunStore.open(url)
    assert again.list_runs() == []
    again.close()


def test_a_newer_schema_still_takes_the_full_check(tmp_path):
    import sqlite3

    path = tmp_path / "newer.db"
    RunStore.open(f"sqlite:///{path}").close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE schema_version SET version = 7")
    with pytest.raises(StoreError, match="schema version 7"):
        RunStore.open(f"sqlite:///{path}")
