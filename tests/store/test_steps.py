"""RunStore contract: step attempts — buffering, merging, durability, crash safety, threads."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
import threading
from datetime import datetime, timezone
from pathlib import Path

import pytest
from store_helpers import make_run

from runner.errors import RunNotFound, StoreError
from runner.store import StepRecord

REPO = Path(__file__).resolve().parents[2]


def start(store, run_id, step, *, item=None, attempt=1, durable=False, effect="read", inputs=None):
    store.step_started(run_id, step, item=item, attempt=attempt, action="core.set", effect=effect,
                       inputs=inputs if inputs is not None else {"step": step}, durable=durable)


def finish(store, run_id, step, *, item=None, attempt=1, durable=False, status="succeeded",
           output=None, error=None):
    store.step_finished(run_id, step, item=item, attempt=attempt, status=status,
                        output=output if output is not None else {"done": step}, error=error,
                        durable=durable)


def keys(records):
    return [(r.step_id, r.item, r.attempt, r.status) for r in records]


def test_non_durable_rows_are_visible_before_flush_and_persisted_after(store, other):
    run_id = make_run(store)
    start(store, run_id, "incidents")
    finish(store, run_id, "incidents", output=[{"id": 1}])
    start(store, run_id, "devices", item=0)

    mine = store.step_records(run_id)
    assert keys(mine) == [("incidents", None, 1, "succeeded"), ("devices", 0, 1, "running")]
    assert all(isinstance(r, StepRecord) for r in mine)
    assert mine[0].output == [{"id": 1}] and mine[0].inputs == {"step": "incidents"}
    assert mine[0].started_at.tzinfo is not None and mine[0].finished_at >= mine[0].started_at
    assert other.step_records(run_id) == []  # nothing committed yet

    store.flush()
    assert other.step_records(run_id) == mine
    assert store.step_records(run_id) == mine


def test_started_and_finished_in_the_buffer_make_one_row(store, other):
    run_id = make_run(store)
    start(store, run_id, "a")
    finish(store, run_id, "a", output={"n": 1})
    store.flush()

    with other._db.read("test") as conn:
        rows = conn.exec_driver_sql("SELECT step_id, status FROM steps").all()
    assert [tuple(r) for r in rows] == [("a", "succeeded")]
    assert len(store._buffer) == 0


def test_finish_after_its_start_was_flushed_updates_the_row(store, other):
    run_id = make_run(store)
    start(store, run_id, "a")
    store.flush()
    finish(store, run_id, "a", status="failed", output=None, error={"message": "boom"})

    merged = store.step_records(run_id)  # buffered finish over the stored start
    assert keys(merged) == [("a", None, 1, "failed")]
    assert merged[0].inputs == {"step": "a"} and merged[0].action == "core.set"
    assert merged[0].error == {"message": "boom"}
    assert keys(other.step_records(run_id)) == [("a", None, 1, "running")]

    store.flush()
    assert other.step_records(run_id) == merged


def test_durable_write_flushes_the_buffer_first_in_order(store, other):
    run_id = make_run(store)
    start(store, run_id, "read1")
    finish(store, run_id, "read1")
    start(store, run_id, "read2")
    start(store, run_id, "isolate", effect="destructive", durable=True)

    # committed: everything before the durable row, then the durable row
    assert keys(other.step_records(run_id)) == [
        ("read1", None, 1, "succeeded"), ("read2", None, 1, "running"), ("isolate", None, 1, "running")]

    finish(store, run_id, "isolate", durable=True)
    assert keys(other.step_records(run_id))[-1] == ("isolate", None, 1, "succeeded")


def test_each_attempt_and_item_is_its_own_row(store):
    run_id = make_run(store)
    for attempt in (1, 2):
        start(store, run_id, "call", attempt=attempt)
        finish(store, run_id, "call", attempt=attempt, status="failed" if attempt == 1 else "succeeded")
    for item in (0, 1, 2):
        start(store, run_id, "each", item=item)
        finish(store, run_id, "each", item=item)
    store.flush()
    assert keys(store.step_records(run_id)) == [
        ("call", None, 1, "failed"), ("call", None, 2, "succeeded"),
        ("each", 0, 1, "succeeded"), ("each", 1, 1, "succeeded"), ("each", 2, 1, "succeeded")]


def test_starting_the_same_attempt_again_replaces_it(store):
    run_id = make_run(store)
    start(store, run_id, "a", inputs={"v": 1}, durable=True)
    finish(store, run_id, "a", durable=True)
    start(store, run_id, "a", inputs={"v": 2})  # resumed after a crash: same attempt again
    store.flush()
    [record] = store.step_records(run_id)
    assert (record.status, record.inputs, record.output, record.finished_at) == (
        "running", {"v": 2}, None, None)


def test_buffer_is_written_when_it_reaches_the_limit(store, other):
    store.buffer_limit = 10
    run_id = make_run(store)
    for i in range(12):
        start(store, run_id, "each", item=i)
    assert len(other.step_records(run_id)) == 10
    assert len(store._buffer) == 2


def test_close_writes_the_buffer(store_url):
    from runner.store import RunStore

    s = RunStore.open(store_url)
    run_id = make_run(s)
    start(s, run_id, "a")
    finish(s, run_id, "a")
    s.close()
    with pytest.raises(StoreError, match="closed"):  # nothing is buffered after close
        finish(s, run_id, "a")
    with RunStore.open(store_url) as again:
        assert keys(again.step_records(run_id)) == [("a", None, 1, "succeeded")]


def test_records_of_other_runs_are_not_mixed_in(store):
    a, b = make_run(store), make_run(store)
    start(store, a, "x")
    start(store, b, "y")
    assert keys(store.step_records(a)) == [("x", None, 1, "running")]
    store.flush()
    assert keys(store.step_records(b)) == [("y", None, 1, "running")]


def test_rows_for_an_unknown_run_are_refused_at_the_call(store):
    with pytest.raises(RunNotFound):
        start(store, "r-ghost", "a")
    with pytest.raises(RunNotFound):
        finish(store, "r-ghost", "a")
    run_id = make_run(store)
    start(store, run_id, "a", durable=True)  # the refused rows did not poison the buffer


def test_unknown_step_status_and_effect_are_refused(store):
    run_id = make_run(store)
    with pytest.raises(StoreError, match="unknown effect 'delete'"):
        start(store, run_id, "a", effect="delete")
    with pytest.raises(StoreError, match="unknown step status 'ok'"):
        finish(store, run_id, "a", status="ok")


def test_values_json_cannot_hold_are_stored_readably(store):
    run_id = make_run(store)
    when = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
    start(store, run_id, "a", inputs={"when": when, "ids": {3}, "raw": b"abc"})
    finish(store, run_id, "a", output={"score": math.nan, "inf": [math.inf], "ok": 1.5})
    store.flush()
    [record] = store.step_records(run_id)
    assert record.inputs == {"when": "2024-05-01T12:00:00+00:00", "ids": [3], "raw": "abc"}
    assert record.output == {"score": None, "inf": [None], "ok": 1.5}


def test_a_circular_value_is_a_store_error(store):
    run_id = make_run(store)
    loop: list = []
    loop.append(loop)
    with pytest.raises(StoreError, match="cannot store a value as JSON"):
        start(store, run_id, "a", inputs={"loop": loop})


def test_threads_share_one_store(store, other):
    run_id = make_run(store)
    errors = []

    def worker(n):
        try:
            for i in range(50):
                start(store, run_id, f"t{n}", item=i, durable=(i % 10 == 0), effect="write")
                finish(store, run_id, f"t{n}", item=i)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    store.flush()
    records = other.step_records(run_id)
    assert len(records) == 200 and {r.status for r in records} == {"succeeded"}


CRASHING_ENGINE = textwrap.dedent("""
    import os, sys
    from runner.store import RunStore

    store = RunStore.open(sys.argv[1])
    run_id = store.create_run(playbook_name="p", playbook_path=None, playbook_text="name: p",
                              inputs={}, status="running")
    print(run_id, flush=True)
    def pair(step, durable, effect="read"):
        store.step_started(run_id, step, item=None, attempt=1, action="core.set", effect=effect,
                           inputs={}, durable=durable)
        store.step_finished(run_id, step, item=None, attempt=1, status="succeeded", output={},
                            durable=durable)
    pair("read-before", durable=False)
    pair("isolate", durable=True, effect="destructive")
    store.step_started(run_id, "isolate-2", item=None, attempt=1, action="defender.isolate",
                       effect="destructive", inputs={}, durable=True)
    pair("read-after", durable=False)
    store.audit(run_id, "lost", data={})
    os._exit(9)  # a crash: no close(), no flush, no atexit
