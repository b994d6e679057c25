"""The console with 100,000 runs in a SQLite store, against a bare SELECT of the same rows.

    python benchmarks/console.py [--quick] [--json | --markdown]

A store is filled with 100,000 top-level runs (every tenth on two tenants, with its tenant runs),
three step attempts and two audit events per run, then ``soar serve`` (no playbooks, no sign-in)
is started on it as a child process and asked, over HTTP on loopback, one request at a time:

  (a) the runs page (``GET /runs``, HTML): the first page, filtered pages (status, playbook,
      tenant) and pages deep in the history (a cursor at a random run): 50 rows each;
  (b) the run-detail API (``GET /api/v1/runs/{id}``) of random runs (a tenth with tenant runs).

Reference, in the same run: (a) the page's own SELECT of its rows, and (b) the SELECTs of the
same rows (the run, its tenant runs, their steps, events and approvals), through sqlite3 in this
process on the same file. Target (issue #19): p95 ≤ 100 ms each. The HTTP request itself (the
client, loopback, uvicorn) is part of ours and not of the reference.
"""

from __future__ import annotations

import json
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import Row, bench_main, child_env, seconds, venv_bin  # noqa: E402

TARGET = 0.100  # seconds, p95 of each measure
UTC = timezone.utc


def fill(url: str, n: int, seed: int = 19) -> list[tuple[str, datetime, bool]]:
    """``n`` top-level runs with their steps and events; returns (id, created, has tenants)."""
    from runner.store import RunStore
    from runner.store import tables as t
    from runner.store.records import new_run_id, to_json

    rnd = random.Random(seed)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    store = RunStore.open(url)
    tops: list[tuple[str, datetime, bool]] = []
    runs, steps, events = [], [], []
    for i in range(n):
        created = base + timedelta(seconds=i * 30 + rnd.random())
        run_id = new_run_id()
        status = rnd.choices(["succeeded", "failed", "waiting_approval", "cancelled"], [90, 7, 1, 2])[0]
        multi = i % 10 == 0
        row = dict(id=run_id, parent_id=None, playbook_name=f"playbook-{i % 20}", playbook_path=None,
                   playbook_text="name: bench\nsteps: []\n", tenant=None if multi else f"tenant-{i % 7}",
                   inputs=to_json({"incident": i, "severity": "high"}),
                   trigger=to_json({"type": rnd.choice(["webhook", "schedule", "poll", "manual"]), "payload": {"n": i}}),
                   dry_run=False, status=status, outputs=to_json({"isolated": [f"m-{i}"]}), error=None,
                   created_at=created, started_at=created, finished_at=created + timedelta(seconds=2),
                   updated_at=created)
        runs.append(row)
        owners = [run_id]
        if multi:
            for k in range(2):
                child = new_run_id()
                runs.append({**row, "id": child, "parent_id": run_id, "tenant": f"tenant-{(i + k) % 7}"})
                owners.append(child)
        for owner in owners[1:] or owners:
            for s in range(3):
                steps.append(dict(run_id=owner, step_id=f"step-{s}", item=-1, attempt=1, action="core.set",
                                  effect="read", status="succeeded", inputs=to_json({"machine": f"m-{i}", "s": s}),
                                  output=to_json({"ok": True, "s": s}), output_redacted=False, error=None,
                                  started_at=created, finished_at=created + timedelta(milliseconds=40)))
            for kind in ("run_started", "run_succeeded"):
                events.append(dict(run_id=owner, ts=created, kind=kind, step_id=None, data=None, actor=None))
        tops.append((run_id, created, multi))

    def work(conn):
        conn.execute(t.runs.insert(), runs)
        conn.execute(t.steps.insert(), steps)
        conn.execute(t.events.insert(), events)

    store._db.commit(work, doing="fill the benchmark store")
    store.close()
    return tops


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _serve(store_url: str, playbooks: Path):
    proc = subprocess.Popen([str(venv_bin("soar")), "--store", store_url, "serve", str(playbooks), "--port", "0",
                             "--watch-interval", "off"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, env=child_env())
    line = proc.stdout.readline()
    if not line.startswith("{"):
        proc.kill()
        raise RuntimeError("soar serve did not start")
    return proc, json.loads(line)["url"]


def _page_queries(tops: list, rnd: random.Random, count: int) -> list[dict]:
    from runner.console.runlist import encode_cursor

    shapes = [{}, {"status": "failed"}, {"playbook": "playbook-3"}, {"tenant": "tenant-2"}, "deep"]
    out = []
    for i in range(count):
        shape = shapes[i % len(shapes)]
        if shape == "deep":
            run_id, created, _multi = rnd.choice(tops)
            shape = {"after": encode_cursor(created, run_id)}
        out.append(shape)
    return out


def _reference_page(conn: sqlite3.Connection, params: dict) -> float:
    from sqlalchemy.dialects import sqlite

    from runner.console.runlist import decode_cursor, page_query, parse_filter

    after = decode_cursor(params["after"]) if "after" in params else None
    sql = page_query(parse_filter(params), after, 50).compile(dialect=sqlite.dialect(),
                                                              compile_kwargs={"literal_binds": True})
    text = str(sql)
    t0 = time.perf_counter()
    rows = conn.execute(text).fetchall()
    elapsed = time.perf_counter() - t0
    assert rows
    return elapsed


def _reference_detail(conn: sqlite3.Connection, run_id: str) -> float:
    t0 = time.perf_counter()
    run = conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchall()
    children = conn.execute("SELECT * FROM runs WHERE parent_id = ? ORDER BY created_at, id", (run_id,)).fetchall()
    family = [run_id, *(c[0] for c in children)]
    marks = ",".join("?" * len(family))
    conn.execute(f"SELECT * FROM steps WHERE run_id IN ({marks}) ORDER BY seq", family).fetchall()
    conn.execute(f"SELECT * FROM events WHERE run_id IN ({marks}) ORDER BY id", family).fetchall()
    conn.execute(f"SELECT * FROM approvals WHERE run_id IN ({marks})", family).fetchall()
    elapsed = time.perf_counter() - t0
    assert run
    return elapsed


def rows(quick: bool) -> list[Row]:
    import httpx

    n_runs, n_requests = (3_000, 25) if quick else (100_000, 400)
    rnd = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "console.db"
        url = f"sqlite:///{path}"
        tops = fill(url, n_runs)
        (Path(tmp) / "pb").mkdir()
        proc, base = _serve(url, Path(tmp) / "pb")
        try:
            pages = _page_queries(tops, rnd, n_requests)
            details = [rnd.choice(tops)[0] for _ in range(n_requests)]
            ours_page, ours_detail = [], []
            with httpx.Client(base_url=base, timeout=30) as http:
                for params in pages[:5]:  # warm-up: imports, templates, the page cache of SQLite
                    http.get("/runs", params=params).raise_for_status()
                for params in pages:
                    t0 = time.perf_counter()
                    r = http.get("/runs", params=params)
                    ours_page.append(time.perf_counter() - t0)
                    assert r.status_code == 200 and "<table" in r.text, r.status_code
                for run_id in details:
                    t0 = time.perf_counter()
                    r = http.get(f"/api/v1/runs/{run_id}")
                    ours_detail.append(time.perf_counter() - t0)
                    assert r.status_code == 200 and r.json()["run"]["run_id"] == run_id
        finally:
            proc.terminate()
            proc.wait(20)
        with sqlite3.connect(path) as conn:
            for params in pages[:5]:
                _reference_page(conn, params)
            ref_page = [_reference_page(conn, params) for params in pages]
            ref_detail = [_reference_detail(conn, run_id) for run_id in details]
    out = []
    for name, ours, ref, what in (
            ("console: runs page (GET /runs, 50 rows, HTML)", ours_page, ref_page, "the page's SELECT of its rows"),
            ("console: run detail (GET /api/v1/runs/{id})", ours_detail, ref_detail,
             "SELECTs of the run, tenant runs, steps, events, approvals")):
        p95, ref95 = _p(ours, 0.95), _p(ref, 0.95)
        out.append(Row(measure=f"{name} with {n_runs:,} runs, p95", ours=seconds(p95),
                       reference=f"{what}: p95 {seconds(ref95)}", ratio=p95 / ref95 if ref95 else None,
                       target=f"ours p95 ≤ {seconds(TARGET)}", met=p95 <= TARGET,
                       noise=f"ours p50 {seconds(statistics.median(ours))}, p99 {seconds(_p(ours, 0.99))}; "
                             f"ref p50 {seconds(statistics.median(ref))} (n={len(ours)})"))
    return out


if __name__ == "__main__":
    sys.exit(bench_main(rows, __doc__))
