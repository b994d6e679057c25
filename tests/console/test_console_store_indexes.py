"""Schema version 5: the runs list's indexes, in a new store and in one upgraded from version 4."""

from __future__ import annotations

import sqlite3

from runner.store import RunStore
from runner.store import tables as t

WANTED = {"ix_runs_top_created", "ix_runs_top_status", "ix_runs_top_playbook", "ix_runs_tenant"}


def _indexes(path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}


def _version(path) -> int:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT version FROM schema_version").fetchone()[0]


def test_a_new_store_has_the_runs_list_indexes(tmp_path):
    RunStore.open(f"sqlite:///{tmp_path}/new.db").close()
    assert WANTED <= _indexes(tmp_path / "new.db")
    assert set(t.INDEXED[5]) == WANTED


def test_a_version_4_store_gets_them_when_opened(tmp_path):
    path = tmp_path / "old.db"
    store = RunStore.open(f"sqlite:///{path}")
    run_id = store.create_run(playbook_name="pb", playbook_path=None, playbook_text="x", inputs={})
    store.close()
    with sqlite3.connect(path) as conn:  # as version 4 left it
        for name in WANTED:
            conn.execute(f"DROP INDEX {name}")
        conn.execute("UPDATE schema_version SET version = 4")
    assert not WANTED & _indexes(path)
    store = RunStore.open(f"sqlite:///{path}")
    assert store.get_run(run_id).playbook_name == "pb"
    store.close()
    assert WANTED <= _indexes(path) and _version(path) == t.SCHEMA_VERSION