""")


def test_durable_rows_survive_a_crash_and_buffered_ones_after_them_do_not(store_url):
    from runner.store import RunStore

    proc = subprocess.run([sys.executable, "-c", CRASHING_ENGINE, store_url], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 9, proc.stderr
    run_id = proc.stdout.strip()

    with RunStore.open(store_url) as resumed:
        assert [r.id for r in resumed.runs_in_flight()] == [run_id]
        assert keys(resumed.step_records(run_id)) == [
            ("read-before", None, 1, "succeeded"),   # flushed with the durable write
            ("isolate", None, 1, "succeeded"),
            ("isolate-2", None, 1, "running"),        # started durably: outcome unknown, reconcile
        ]                                             # read-after was only buffered: re-run it
        assert resumed.events(run_id) == []


def test_output_redacted_only_when_something_was_masked(store):
    from runner.secrets import Secret

    run_id = make_run(store)
    outputs = {"plain": {"ids": (1, 2)}, "secret": {"token": Secret("tok-PLAIN-0001")},
               "known": ["text with tok-PLAIN-0001 inside"], "none": None}
    for step, output in outputs.items():
        start(store, run_id, step)
        store.step_finished(run_id, step, item=None, attempt=1, status="succeeded", output=output,
                            durable=False)
    flags = {r.step_id: (r.output_redacted, r.output) for r in store.step_records(run_id)}
    assert flags == {
        "plain": (False, {"ids": [1, 2]}),
        "secret": (True, {"token": "***"}),
        "known": (True, ["text with *** inside"]),
        "none": (False, None),
    }


def test_a_row_the_database_refuses_does_not_block_later_writes(store, other):
    run_id = make_run(store)
    start(store, run_id, "good")
    store.step_started(run_id, "bad", item=None, attempt=1, action=None, effect="read",
                       inputs={}, durable=False)  # NOT NULL: refused when written
    with pytest.raises(StoreError, match="2 buffered row.s. were refused and dropped"):
        store.flush()
    start(store, run_id, "after", durable=True)
    assert keys(other.step_records(run_id)) == [("after", None, 1, "running")]


def test_nul_characters_are_stored_the_same_everywhere(store):
    run_id = make_run(store)
    start(store, run_id, "a", inputs={"raw": "a\x00b"}, durable=True)
    [record] = store.step_records(run_id)
    assert record.inputs == {"raw": "a\ufffdb"}
