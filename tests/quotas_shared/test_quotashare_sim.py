"""End to end: three `soar worker` processes behind a front hammer one tenant of the simulated
Defender for Endpoint API, which enforces its documented budget (``mde``: 100 calls per minute
per tenant) on a clock sped up 15×, served on loopback (in a thread of this process, so the test
reads the simulator's request log), on one PostgreSQL store. The workers share their budget
because workers do (soar.yaml's ``quotas.shared`` is ``auto``); ``quotas.time_scale`` (1/15) puts
their windows on the simulator's clock: Defender's own budget, with a minute lasting 4 s.

Without sharing, each worker would spend the whole budget itself: three times too much, and
429s. Shared: no 429, no failed step, ≥ 90 % of the budget reached over whole windows
(``sustained_share``; the time this busy machine takes to send the last window's 100 calls says
how fast it serves a burst, not how the budget is spent, and is printed as well)."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
import time

import httpx
import pytest
from quotashare_helpers import achieved_share, most_in_any_window, sustained_share

pytestmark = pytest.mark.postgres

CALLS_PER_PROCESS = 100  # per worker; 300 calls: three simulated minutes' worth of budget
LIMIT, WINDOW = 100, 60.0  # the simulated mde budget, simulated seconds
SPEED = 15.0  # simulated seconds per real second

HOOK_SECRET = "quotashare-hook-secret-41d7"
WORKER_PLAYBOOK = """\
name: hammer-%%s
tenants: [contoso]
on:
  - webhook: {path: /hammer-%%s, secret: env:SOAR_TEST_HOOK_SECRET}
steps:
  - id: get
    action: defender.get_machine
    foreach: "${{ range(%d) | list }}"
    concurrency: 40
    with: {machine_id: "${{ trigger.payload.machine }}"}
""" % CALLS_PER_PROCESS


@pytest.fixture
def sim_on_loopback():
    from runner.loopback import serve_in_thread
    from runner.sim import SimulatedCloud

    cloud = SimulatedCloud(defender={"time_scale": SPEED})  # Defender's quotas on
    with serve_in_thread(cloud.asgi_app()) as url:
        yield cloud, url


def write_config(tmp_path, cloud, shared: str) -> str:
    tenants = "".join(f"  {t.name}: {{id: {t.id}}}\n" for t in cloud.tenants.values())
    config = tmp_path / "soar.yaml"
    config.write_text(f"app:\n  client_id: {cloud.app.client_id}\n  client_secret: env:SOAR_TEST_SIM_SECRET\n"
                      f"tenants:\n{tenants}token_cache: {{path: ':memory:'}}\n"
                      f"quotas: {{shared: {shared}, time_scale: {1 / SPEED}}}\n")
    return str(config)


def check_the_simulators_log(cloud) -> float:
    """No 429, every call answered, never above the budget; returns the share of it reached."""
    log = [e for e in cloud.defender.requests(method="GET") if e["path"].startswith("/api/machines/")]
    ok = [e["time"] for e in log if e["status"] == 200]
    throttled = [e for e in log if e["status"] == 429]
    assert len(ok) == 3 * CALLS_PER_PROCESS                  # every call of every step went through
    assert throttled == []                                   # never above the simulator's budget
    assert most_in_any_window(ok, WINDOW) <= LIMIT
    share = sustained_share(ok, LIMIT, WINDOW)
    print(f"achieved {share:.1%} of the budget over whole windows ({achieved_share(ok, LIMIT, WINDOW):.1%} "
          f"from the first call to the last); {len(ok)} calls, no 429")
    assert share >= 0.90, f"achieved {share:.1%} of the budget"
    return share


class Soar:
    """A ``soar`` process whose first stdout line is a JSON document (``info``)."""

    def __init__(self, args: list[str], *, cwd, env: dict):
        self.err = open(cwd / f"soar-{len(os.listdir(cwd))}.err", "w")
        self.proc = subprocess.Popen([sys.executable, "-m", "runner.cli", *args], stdout=subprocess.PIPE,
                                     stderr=self.err, text=True, env=env, cwd=cwd)
        line = self.proc.stdout.readline()
        assert line, f"soar {args[4]} did not start (exit {self.proc.wait(30)}): {open(self.err.name).read()}"
        self.info = json.loads(line)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self.err.close()


def runs_finished(metrics_url: str) -> float:
    """``soar_runs_finished_total`` of a worker, summed over its labels."""
    text = httpx.get(f"{metrics_url}/metrics", timeout=10).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("soar_runs_finished_total"))


def status(store, run_id: str) -> str | None:
    """The run's status; None while no worker has started it yet (the front only queued it)."""
    from runner.errors import RunNotFound

    try:
        return store.get_run(run_id).status
    except RunNotFound:
        return None


def test_three_workers_share_the_simulators_100_a_minute(tmp_path, sim_on_loopback, pg_url):
    from runner.queue.schema import upgrade
    from runner.store import RunStore

    cloud, sim_url = sim_on_loopback
    config = write_config(tmp_path, cloud, "auto")
    playbooks = tmp_path / "playbooks"
    playbooks.mkdir()
    for n in range(3):  # one playbook each: its runs are never queued behind one another
        (playbooks / f"hammer-{n}.yaml").write_text(WORKER_PLAYBOOK % (n, n))
    env = {**os.environ, "SOAR_TEST_SIM_SECRET": cloud.app.secret.reveal(), "SOAR_TEST_HOOK_SECRET": HOOK_SECRET,
           "SOAR_TEST_API_TOKEN": "quotashare-api-token-0c3a"}
    root = ["--store", pg_url, "--config", config]
    upgrade(pg_url)
    procs: list[Soar] = []
    store = RunStore.open(pg_url)
    try:
        procs += [Soar([*root, "worker", "--concurrency", "1", "--metrics-port", "0", "--heartbeat", "1s",
                        "--stalled-after", "10s", "--poll-interval", "1s", "--sim-url", sim_url], cwd=tmp_path, env=env)
                  for _ in range(3)]
        front = Soar([*root, "serve", str(playbooks), "--role", "front", "--port", "0", "--api-token",
                      "env:SOAR_TEST_API_TOKEN", "--sim-url", sim_url], cwd=tmp_path, env=env)
        procs.append(front)
        machine = cloud.defender.tenant("contoso").devices[0]["id"]
        runs = []
        for n in range(3):
            body = json.dumps({"machine": machine, "n": n}).encode()
            signature = "sha256=" + hmac.new(HOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
            answer = httpx.post(f"{front.info['url']}/hooks/hammer-{n}", content=body, timeout=30,
                                headers={"X-Hub-Signature-256": signature, "Content-Type": "application/json"})
            assert answer.status_code == 202, answer.text
            runs.append(answer.json()["run_id"])
        deadline = time.monotonic() + 90
        while any(status(store, r) not in ("succeeded", "failed") for r in runs):
            assert time.monotonic() < deadline, "the runs did not finish"
            time.sleep(0.3)
        assert [store.get_run(r).status for r in runs] == ["succeeded"] * 3   # no failed step
        assert [runs_finished(w.info["metrics"]) for w in procs[:3]] == [1, 1, 1]   # one run on each worker
    finally:
        store.close()
        for p in procs:
            p.stop()
    check_the_simulators_log(cloud)
