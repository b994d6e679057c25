"""Processes opening a new (rollback-journal) SQLite store at once: switching it to WAL takes a
lock SQLite does not wait for, so without a retry one of them got "database is locked" at once."""

from __future__ import annotations

import sqlite3
import threading

from sqlalchemy import text

from runner.store.connect import create_store_engine

OPENERS = 4
ROUNDS = 120


def _open_at_once(path) -> list[BaseException]:
    url = f"sqlite:///{path}"
    errors: list[BaseException] = []
    start = threading.Barrier(OPENERS)

    def open_it() -> None:
        engine, _ = create_store_engine(url)
        try:
            start.wait()
            with engine.begin() as conn:
                conn.execute(text("INSERT INTO t VALUES (1)"))
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=open_it) for _ in range(OPENERS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return errors


def test_connections_opening_a_rollback_journal_store_at_once_all_switch_it_to_wal(tmp_path):
    failures = []
    for i in range(ROUNDS):
        path = tmp_path / f"{i}.db"
        with sqlite3.connect(path) as conn:  # rollback journal, as an older tool leaves it
            conn.execute("CREATE TABLE t (x)")
        conn.close()
        errors = _open_at_once(path)
        failures += [f"round {i}: {exc}" for exc in errors]
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert conn.execute("SELECT count(*) FROM t").fetchone()[0] == OPENERS - len(errors)
        conn.close()
    assert failures == []
