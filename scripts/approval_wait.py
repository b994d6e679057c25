"""An approval that waits a long time holds no worker: one front and ``--workers`` ``soar worker``
processes on a fresh PostgreSQL database; a run stops at an approval gate and waits ``--wait``
seconds (10 minutes by default) while this script reads, every ``--sample`` seconds, each
worker's ``soar_runs_in_flight`` (``/metrics``) and ``running`` (``/healthz``) and the queue's jobs
(``soar queue status --json``: waiting and running); then it approves over ``POST /approvals`` and
measures how long a worker takes to finish the run.

    python scripts/approval_wait.py [--wait 600] [--sample 10] [--workers 2] [--json]

It passes (exit 0) when every sample saw 0 runs in flight on every worker and no job waiting or
running for the run, the run was ``waiting_approval`` at every sample, and after the decision a
worker continued it to ``succeeded``. The PostgreSQL server is ``SOAR_BENCH_POSTGRES``'s
(default ``postgresql://postgres@127.0.0.1:5432/postgres``, trust auth).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import child_env, venv_bin  # noqa: E402
from benchmarks.scale_out import SECRET, Soar, database  # noqa: E402

API_TOKEN = "bench-approval-wait-api-token"
GATED = """\
name: long-gate
on:
  - webhook: {path: /gate, secret: env:BENCH_HOOK_SECRET}
steps:
  - id: before
    action: core.set
    with: {n: 1}
  - id: go
    action: core.set
    approval: "go on after a long wait?"
    with: {ok: true}
outputs:
  ok: "${{ steps.go.output.ok }}"
"""


def _metric(url: str, name: str) -> float:
    import httpx

    total = 0.0
    for line in httpx.get(f"{url}/metrics", timeout=30).text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def _queue(url: str, cwd: Path, env: dict) -> dict:
    done = subprocess.run([str(venv_bin("soar")), "--store", url, "queue", "status", "--json"], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"soar queue status failed: {done.stderr[-400:]}")
    return json.loads(done.stdout)["totals"]


def _status(url: str, run_id: str) -> str | None:
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute("select status from runs where id = %s", (run_id,)).fetchone()
    return row[0] if row else None


def _events(url: str, run_id: str) -> list[str]:
    import psycopg

    with psycopg.connect(url) as conn:
        return [r[0] for r in conn.execute("select kind from events where run_id = %s order by id", (run_id,))]


def measure(wait: float, sample: float, workers: int) -> dict:
    """Run the scenario; returns what was seen (``passed``: every check held)."""
    import httpx

    env = child_env(BENCH_HOOK_SECRET=SECRET, BENCH_API_TOKEN=API_TOKEN)
    with tempfile.TemporaryDirectory(prefix="soar-approval-wait-") as tmp, database() as url:
        cwd = Path(tmp)
        pb = cwd / "pb"
        pb.mkdir()
        (pb / "gate.yaml").write_text(GATED)
        procs: list[Soar] = []
        try:
            front = Soar(["--store", url, "serve", str(pb), "--role", "front", "--port", "0",
                          "--api-token", "env:BENCH_API_TOKEN", "--watch-interval", "off"], cwd, env)
            procs.append(front)
            pool = [Soar(["--store", url, "worker", "--concurrency", "4", "--metrics-port", "0",
                          "--poll-interval", "1s"], cwd, env) for _ in range(workers)]
            procs += pool
            body = b"{}"
            sig = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
            answer = httpx.post(f"{front.info['url']}/hooks/gate", content=body, timeout=60,
                                headers={"X-Hub-Signature-256": sig, "Content-Type": "application/json"})
            answer.raise_for_status()
            run_id = answer.json()["run_id"]
            deadline = time.monotonic() + 120
            while _status(url, run_id) != "waiting_approval":
                if time.monotonic() > deadline:
                    raise RuntimeError(f"run {run_id} did not reach its gate: {_status(url, run_id)}")
                time.sleep(0.2)
            gate_at = time.monotonic()
            samples = []
            while True:
                in_flight = [_metric(w.info["metrics"], "soar_runs_in_flight") for w in pool]
                running = [httpx.get(f"{w.info['metrics']}/healthz", timeout=30).json()["running"] for w in pool]
                totals = _queue(url, cwd, env)
                samples.append({"at": round(time.monotonic() - gate_at, 1), "runs_in_flight": in_flight,
                                "running": running, "jobs_todo": totals.get("todo", 0),
                                "jobs_doing": totals.get("doing", 0), "status": _status(url, run_id)})
                if time.monotonic() - gate_at >= wait:
                    break
                time.sleep(min(sample, max(0.0, wait - (time.monotonic() - gate_at))))
            waited = time.monotonic() - gate_at
            started_before = [_metric(w.info["metrics"], "soar_runs_started_total") for w in pool]
            decided = time.monotonic()
            r = httpx.post(f"{front.info['url']}/approvals/{run_id}/go", json={"decision": "approve", "actor": "bench"},
                           headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=60)
            r.raise_for_status()
            deadline = time.monotonic() + 120
            while _status(url, run_id) not in ("succeeded", "failed"):
                if time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            resumed_in = time.monotonic() - decided
            status = _status(url, run_id)
            resumed_by = [_metric(w.info["metrics"], "soar_runs_started_total") - b for w, b in zip(pool, started_before)]
            events = _events(url, run_id)
        finally:
            for proc in reversed(procs):
                proc.stop()
    idle = all(s["runs_in_flight"] == [0] * workers and s["running"] == [0] * workers
               and s["jobs_todo"] == 0 and s["jobs_doing"] == 0 and s["status"] == "waiting_approval"
               for s in samples)
    passed = idle and status == "succeeded" and sum(resumed_by) == 1 and "run_resumed" in events
    return {"wait_seconds": round(waited, 1), "samples": len(samples), "workers": workers,
            "max_runs_in_flight_while_waiting": max(max(s["runs_in_flight"]) for s in samples),
            "max_jobs_while_waiting": max(s["jobs_todo"] + s["jobs_doing"] for s in samples),
            "status_after_decision": status, "decision_to_end_seconds": round(resumed_in, 2),
            "resumed_by_a_worker": sum(resumed_by) == 1, "passed": passed, "first_sample": samples[0],
            "last_sample": samples[-1]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    ap.add_argument("--wait", type=float, default=600.0, help="seconds the gate waits (default 600)")
    ap.add_argument("--sample", type=float, default=10.0, help="seconds between two samples")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    result = measure(args.wait, args.sample, args.workers)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key}: {value}")
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
