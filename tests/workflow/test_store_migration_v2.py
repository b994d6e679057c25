"""A store written by soar-runner with schema version 1 opens, is upgraded to version 2 in place
(the columns that keep a run's origin, cancel requests, reruns and what an approval asks), and
keeps working: its waiting run can still be approved and continued."""

from __future__ import annotations

import sqlite3
import threading

import pytest
from wf_helpers import FIXTURES

from runner.store import RunStore
from runner.store import tables as t

V1_PARENT = "r-01m8xtqzhwqhqhr6zvsgzp9egr"
V1_CONTOSO = "r-01m8xtqzhwqhqhr6zvsgzp9egs"


def v1_sqlite_store(tmp_path) -> str:
    """The store `soar run playbooks/hunt-file-hash.yaml --simulate` left with soar-runner's
    schema version 1: a parent run and two tenant runs waiting at the `isolate` gate."""
    path = tmp_path / "soar.db"
    with sqlite3.connect(path) as conn:
        conn.executescript((FIXTURES / "store-v1.sql").read_text())
    conn.close()
    path.chmod(0o600)  # as the store makes it
    return f"sqlite:///{path}"


def columns(conn, table: str) -> set[str]:
    from sqlalchemy import inspect

    return {c["name"] for c in inspect(conn).get_columns(table)}


def version_and_columns(url: str) -> tuple[int, set[str], set[str]]:
    from sqlalchemy import create_engine, select

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            version = conn.execute(select(t.schema_version.c.version)).scalar_one()
            return version, columns(conn, "runs"), columns(conn, "approvals")
    finally:
        engine.dispose()


def test_a_version_1_sqlite_store_is_upgraded_when_a_command_opens_it(soar, tmp_path):
    soar.store = v1_sqlite_store(tmp_path)
    assert version_and_columns(soar.store)[0] == 1
    pending = soar.json("approvals", "list")
    assert {a["run_id"] for a in pending} == {V1_CONTOSO, "r-01m8xtqzhwqhqhr6zvsgzp9egt"}
    version, run_cols, approval_cols = version_and_columns(soar.store)
    assert version == t.SCHEMA_VERSION
    assert {"origin", "rerun_of", "cancel_requested_at", "cancel_requested_by"} <= run_cols
    assert {"tenant", "playbook", "step_name", "plan"} <= approval_cols
    shown = soar.json("runs", "show", V1_PARENT)
    assert shown["status"] == "waiting_approval" and shown["origin"] is None


def test_a_run_recorded_before_the_upgrade_is_approved_and_continued(soar, tmp_path, sim):
    soar.store = v1_sqlite_store(tmp_path)
    # it did not record how it was started: without --simulate that is said, not a crash
    refused = soar("approve", V1_CONTOSO, "isolate", "--no-resume")
    assert refused.exit_code == 0, refused.output
    unknown = soar("runs", "resume", V1_PARENT)
    assert unknown.exit_code == 2, unknown.output
    assert "internal error" not in unknown.output
    assert "does not record how it was started" in unknown.output and "--simulate" in unknown.output
    done = soar("approve", "r-01m8xtqzhwqhqhr6zvsgzp9egt", "isolate", "--simulate")
    assert done.exit_code == 0, done.output
    doc = soar.json("runs", "show", V1_PARENT)
    assert doc["status"] == "succeeded"
    assert {c["tenant"]: c["status"] for c in doc["children"]} == {"contoso": "succeeded",
                                                                  "fabrikam": "succeeded"}


def test_processes_opening_a_version_1_store_at_once_upgrade_it_once(tmp_path):
    url = v1_sqlite_store(tmp_path)
    errors: list[BaseException] = []

    def open_it() -> None:
        try:
            store = RunStore.open(url)
            store.get_run(V1_PARENT)
            store.close()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert version_and_columns(url)[0] == t.SCHEMA_VERSION


def test_an_upgraded_sqlite_store_opens_by_the_fast_path(tmp_path, monkeypatch):
    import runner.store.database as database

    url = v1_sqlite_store(tmp_path)
    RunStore.open(url).close()  # upgrades
    monkeypatch.setattr(database, "inspect", lambda conn: pytest.fail("catalogue queried"))
    again = RunStore.open(url)
    assert again.get_run(V1_PARENT).origin is None
    again.close()


def _downgrade_to_v1(url: str) -> None:
    """Make a current PostgreSQL store exactly what schema version 1 created: the version-2
    columns dropped, the version number 1."""
    from sqlalchemy import create_engine

    engine = create_engine(url)
    with engine.begin() as conn:
        for table, names in t.ADDED[2].items():
            for name in names:
                conn.exec_driver_sql(f"ALTER TABLE {table} DROP COLUMN {name}")
        conn.exec_driver_sql("UPDATE schema_version SET version = 1")
    engine.dispose()


@pytest.mark.postgres
def test_a_version_1_postgres_store_is_upgraded_and_keeps_its_runs(pg_store, tmp_path):
    from wf_helpers import Soar

    store = RunStore.open(pg_store)
    old = store.create_run(playbook_name="old", playbook_path=None, playbook_text="name: old\nsteps: []\n",
                           inputs={"x": 1}, status="waiting_approval")
    store.request_approval(old, "isolate", message="Isolate?")
    store.close()
    _downgrade_to_v1(pg_store)
    assert version_and_columns(pg_store)[0] == 1

    errors: list[BaseException] = []
    opened: list[RunStore] = []

    def open_it() -> None:
        try:
            opened.append(RunStore.open(pg_store))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(3)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    version, run_cols, approval_cols = version_and_columns(pg_store)
    assert version == t.SCHEMA_VERSION and "origin" in run_cols and "plan" in approval_cols
    store = opened[0]
    assert store.get_run(old).inputs == {"x": 1} and store.get_run(old).origin is None
    new = store.create_run(playbook_name="new", playbook_path=None, playbook_text="name: new\n", inputs={},
                           origin={"simulate": True})
    assert store.get_run(new).origin == {"simulate": True}
    for s in opened:
        s.close()
    soar = Soar(tmp_path, store=pg_store)
    listed = soar.json("approvals", "list")
    assert [(a["run_id"], a["step"]) for a in listed] == [(old, "isolate")]
