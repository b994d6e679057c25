"""RunStore contract: the API calls of a step attempt (schema version 6) are kept with its row —
buffered or committed, a finish whose start is already in the database, a restarted attempt —
masked like every JSON value, and a version 5 store gains the column when it is opened."""

from __future__ import annotations

import sqlite3

from sqlalchemy import create_engine, inspect, select, text
from store_helpers import make_run

from runner.apis.calllog import MAX_CALLS, ApiCall, CallLog
from runner.secrets import register_value
from runner.store import RunStore
from runner.store import tables as t
from runner.store.connect import normalise_url


def _log(n: int, path: str = "/api/machines/m1/isolate") -> CallLog:
    log = CallLog()
    for i in range(n):
        log.add(ApiCall("mde", "contoso", "POST", path, 201 if i else 429 if n > 1 else 201, 12.5,
                        throttled=1 if i == 0 and n > 1 else 0, waited_s=0.25 if i == 0 and n > 1 else 0.0))
    return log


def _finish(store, run_id, step, calls, *, item=None, durable=False, attempt=1):
    store.step_finished(run_id, step, item=item, attempt=attempt, status="succeeded", output={"ok": True},
                        durable=durable, calls=calls)


def _start(store, run_id, step, *, item=None, durable=False, attempt=1):
    store.step_started(run_id, step, item=item, attempt=attempt, action="defender.isolate_machine",
                       effect="write", inputs={"machine_id": "m1"}, durable=durable)


def test_calls_are_kept_with_the_attempt_buffered_and_committed(store, other):
    run_id = make_run(store)
    _start(store, run_id, "isolate")
    _finish(store, run_id, "isolate", _log(2).doc())
    _start(store, run_id, "quiet")
    _finish(store, run_id, "quiet", CallLog().doc())
    mine = {r.step_id: r for r in store.step_records(run_id)}
    assert mine["quiet"].calls is None  # no call, nothing stored
    calls = mine["isolate"].calls
    assert calls["total"] == 2 and len(calls["calls"]) == 2
    first = calls["calls"][0]
    assert first == {"api": "mde", "tenant": "contoso", "method": "POST", "path": "/api/machines/m1/isolate",
                     "status": 429, "ms": 12.5, "throttled": 1, "waited_s": 0.25}
    store.flush()
    assert other.step_records(run_id) == store.step_records(run_id)


def test_a_finish_whose_start_is_committed_keeps_its_calls(store, other):
    run_id = make_run(store)
    _start(store, run_id, "isolate", item=3, durable=True)  # "about to send" is in the database
    _finish(store, run_id, "isolate", _log(1).doc(), item=3, durable=True)
    [row] = other.step_records(run_id)
    assert row.item == 3 and row.action == "defender.isolate_machine" and row.calls["total"] == 1
    # the next attempt of the same item starts without the calls of the one before
    _start(store, run_id, "isolate", item=3, attempt=2, durable=True)
    rows = other.step_records(run_id)
    assert [r.calls is None for r in rows] == [False, True]


def test_many_calls_keep_the_first_ones_and_the_total(store):
    run_id = make_run(store)
    log = _log(MAX_CALLS + 57)
    _start(store, run_id, "fanout")
    _finish(store, run_id, "fanout", log.doc(), durable=True)
    [row] = store.step_records(run_id)
    assert row.calls["total"] == MAX_CALLS + 57 and len(row.calls["calls"]) == MAX_CALLS


def test_a_known_secret_in_a_path_is_masked(store):
    secret = "calls-canary-5be1f0"
    register_value(secret)
    run_id = make_run(store)
    _start(store, run_id, "lookup")
    _finish(store, run_id, "lookup", _log(1, path=f"/api/things/{secret}").doc(), durable=True)
    [row] = store.step_records(run_id)
    assert secret not in str(row.calls) and row.calls["calls"][0]["path"] == "/api/things/***"


def test_a_version_5_store_gains_the_calls_column(backend):
    name, url, details = backend
    store = RunStore.open(url)
    run_id = make_run(store)
    _start(store, run_id, "old")
    store.step_finished(run_id, "old", item=None, attempt=1, status="succeeded", output=1, durable=True)
    store.close()
    if name == "sqlite":  # as version 5 left it
        with sqlite3.connect(details["dir"] / "soar.db") as conn:
            conn.execute("ALTER TABLE steps DROP COLUMN calls")
            conn.execute("UPDATE schema_version SET version = 5")
    else:
        engine = create_engine(normalise_url(url))
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE steps DROP COLUMN calls"))
            conn.execute(text("UPDATE schema_version SET version = 5"))
        engine.dispose()
    store = RunStore.open(url)
    try:
        [old] = store.step_records(run_id)
        assert old.calls is None and old.output == 1
        _start(store, run_id, "new")
        _finish(store, run_id, "new", _log(1).doc(), durable=True)
        assert store.step_records(run_id)[1].calls["total"] == 1
    finally:
        store.close()
    engine = create_engine(normalise_url(url))
    try:
        with engine.connect() as conn:
            assert "calls" in {c["name"] for c in inspect(conn).get_columns("steps")}
            assert conn.execute(select(t.schema_version.c.version)).scalar_one() == t.SCHEMA_VERSION == 6
    finally:
        engine.dispose()
