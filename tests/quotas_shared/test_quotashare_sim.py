"""End to end: three `soar run` processes hammer one tenant of the simulated Defender for
Endpoint API, which enforces its documented budget (``mde``: 100 calls per minute per tenant)
on a clock sped up 30×, served on loopback (in a thread of this process, so the test reads the
simulator's request log). soar.yaml says ``quotas: {shared: true}`` on one PostgreSQL store,
with the budget in real time: a simulated minute is 2 real seconds, and soar.yaml's windows
cannot be scaled, so the clients keep to 50 calls per second (at most 100 in any 2 s, and
1,500 per simulated hour as 750 per real minute). At 60× (100 calls per real second) three
`soar run` processes, the simulator and PostgreSQL on two busy cores could not serve a
window's burst in time: the rate then measures the machine, not the limiter.

Without sharing, each process would spend the whole budget itself: three times too much, and
429s. Shared: no 429, no failed step, ≥ 90 % of the budget reached."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time

import pytest
from quotashare_helpers import achieved_share, most_in_any_window

pytestmark = pytest.mark.postgres

CALLS_PER_PROCESS = 134  # 402 calls: four simulated minutes' worth of budget
LIMIT, WINDOW = 100, 60.0  # the simulated mde budget, simulated seconds
SPEED = 30.0  # simulated seconds per real second

PLAYBOOK = """\
name: hammer
inputs:
  calls: {type: integer}
  machine: {type: string}
steps:
  - id: get
    action: defender.get_machine
    foreach: "${{ range(inputs.calls) | list }}"
    concurrency: 20
    with: {machine_id: "${{ inputs.machine }}"}
"""


@pytest.fixture
def sim_on_loopback():
    import uvicorn

    from runner.sim import SimulatedCloud

    cloud = SimulatedCloud(defender={"time_scale": SPEED})  # Defender's quotas on
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(cloud.asgi_app(), log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the simulated cloud did not start"
        time.sleep(0.05)
    yield cloud, f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(10)
    sock.close()


def test_three_soar_processes_share_the_simulators_100_a_minute(tmp_path, sim_on_loopback, pg_url):
    cloud, sim_url = sim_on_loopback
    tenants = "".join(f"  {t.name}: {{id: {t.id}}}\n" for t in cloud.tenants.values())
    config = tmp_path / "soar.yaml"
    config.write_text(f"app:\n  client_id: {cloud.app.client_id}\n  client_secret: env:SOAR_TEST_SIM_SECRET\n"
                      f"tenants:\n{tenants}token_cache: {{path: ':memory:'}}\n"
                      "quotas: {shared: true, mde: {per_second: 50, per_minute: 750}}\n")
    pb = tmp_path / "hammer.yaml"
    pb.write_text(PLAYBOOK)
    machine = cloud.defender.tenant("contoso").devices[0]["id"]
    env = {**os.environ, "SOAR_TEST_SIM_SECRET": cloud.app.secret.reveal()}
    args = [sys.executable, "-m", "runner.cli", "--store", pg_url, "--config", str(config), "run", str(pb),
            "--tenant", "contoso", "--sim-url", sim_url, "--json",
            "-i", f"calls={CALLS_PER_PROCESS}", "-i", f"machine={machine}"]
    procs = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=env)
             for _ in range(3)]
    try:
        outcomes = [p.communicate(timeout=120) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for p, (out, err) in zip(procs, outcomes):
        assert p.returncode == 0, f"a run failed (exit {p.returncode}):\n{out[-2000:]}\n{err[-2000:]}"
        assert json.loads(out)["status"] == "succeeded"
    log = [e for e in cloud.defender.requests(method="GET") if e["path"].startswith("/api/machines/")]
    ok = [e["time"] for e in log if e["status"] == 200]
    throttled = [e for e in log if e["status"] == 429]
    assert len(ok) == 3 * CALLS_PER_PROCESS                  # every call of every step went through
    assert throttled == []                                   # never above the simulator's budget
    assert most_in_any_window(ok, WINDOW) <= LIMIT
    share = achieved_share(ok, LIMIT, WINDOW)
    assert share >= 0.90, f"achieved {share:.1%} of the budget"
