"""Issue #13, finding 2: `soar runs resume RUN --retry-step STEP` must never send again a write
whose success was recorded. Only items whose outcome is unknown (started, never finished) are
retried, through the action's reconcile hook when it has one.

The target is the engine tests' fake external system (tests/engine/soar_testplugin.py): every
write appends its marker to a ledger file, so the test sees exactly what was sent, how often.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

N = 40

PLAYBOOK = """
name: retry-many
steps:
  - id: prep
    action: core.set
    with: {items: %(items)s}
  - id: write
    action: %(action)s
    foreach: "${{ steps.prep.output.items }}"
    concurrency: 5
    with: {marker: "w-${{ item }}", delay: %(delay)s}
outputs:
  written: "${{ steps.write.output | map(attribute='marker') | list }}"
"""


@pytest.fixture
def env(test_plugin):
    return test_plugin


def _soar(tmp: Path, *args: str):
    from runner.cli import main

    return CliRunner().invoke(main, ["--store", f"sqlite:///{tmp}/soar.db", *args], catch_exceptions=False)


def _ledger(tmp: Path) -> list[str]:
    p = tmp / "ledger.txt"
    return p.read_text().splitlines() if p.exists() else []


def _steps(tmp: Path, run_id: str) -> list[dict]:
    r = _soar(tmp, "runs", "show", run_id, "--json")
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)["steps"]


def _crash_midway(tmp: Path, action: str, sent: int) -> str:
    """Start the run in a subprocess, kill -9 it once ``sent`` writes reached the target and
    some others are in flight; return the run id."""
    items = json.dumps([f"{i:02d}" for i in range(N)])
    pb = tmp / "retry.yaml"
    pb.write_text(PLAYBOOK % {"items": items, "action": action, "delay": 0.15})
    proc = subprocess.Popen([sys.executable, "-m", "runner.cli", "--store", f"sqlite:///{tmp}/soar.db",
                             "run", str(pb), "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 60
    while len(_ledger(tmp)) < sent:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the run did not make progress"
        time.sleep(0.005)
    time.sleep(0.05)  # let the next items start (recorded "running", in flight)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    runs = json.loads(_soar(tmp, "runs", "list", "--json").stdout)
    assert runs[0]["status"] == "running"
    return runs[0]["run_id"]


def test_retry_step_never_resends_a_recorded_success_reconcilable(env):
    run_id = _crash_midway(env, "test.record", sent=15)
    before = Counter(_ledger(env))
    r = _soar(env, "runs", "resume", run_id, "--retry-step", "write", "--json")
    assert r.exit_code == 0, r.output
    sent = Counter(_ledger(env))
    assert sorted(sent) == [f"w-{i:02d}" for i in range(N)], "a write was lost"
    dupes = {m: n for m, n in sent.items() if n > 1}
    assert not dupes, f"--retry-step sent {sum(sent.values())} writes for {N} items; resent: {sorted(dupes)}"
    assert all(n == 1 for n in before.values())
    doc = json.loads(r.stdout)
    assert doc["outputs"]["written"] == [f"w-{i:02d}" for i in range(N)]


def test_retry_step_without_reconcile_resends_only_unknown_items(env):
    # test.record_blind has no reconcile hook: its "finished" row is committed before it goes on,
    # so every recorded success is exact. --retry-step may send the unknown items again (the
    # operator checked them by hand), never one recorded as succeeded.
    run_id = _crash_midway(env, "test.record_blind", sent=15)
    steps = _steps(env, run_id)
    done = {s["item"] for s in steps if s["step_id"] == "write" and s["status"] == "succeeded"}
    assert done, "nothing was recorded as succeeded before the kill"
    plain = _soar(env, "runs", "resume", run_id)
    running = {s["item"] for s in _steps(env, run_id) if s["step_id"] == "write" and s["status"] == "running"}
    if running:  # without --retry-step an unknown blind write is not sent again
        assert plain.exit_code == 1 and "--retry-step write" in plain.output
    r = _soar(env, "runs", "resume", run_id, "--retry-step", "write", "--json")
    assert r.exit_code == 0, r.output
    sent = Counter(_ledger(env))
    assert sorted(sent) == [f"w-{i:02d}" for i in range(N)], "a write was lost"
    resent_done = sorted(m for m, n in sent.items() if n > 1 and int(m[2:]) in done)
    assert not resent_done, f"writes recorded as succeeded were sent again: {resent_done}"


def test_retry_step_of_a_single_succeeded_write_is_not_resent(env):
    pb = env / "one.yaml"
    pb.write_text("""
name: one
steps:
  - id: write
    action: test.record_blind
    with: {marker: once}
  - id: boom
    action: core.fail
""")
    r = _soar(env, "run", str(pb), "--json")
    assert r.exit_code == 1
    run_id = json.loads(r.stdout)["run_id"]
    r = _soar(env, "runs", "resume", run_id, "--retry-step", "write")
    assert _ledger(env) == ["once"], "a write recorded as succeeded was sent again"
