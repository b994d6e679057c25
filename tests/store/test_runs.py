"""RunStore contract: runs (create, get by id or prefix, update, list) and opening stores."""

from __future__ import annotations

import dataclasses
import re
from datetime import timezone

import pytest
from store_helpers import make_run

from runner.errors import RunNotFound, StoreError
from runner.store import RunRecord, RunStore, default_store_url
from runner.store import tables as t


def _aware_utc(value) -> bool:
    return value is not None and value.tzinfo is not None and value.utcoffset().total_seconds() == 0


def test_create_then_get_returns_everything_stored(store):
    run_id = store.create_run(
        playbook_name="triage", playbook_path="playbooks/triage.yaml", playbook_text="name: triage\n",
        inputs={"min_risk": "High", "n": 3, "tags": ["a", "b"]}, trigger={"type": "manual"},
        tenant="contoso", dry_run=True)

    run = store.get_run(run_id)

    assert isinstance(run, RunRecord)
    assert re.fullmatch(r"r-[0-9a-hjkmnp-tv-z]{26}", run_id)
    assert (run.id, run.playbook_name, run.playbook_path, run.tenant) == (
        run_id, "triage", "playbooks/triage.yaml", "contoso")
    assert run.playbook_text == "name: triage\n"
    assert run.inputs == {"min_risk": "High", "n": 3, "tags": ["a", "b"]}
    assert run.trigger == {"type": "manual"}
    assert run.dry_run is True
    assert run.status == "pending"
    assert run.parent_id is None and run.outputs is None and run.error is None
    assert run.started_at is None and run.finished_at is None
    assert _aware_utc(run.created_at) and run.updated_at == run.created_at
    with pytest.raises(dataclasses.FrozenInstanceError):
        run.status = "running"


def test_run_ids_are_unique_and_sort_by_creation(store):
    ids = [make_run(store) for _ in range(30)]
    assert len(set(ids)) == 30
    assert ids == sorted(ids)


def test_get_run_accepts_a_unique_prefix_with_or_without_r_dash(store):
    run_id = make_run(store, run_id="r-abcdef0001")
    make_run(store, run_id="r-abcxyz0002")

    assert store.get_run("r-abcd").id == run_id
    assert store.get_run("abcd").id == run_id
    assert store.get_run("ABCD").id == run_id  # ids are lower case; typing them is not


def test_ambiguous_prefix_names_the_candidates(store):
    make_run(store, run_id="r-abc1")
    make_run(store, run_id="r-abc2")
    with pytest.raises(RunNotFound, match="ambiguous.*r-abc1, r-abc2"):
        store.get_run("r-abc")


def test_prefix_wildcards_are_literal(store):
    make_run(store, run_id="r-abc1")
    with pytest.raises(RunNotFound):
        store.get_run("r-a_c")
    with pytest.raises(RunNotFound):
        store.get_run("%")


def test_unknown_run_raises_run_not_found_with_a_hint(store):
    make_run(store)
    with pytest.raises(RunNotFound) as info:
        store.get_run("r-nothere")
    err = info.value
    assert err.exit_code == 2 and isinstance(err, StoreError)
    assert "r-nothere" in err.message
    assert "soar runs list" in err.hint
    with pytest.raises(RunNotFound):
        store.get_run("")


def test_create_with_own_id_and_duplicate_id(store):
    assert make_run(store, run_id="nightly-1") == "nightly-1"
    with pytest.raises(StoreError, match="already exists"):
        make_run(store, run_id="nightly-1")


def test_create_with_unknown_parent_fails(store):
    with pytest.raises(RunNotFound, match="parent run 'r-ghost'"):
        make_run(store, parent_id="r-ghost")


def test_unknown_status_is_refused(store):
    with pytest.raises(StoreError, match="unknown run status 'done'"):
        make_run(store, status="done")
    run_id = make_run(store)
    with pytest.raises(StoreError, match="unknown run status"):
        store.update_run(run_id, status="finished")


def test_update_run_sets_timestamps_once(store):
    run_id = make_run(store)
    created = store.get_run(run_id)

    store.update_run(run_id, status="running")
    running = store.get_run(run_id)
    assert running.status == "running"
    assert _aware_utc(running.started_at) and running.started_at >= created.created_at
    assert running.finished_at is None and running.updated_at >= created.updated_at

    store.update_run(run_id, status="waiting_approval")
    store.update_run(run_id, status="running")
    assert store.get_run(run_id).started_at == running.started_at  # only the first time

    store.update_run(run_id, status="succeeded", outputs={"isolated": 2})
    done = store.get_run(run_id)
    assert done.status == "succeeded" and done.outputs == {"isolated": 2}
    assert _aware_utc(done.finished_at) and done.finished_at >= done.started_at
    assert done.error is None


def test_update_run_none_leaves_fields_alone(store):
    run_id = make_run(store)
    store.update_run(run_id, status="failed", outputs=[1, 2], error={"message": "boom"})
    store.update_run(run_id)
    run = store.get_run(run_id)
    assert (run.status, run.outputs, run.error) == ("failed", [1, 2], {"message": "boom"})
    assert run.finished_at is not None
    store.update_run(run_id, status="running")  # resumed: no longer finished
    assert store.get_run(run_id).finished_at is None


def test_update_unknown_run_raises(store):
    with pytest.raises(RunNotFound):
        store.update_run("r-ghost", status="running")


