"""`soar db upgrade` (idempotent; the queue's schema only on PostgreSQL), procrastinate's
migrations chosen by version, and what a front or a worker refuses: a SQLite store, a database
without the queue's schema, options that belong to the front."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from scaleout_helpers import fresh_database

from runner.cli import main
from runner.queue import jobs
from runner.queue.roles import deployment, hand_to_queue, record_mode
from runner.queue.schema import upgrade
from runner.store import RunStore
from runner.store.inbox import TriggerInbox


@pytest.mark.postgres
def test_db_upgrade_puts_the_queue_in_place_once_and_then_changes_nothing():
    with fresh_database() as url:
        first = CliRunner().invoke(main, ["--store", url, "db", "upgrade", "--json"])
        assert first.exit_code == 0, first.output
        doc = json.loads(first.output)
        assert doc["queue_schema"] == jobs.library_version()
        assert f"procrastinate {jobs.library_version()} schema" in doc["applied"]
        assert "table soar_queue_state" in doc["applied"]
        again = CliRunner().invoke(main, ["--store", url, "db", "upgrade"])
        assert again.exit_code == 0, again.output
        assert "nothing to change" in again.output
        store = RunStore.open(url)
        try:
            engine = TriggerInbox(store).engine
            assert deployment(engine) is None  # no front ever started: not in queue mode
            assert hand_to_queue(store, "r-none") is None  # soar approve continues the run itself
            record_mode(engine, "queue", routes=[], queue="runs", max_runs=1)
            assert deployment(engine)["mode"] == "queue"
            record_mode(engine, "single")  # an all-in-one serve started again
            assert deployment(engine)["mode"] == "single"
        finally:
            store.close()


def test_db_upgrade_on_sqlite_upgrades_the_store_and_says_the_queue_needs_postgresql(tmp_path):
    result = CliRunner().invoke(main, ["--store", f"sqlite:///{tmp_path}/soar.db", "db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert "schema version" in result.output and "needs a PostgreSQL store" in result.output
    assert upgrade(f"sqlite:///{tmp_path}/soar.db").queue_schema is None


def test_procrastinate_migrations_are_chosen_by_version_in_order():
    newer = [name for name, _sql in jobs.migrations(after="3.0.0")]
    assert newer and newer == sorted(newer)
    assert all(not name.startswith(("00.", "01.", "02.", "03.00.")) for name in newer)
    assert any(name.startswith("03.04.") for name in newer)
    assert jobs.migrations(after=jobs.library_version()) == []


def test_a_front_and_a_worker_refuse_a_sqlite_store(tmp_path):
    (tmp_path / "pb").mkdir()
    store = f"sqlite:///{tmp_path}/soar.db"
    front = CliRunner().invoke(main, ["--store", store, "serve", str(tmp_path / "pb"), "--role", "front",
                                      "--port", "0"])
    assert front.exit_code == 2
    assert "--role front needs a PostgreSQL run store" in front.output
    worker = CliRunner().invoke(main, ["--store", store, "worker"])
    assert worker.exit_code == 2
    assert "soar worker needs a PostgreSQL run store" in worker.output


@pytest.mark.postgres
def test_a_worker_on_a_database_without_the_queue_says_to_run_db_upgrade():
    with fresh_database() as url:
        result = CliRunner().invoke(main, ["--store", url, "worker"])
        assert result.exit_code == 1
        assert "job queue's tables are not in" in result.output and "soar db upgrade" in result.output


def test_routes_and_worker_timings_are_checked(tmp_path):
    (tmp_path / "pb").mkdir()
    route = CliRunner().invoke(main, ["serve", str(tmp_path / "pb"), "--route", "x=y"])
    assert route.exit_code == 2 and "--route only applies to --role front" in route.output
    bad = CliRunner().invoke(main, ["serve", str(tmp_path / "pb"), "--role", "front", "--route", "nothing"])
    assert bad.exit_code == 2 and "expected PATTERN=QUEUE" in bad.output
    timing = CliRunner().invoke(main, ["worker", "--heartbeat", "5s", "--stalled-after", "6s"])
    assert timing.exit_code == 2 and "more than twice --heartbeat" in timing.output


def test_a_run_keeps_one_lane_and_a_playbook_gets_max_runs_lanes():
    lanes = {jobs.lane("p", f"r-{i}", 3) for i in range(200)}
    assert lanes == {"p#0", "p#1", "p#2"}
    assert jobs.lane("p", "r-7", 3) == jobs.lane("p", "r-7", 3)
    assert {jobs.lane("p", f"r-{i}", 1) for i in range(20)} == {"p#0"}
    assert jobs.conninfo("postgresql+psycopg://u:pw@h:5/db?options=-cx") == "postgresql://u:pw@h:5/db?options=-cx"
