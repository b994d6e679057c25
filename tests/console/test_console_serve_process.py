"""The console on a real `soar serve` subprocess, over real HTTP on loopback (no sign-in
configured: the local administrator): the pages and the API answer on serve's port, a waiting
approval is approved through the API and the run finishes, the audit trail names who."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import httpx
from console_harness import GATED, HOOK_SECRET

from runner.serve.webhooks import sign
from runner.store import RunStore


def _wait(cond, timeout=30.0, what="condition"):
    deadline = time.monotonic() + timeout
    while not (value := cond()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
    return value


def test_the_console_on_a_soar_serve_process(tmp_path):
    pb = tmp_path / "pb"
    pb.mkdir()
    (pb / "gated.yaml").write_text(GATED % "")
    store_url = f"sqlite:///{tmp_path}/soar.db"
    env = {**os.environ, "SOAR_CONSOLE_HOOK_SECRET": HOOK_SECRET}
    proc = subprocess.Popen([sys.executable, "-m", "runner.cli", "--store", store_url, "serve", str(pb),
                             "--port", "0", "--grace", "2s"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    store = RunStore.open(store_url)
    try:
        line = proc.stdout.readline()
        assert line, proc.stderr.read()
        url = json.loads(line)["url"]
        with httpx.Client(base_url=url, timeout=10) as http:
            body = b'{"n": 42}'
            r = http.post("/hooks/gated", content=body, headers={"X-Hub-Signature-256": sign(HOOK_SECRET, body)})
            run_id = r.json()["run_id"]
            _wait(lambda: store.get_run(run_id).status == "waiting_approval" if _exists(store, run_id) else False)
            page = http.get("/runs")
            assert page.status_code == 200 and run_id in page.text and "loopback only" in page.text
            gate = http.get(f"/approvals/{run_id}/ask")
            assert gate.status_code == 200 and "isolate host-42?" in gate.text
            assert http.get("/static/console.js").status_code == 200
            me = http.get("/api/v1/me").json()
            assert me["name"] == "local" and me["via"] == "loopback"
            r = http.post(f"/api/v1/approvals/{run_id}/ask", json={"decision": "approve", "reason": "ok"})
            assert r.status_code == 200, r.text  # a script on this machine: no browser, no CSRF token needed
            _wait(lambda: store.get_run(run_id).status == "succeeded", what="the approved run")
            detail = http.get(f"/api/v1/runs/{run_id}").json()
            [event] = [e for e in detail["events"] if e["kind"] == "approval.approved"]
            assert event["actor"] == "local" and event["data"]["reason"] == "ok"
            # a browser form without the CSRF token is refused
            r = http.post(f"/runs/{run_id}", data={"action": "rerun"}, headers={"Origin": url})
            assert r.status_code == 403
            assert http.get("/healthz").json()["status"] == "ok"  # serve's own routes are unchanged
    finally:
        proc.terminate()
        proc.communicate(timeout=20)
        store.close()
    assert proc.returncode == 0


def _exists(store, run_id) -> bool:
    try:
        store.get_run(run_id)
        return True
    except Exception:  # noqa: BLE001 - not created yet
        return False
