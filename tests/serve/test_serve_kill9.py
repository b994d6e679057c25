"""kill -9 of `soar serve` at random moments while runs are in flight (8 times in the suite; the
full run is 20: `SOAR_SERVE_KILLS=20`). After the last
restart every recorded event has exactly one completed run, and the simulated Defender saw each
machine isolated exactly once.

The simulated cloud runs in this test process, served on loopback by uvicorn in a thread (what
`soar sim serve` does), so its state survives every restart of the serve process, which reaches
it with `--sim-url` (docs/serve.md, "Crash testing"). `SOAR_SERVE_KILLS=N` changes the count.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time

import httpx
import pytest
from serve_helpers import SECRET, signed

from runner.store import RunStore
from runner.store.inbox import TriggerInbox

KILLS = int(os.environ.get("SOAR_SERVE_KILLS", "8"))

CONTAIN = """
name: contain
tenants: [contoso]
approvals: {destructive: false}
on:
  - webhook: {path: /contain, secret: env:SOAR_TEST_HOOK_SECRET, dedup_key: machine}
steps:
  - id: look
    action: core.sleep
    with: {duration: 150ms}
  - id: isolate
    action: defender.isolate_machine
    with: {machine_id: "${{ trigger.payload.machine }}", comment: contained, isolation_type: Full}
  - id: settle
    action: core.sleep
    with: {duration: 150ms}
"""


@pytest.fixture
def sim_on_loopback(tmp_path):
    from runner.loopback import serve_in_thread
    from runner.sim import SimulatedCloud

    cloud = SimulatedCloud(state_dir=tmp_path / "sim", defender={"devices_per_tenant": 120})
    with serve_in_thread(cloud.asgi_app()) as url:
        yield cloud, url


def test_kill_9_while_runs_are_in_flight_loses_and_repeats_nothing(tmp_path, sim_on_loopback):
    cloud, sim_url = sim_on_loopback
    contoso = cloud.tenant("contoso")
    (tmp_path / "soar.yaml").write_text(
        f"app:\n  client_id: {cloud.app.client_id}\n  client_secret: env:SOAR_TEST_SIM_SECRET\n"
        f"tenants:\n  contoso: {{id: {contoso.id}}}\ntoken_cache: {{path: ':memory:'}}\n")
    pb = tmp_path / "pb"
    pb.mkdir()
    (pb / "contain.yaml").write_text(CONTAIN)
    store_url = f"sqlite:///{tmp_path}/soar.db"
    env = {**os.environ, "SOAR_TEST_HOOK_SECRET": SECRET, "SOAR_TEST_SIM_SECRET": cloud.app.secret.reveal()}
    machines = [d["id"] for d in cloud.defender.tenant("contoso").devices]
    rng = random.Random(5)
    accepted: dict[str, str] = {}  # run id -> machine
    used = 0

    def start() -> tuple[subprocess.Popen, str]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "runner.cli", "--store", store_url, "--config", str(tmp_path / "soar.yaml"),
             "serve", str(pb), "--port", "0", "--sim-url", sim_url, "--max-runs", "8", "--grace", "1s"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
        line = proc.stdout.readline()
        assert line, proc.communicate()[1]
        return proc, json.loads(line)["url"]

    def post(url: str, machine: str) -> None:
        body = json.dumps({"machine": machine}).encode()
        try:
            r = httpx.post(f"{url}/hooks/contain", content=body, headers=signed(body), timeout=5)
        except httpx.HTTPError:
            return  # the process died under this request: the event may or may not be recorded
        if r.status_code == 202:
            accepted[r.json()["run_id"]] = machine

    for _ in range(KILLS):
        proc, url = start()
        batch = machines[used:used + 5]
        used += len(batch)
        sender = threading.Thread(target=lambda: [post(url, m) or time.sleep(rng.uniform(0, 0.1)) for m in batch])
        sender.start()
        time.sleep(rng.uniform(0.1, 0.9))  # land the kill at a different moment each time
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        sender.join()

    proc, url = start()  # the last start: recover everything, then a clean stop
    store = RunStore.open(store_url)
    inbox = TriggerInbox(store)
    deadline = time.monotonic() + 60
    while True:
        events = inbox.events()
        runs = {r.id: r for r in store.list_runs(limit=None, top_level_only=True)}
        if all(e.run_id in runs and runs[e.run_id].status in ("succeeded", "failed") for e in events):
            break
        assert time.monotonic() < deadline, "runs did not finish after the last restart"
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err

    assert accepted, "no event was accepted at all"
    event_runs = {e.run_id: e.payload["machine"] for e in events}
    assert set(accepted) <= set(event_runs)  # every 202 is in the inbox
    assert set(runs) == set(event_runs)  # exactly one run per event, and no other run
    resumed = [i for i in runs if any(e.kind == "run_resumed" for e in store.events(i))]
    assert resumed, "no kill landed while a run was in flight: the test proved nothing"
    failed = {i: runs[i].error for i in runs if runs[i].status != "succeeded"}
    assert not failed, failed
    for machine in event_runs.values():
        sent = cloud.defender.count(method="POST", path_suffix="/isolate", machine_id=machine)
        assert sent == 1, f"machine {machine} was isolated {sent} times"
    store.close()