def test_list_runs_filters_and_orders_newest_first(store):
    parent = make_run(store, playbook_name="isolate")
    kids = [make_run(store, playbook_name="isolate", parent_id=parent, tenant=n)
            for n in ("contoso", "fabrikam")]
    other = make_run(store, playbook_name="triage")
    store.update_run(other, status="running")
    store.update_run(kids[0], status="succeeded")

    assert [r.id for r in store.list_runs()] == [other, kids[1], kids[0], parent]
    assert [r.id for r in store.list_runs(limit=2)] == [other, kids[1]]
    assert [r.id for r in store.list_runs(status="running")] == [other]
    assert [r.id for r in store.list_runs(playbook="isolate")] == [kids[1], kids[0], parent]
    assert [r.id for r in store.list_runs(parent_id=parent)] == [kids[1], kids[0]]
    assert [r.id for r in store.list_runs(parent_id=None)] == [other, kids[1], kids[0], parent]
    assert [r.id for r in store.list_runs(top_level_only=True)] == [other, parent]
    assert [r.id for r in store.children(parent)] == kids
    assert [r.tenant for r in store.children(parent)] == ["contoso", "fabrikam"]
    assert store.children(other) == []


def test_runs_in_flight_are_pending_or_running_oldest_first(store):
    a, b, c, d = (make_run(store) for _ in range(4))
    store.update_run(a, status="running")
    store.update_run(c, status="succeeded")
    store.update_run(d, status="waiting_approval")
    assert [r.id for r in store.runs_in_flight()] == [a, b]


def test_a_second_store_sees_committed_runs(store, other):
    run_id = make_run(store)
    store.update_run(run_id, status="running")
    assert other.get_run(run_id).status == "running"


def test_schema_version_is_current(store, store_url):
    from sqlalchemy import select

    with store._db.read("test") as conn:
        assert conn.execute(select(t.schema_version.c.version)).scalar_one() == t.SCHEMA_VERSION == 6


def test_newer_schema_version_is_refused(store, store_url):
    from sqlalchemy import update

    with store._db.transaction("test", commit=True) as conn:
        conn.execute(update(t.schema_version).values(version=99))
    with pytest.raises(StoreError, match="schema version 99") as info:
        RunStore.open(store_url)
    assert "upgrade soar-runner" in info.value.hint


def test_closed_store_refuses_work_and_close_is_idempotent(store_url):
    s = RunStore.open(store_url)
    s.close()
    s.close()
    with pytest.raises(StoreError, match="closed"):
        s.list_runs()
    with pytest.raises(StoreError, match="closed"):
        s.step_started("r-any", "a", item=None, attempt=1, action="core.set", effect="read",
                       inputs={}, durable=False)


def test_context_manager_closes(store_url):
    with RunStore.open(store_url) as s:
        run_id = make_run(s)
    with RunStore.open(store_url) as s:
        assert s.get_run(run_id).id == run_id


# ---- URLs (no server needed) ------------------------------------------------------------------


def test_default_store_url_is_a_sqlite_file_under_dot_soar(tmp_path):
    url = default_store_url()
    assert url == f"sqlite:///{tmp_path / '.soar' / 'soar.db'}"
    assert (tmp_path / ".soar").is_dir()
    with RunStore.open() as s:
        assert s.url == url
        make_run(s)
    assert (tmp_path / ".soar" / "soar.db").is_file()


def test_soar_store_env_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("SOAR_STORE", f"sqlite:///{tmp_path}/elsewhere/x.db")
    assert default_store_url() == f"sqlite:///{tmp_path}/elsewhere/x.db"
    with RunStore.open() as s:
        make_run(s)
    assert (tmp_path / "elsewhere" / "x.db").is_file()
    assert not (tmp_path / ".soar").exists()


def test_in_memory_sqlite_works(tmp_path):
    with RunStore.open("sqlite://") as s:
        run_id = make_run(s)
        s.step_started(run_id, "a", item=None, attempt=1, action="core.set", effect="read",
                       inputs={}, durable=True)
        assert len(s.step_records(run_id)) == 1


def test_plain_postgresql_url_means_psycopg_and_password_is_masked():
    from runner.store.connect import normalise_url

    url = normalise_url("postgresql://soar:hunter2@db.example/soar")
    assert url.drivername == "postgresql+psycopg"
    assert normalise_url("postgres://u@h/d").drivername == "postgresql+psycopg"
    assert "hunter2" not in url.render_as_string(hide_password=True)


def test_unreachable_postgres_is_a_store_error_without_the_password():
    with pytest.raises(StoreError) as info:
        RunStore.open("postgresql://soar:hunter2@127.0.0.1:1/soar?connect_timeout=2")
    text = str(info.value)
    assert "hunter2" not in text and "soar:***@127.0.0.1:1/soar" in text
    assert "PostgreSQL is running" in info.value.hint


@pytest.mark.parametrize("url", ["mysql://u@h/d", "not a url"])
def test_unsupported_urls_are_refused(url):
    with pytest.raises(StoreError) as info:
        RunStore.open(url)
    assert "sqlite:///" in info.value.hint


def test_unwritable_sqlite_location_is_a_store_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="cannot create the directory") as info:
        RunStore.open(f"sqlite:///{blocker}/sub/soar.db")
    assert "SOAR_STORE" in info.value.hint


def test_records_times_are_utc(store):
    run = store.get_run(make_run(store))
    assert run.created_at.tzinfo is not None
    assert run.created_at.astimezone(timezone.utc) == run.created_at
