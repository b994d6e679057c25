"""`soar serve` as a real subprocess, real HTTP on loopback: a schedule fires, a signed webhook
starts a run, a bad signature gets 401 and starts nothing, an oversized body gets 413, a burst of
1,000 events loses none and dedups exactly, SIGHUP reloads, SIGTERM exits cleanly."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time

import httpx
import pytest
from serve_helpers import HOOK, SECRET, signed

from runner.store import RunStore
from runner.store.inbox import TriggerInbox

TICK = """
name: tick
on:
  - every: 1s
steps:
  - id: t
    action: core.set
    with: {at: "${{ trigger.scheduled_for }}"}
"""


def _wait(cond, timeout=30.0, what="condition"):
    deadline = time.monotonic() + timeout
    while not (value := cond()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
    return value


@pytest.fixture
def served(tmp_path):
    pb = tmp_path / "pb"
    pb.mkdir()
    (pb / "hook.yaml").write_text(HOOK)
    (pb / "tick.yaml").write_text(TICK)
    store_url = f"sqlite:///{tmp_path}/soar.db"
    env = {**os.environ, "SOAR_TEST_HOOK_SECRET": SECRET}
    proc = subprocess.Popen([sys.executable, "-m", "runner.cli", "--store", store_url, "serve", str(pb),
                             "--port", "0", "--max-runs", "64", "--body-limit", "4096", "--grace", "5s"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    line = proc.stdout.readline()
    assert line, proc.stderr.read()
    info = json.loads(line)
    store = RunStore.open(store_url)
    yield proc, info, store, pb
    if proc.poll() is None:
        proc.kill()
    proc.communicate(timeout=10)
    store.close()


def test_serve_subprocess_end_to_end(served):
    proc, info, store, pb = served
    url = info["url"]
    assert info["webhooks"] == ["/hooks/phish"] and info["schedules"] == 1
    inbox = TriggerInbox(store)
    # a schedule fires (interval jobs get a stable phase < 1 interval, then every second)
    _wait(lambda: [r for r in store.list_runs(playbook="tick") if r.status == "succeeded"], what="a schedule")
    with httpx.Client(base_url=url, timeout=10) as http:
        body = b'{"delivery": {"id": "one"}}'
        r = http.post("/hooks/phish", content=body, headers=signed(body))
        assert r.status_code == 202, r.text
        run_id = r.json()["run_id"]
        _wait(lambda: store.get_run(run_id).status == "succeeded" if _exists(store, run_id) else False,
              what="the webhook run")
        before = inbox.count()
        r = http.post("/hooks/phish", content=b'{"delivery": {"id": "two"}}', headers=signed(body))
        assert r.status_code == 401
        big = b'{"pad": "' + b"x" * 5000 + b'"}'
        # serve answers 413 and closes the connection (it reads no further): its own client, so that
        # no later request races the close on a pooled connection
        with httpx.Client(base_url=url, timeout=10) as once:
            assert once.post("/hooks/phish", content=big, headers=signed(big)).status_code == 413
        assert inbox.count() == before  # neither was recorded, so neither can start a run
    with httpx.Client(base_url=url, timeout=10) as http:
        assert http.get("/healthz").json()["status"] == "ok"
        assert "soar_runs_started_total" in http.get("/metrics").text

    # a burst of 1,000 events, 100 of them repeats of earlier keys: none lost, dedup exact
    keys = [f"k{i}" for i in range(900)] + [f"k{i}" for i in range(0, 900, 9)]
    answers = asyncio.run(_burst(url, keys))
    assert answers.count(202) == 900 and answers.count(200) == 100, sorted(set(answers))
    burst = [e for e in inbox.events(playbook="hooked") if e.dedup_key and e.dedup_key.startswith("k")]
    assert len(burst) == 900 and len({e.dedup_key for e in burst}) == 900
    ids = {e.run_id for e in burst}
    _wait(lambda: sum(1 for r in store.list_runs(limit=None, playbook="hooked", status="succeeded")
                      if r.id in ids) == 900, timeout=60, what="900 burst runs")
    runs = [r for r in store.list_runs(limit=None, playbook="hooked") if r.id in ids]
    assert len(runs) == 900  # exactly one run per accepted event

    # SIGHUP: an edited playbook is taken at once; SIGTERM: a clean exit
    (pb / "hook.yaml").write_text(HOOK.replace("/phish", "/phish2"))
    proc.send_signal(signal.SIGHUP)
    with httpx.Client(base_url=url, timeout=10) as http:
        body = b'{"delivery": {"id": "after-reload"}}'
        _wait(lambda: http.post("/hooks/phish2", content=body, headers=signed(body)).status_code == 202,
              timeout=10, what="the reloaded webhook")
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "stopped" in err and "Traceback" not in err and SECRET not in out + err


def _exists(store, run_id):
    try:
        store.get_run(run_id)
        return True
    except Exception:  # noqa: BLE001
        return False


async def _burst(url: str, keys: list[str]) -> list[int]:
    limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as http:
        sem = asyncio.Semaphore(32)

        async def one(i: int, key: str) -> int:
            body = json.dumps({"delivery": {"id": key}, "n": i}).encode()
            async with sem:
                return (await http.post("/hooks/phish", content=body, headers=signed(body))).status_code

        return await asyncio.gather(*(one(i, k) for i, k in enumerate(keys)))
