"""scripts/approval_wait.py, with a short wait: a run waiting at an approval gate holds no worker
(every worker's ``soar_runs_in_flight`` and ``/healthz`` ``running`` at 0, no job waiting or
running, sampled while it waits), and the decision has a worker finish it. The script's default
is the issue's 10 minutes (docs/scale-out.md has its result)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.postgres
ROOT = Path(__file__).resolve().parents[2]


def test_a_run_waiting_for_approval_holds_no_worker_slot_while_it_waits():
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "approval_wait.py"), "--wait", "4", "--sample", "1",
                           "--workers", "2", "--json"], capture_output=True, text=True, cwd=ROOT, timeout=180)
    assert done.returncode in (0, 1), done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["samples"] >= 3 and result["wait_seconds"] >= 4
    assert result["max_runs_in_flight_while_waiting"] == 0
    assert result["max_jobs_while_waiting"] == 0
    assert result["first_sample"]["status"] == result["last_sample"]["status"] == "waiting_approval"
    assert result["status_after_decision"] == "succeeded" and result["resumed_by_a_worker"]
    assert result["passed"] and done.returncode == 0
