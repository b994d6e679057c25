"""Three real processes drawing on one tenant's shared budget (quotashare_hammer.py): together
they never exceed it, they reach ≥ 90 % of it, no call fails, and a pause one of them sets (a
429's Retry-After) holds the others. The budget is Defender's 100 calls per minute, with the
minute scaled down (``time_scale``, as ``quota_limits`` takes it)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from quotashare_helpers import achieved_share, most_in_any_window

pytestmark = pytest.mark.postgres

HAMMER = Path(__file__).with_name("quotashare_hammer.py")
ROOT = Path(__file__).resolve().parents[2]


def hammer_together(args_per_process: list[list[str]], timeout: float = 60.0) -> list[dict]:
    """Start one hammer per argument list, let them all go at once, return their results."""
    procs = [subprocess.Popen([sys.executable, str(HAMMER), *map(str, args)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
             for args in args_per_process]
    try:
        for p in procs:
            line = p.stdout.readline()
            assert line.strip() == "ready", f"a hammer did not start: {line!r} {p.stderr.read()}"
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        results = []
        for p in procs:
            out, err = p.communicate(timeout=timeout)
            assert p.returncode == 0, f"a hammer failed (exit {p.returncode}):\n{err}"
            results.append(json.loads(out.strip().splitlines()[-1]))
        return results
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def test_three_processes_stay_within_100_a_minute_and_reach_90_percent_of_it(pg_url):
    scale = 0.025                       # a minute lasts 1.5 s
    window, limit, per_process = 60 * scale, 100, 134   # 402 calls: 4 windows' worth
    results = hammer_together([[pg_url, "contoso", limit, scale, per_process, 30, 0.005] for _ in range(3)])
    times = [t for r in results for t in r["times"]]
    assert [len(r["times"]) for r in results] == [per_process] * 3           # no call failed or got lost
    assert most_in_any_window(times, window) <= limit                        # never above the budget
    share = achieved_share(times, limit, window)
    assert share >= 0.90, f"achieved {share:.1%} of the budget"
    assert all(len(r["times"]) > 0 for r in results)


def test_a_pause_one_process_sets_holds_the_others(pg_url):
    pause_s = 1.0
    results = hammer_together(
        [[pg_url, "fabrikam", 100_000, 1.0, 120, 4, 0.02, 20, pause_s]]
        + [[pg_url, "fabrikam", 100_000, 1.0, 120, 4, 0.02] for _ in range(2)])
    called, written = results[0]["pause"]
    others = [t for r in results[1:] for t in r["times"]]
    during = [t for r in results for t in r["times"] if written + 0.05 < t < called + pause_s - 0.02]
    assert during == []                                           # nobody called while it lasted
    assert sum(1 for t in others if t >= called + pause_s - 0.02) > 0   # the others were still hammering
    assert sum(1 for t in others if t < called) > 0                     # ... and had been before
    assert [len(r["times"]) for r in results] == [120] * 3
