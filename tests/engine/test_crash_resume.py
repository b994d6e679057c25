"""kill -9 during a run, then `soar runs resume`: completed steps are not repeated, a write that
was started but not recorded is reconciled by its action, never blindly sent again."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

PLAYBOOK = """
name: crashy
steps:
  - id: prep
    action: core.set
    with: {items: [a, b, c, d, e, f]}
  - id: write
    action: test.record
    foreach: "${{ steps.prep.output.items }}"
    with: {marker: "w-${{ item }}", delay: %(delay)s}
  - id: last
    action: test.record
    with: {marker: last}
outputs:
  written: "${{ steps.write.output | map(attribute='marker') | list }}"
"""


def _wait_for_lines(soar, n: int, proc, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while len(soar.ledger()) < n:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the run did not make progress"
        time.sleep(0.01)


@pytest.mark.parametrize("kill_after, extra_wait", [(1, 0.0), (2, 0.05), (3, 0.12), (4, 0.18)])
def test_kill_9_then_resume_sends_every_write_exactly_once(soar, kill_after, extra_wait):
    pb = soar.write("crashy.yaml", PLAYBOOK % {"delay": 0.2})
    proc = soar.subprocess("run", str(pb), "--json", env={**os.environ})
    _wait_for_lines(soar, kill_after, proc)
    time.sleep(extra_wait)  # land the kill at different moments of an item's life
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    runs = soar.json("runs", "list")
    assert runs[0]["status"] == "running"  # the crash left it in flight
    run_id = runs[0]["run_id"]
    doc = soar.json("runs", "resume", run_id)
    assert doc["status"] == "succeeded", doc
    ledger = soar.ledger()
    expected = [f"w-{x}" for x in "abcdef"] + ["last"]
    assert sorted(ledger) == sorted(expected), f"duplicates or losses: {ledger}"
    assert doc["outputs"]["written"] == [f"w-{x}" for x in "abcdef"]
    show = soar.json("runs", "show", run_id)
    assert any(e["kind"] == "run_resumed" for e in show["events"])


def test_blind_write_is_not_repeated_without_an_operator(soar):
    pb = soar.write("blind.yaml", """
name: blind
steps:
  - id: write
    action: test.record_blind
    with: {marker: once, delay: 5}
""")
    proc = soar.subprocess("run", str(pb), "--json")
    deadline = time.monotonic() + 30
    while True:  # wait until the step's start is durably recorded
        time.sleep(0.05)
        show = soar("runs", "list", "--json")
        rows = json.loads(show.stdout) if show.exit_code == 0 else []
        if rows:
            steps = soar.json("runs", "show", rows[0]["run_id"])["steps"]
            if steps:
                break
        assert time.monotonic() < deadline
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    run_id = rows[0]["run_id"]
    r = soar("runs", "resume", run_id)
    assert r.exit_code == 1
    assert "outcome was never recorded" in r.output and f"--retry-step write" in r.output
    assert soar.ledger() == []  # not sent again blindly
    pb.write_text(pb.read_text().replace("delay: 5", "delay: 0"))
    r = soar("runs", "resume", run_id, "--retry-step", "write")
    assert r.exit_code == 0, r.output
    assert soar.ledger() == ["once"]


def test_a_reconcilable_write_whose_finish_was_never_committed_is_reconciled_not_resent(soar, tmp_path):
    # test.record has a reconcile hook, so its "finished" row is not waited for: it is committed
    # with the next commit. The read step after it commits nothing and kills the process, so the
    # finish is lost; resume must find the write by asking the target, not send it again.
    pb = soar.write("lost-finish.yaml", f"""
name: lost-finish
steps:
  - id: write
    action: test.record
    with: {{marker: only-once}}
  - id: crash
    action: test.die_once
    with: {{flag: "{tmp_path / 'died.flag'}"}}
outputs:
  reconciled: "${{{{ steps.write.output.reconciled | default(false) }}}}"
""")
    proc = soar.subprocess("run", str(pb), "--json", env={**os.environ})
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 137, (out, err)
    runs = soar.json("runs", "list")
    assert runs[0]["status"] == "running"
    run_id = runs[0]["run_id"]
    steps = soar.json("runs", "show", run_id)["steps"]
    assert [(s["step_id"], s["status"]) for s in steps] == [("write", "running")]  # the finish was lost
    doc = soar.json("runs", "resume", run_id)
    assert doc["status"] == "succeeded", doc
    assert soar.ledger() == ["only-once"]  # sent once, before the crash
    assert doc["outputs"]["reconciled"] is True  # resume asked the target
