"""kill -9 of workers in the middle of a fan-out: isolations over several simulated tenants (each
tenant run a job of its own, spread over the workers), one front and three workers sharing one
simulated cloud on loopback (what `soar sim serve` serves, here in a thread of this process so
the test can read the simulator's request log). A killed
worker's job goes back to the queue once its heartbeat is older than ``--stalled-after``,
another worker resumes the tenant run from its durable step records: every run succeeds and the
simulated Defender saw each machine isolated exactly once.

``SOAR_SCALEOUT_KILLS=N`` changes the number of kills (3), ``SOAR_SCALEOUT_FANOUT=TxD`` the
tenants and devices per tenant (4x12; D a multiple of 6) — the issue's size is
``SOAR_SCALEOUT_KILLS=10 SOAR_SCALEOUT_FANOUT=10x30`` (300 machines over 10 tenants).
"""

from __future__ import annotations

import json
import os
import random
import time

import httpx
import pytest
from scaleout_helpers import fresh_database, hook_headers, metric, soar_env, start_front, start_worker, wait_for

from runner.queue.schema import upgrade
from runner.store import RunStore

pytestmark = pytest.mark.postgres
KILLS = int(os.environ.get("SOAR_SCALEOUT_KILLS", "3"))
TENANTS, DEVICES = (int(n) for n in os.environ.get("SOAR_SCALEOUT_FANOUT", "4x12").split("x"))
WAVES = 3

# wave k isolates the devices whose index is k or k+6 (first step), then k+3 or k+9 (second step)
FANOUT = """
name: fanout
tenants: all
max_runs: 10
approvals: {destructive: false}
on:
  - webhook: {path: /fanout, secret: env:SOAR_SCALEOUT_HOOK_SECRET, dedup_key: wave}
steps:
  - id: machines
    action: defender.list_machines
  - id: isolate_a
    action: defender.isolate_machine
    foreach: "${{ steps.machines.output }}"
    when: "${{ index % 6 == trigger.payload.wave }}"
    concurrency: 1
    with: {machine_id: "${{ item.id }}", comment: "fan-out wave ${{ trigger.payload.wave }}", isolation_type: Full}
  - id: pause
    action: core.sleep
    with: {duration: 800ms}
  - id: isolate_b
    action: defender.isolate_machine
    foreach: "${{ steps.machines.output }}"
    when: "${{ index % 6 == trigger.payload.wave + 3 }}"
    concurrency: 1
    with: {machine_id: "${{ item.id }}", comment: "fan-out wave ${{ trigger.payload.wave }}", isolation_type: Full}
  - id: settle
    action: core.sleep
    with: {duration: 400ms}
"""


@pytest.fixture
def sim_on_loopback(tmp_path):
    from runner.loopback import serve_in_thread
    from runner.sim import SimulatedCloud

    cloud = SimulatedCloud(tenants=TENANTS, state_dir=tmp_path / "sim",
                           defender={"devices_per_tenant": DEVICES, "quotas": False})
    cloud.defender.faults.latency = 0.02  # each call takes a while: kills land mid-isolation too
    with serve_in_thread(cloud.asgi_app()) as url:
        yield cloud, url


def test_kill_9_of_workers_mid_fan_out_loses_and_repeats_nothing(tmp_path, sim_on_loopback):
    cloud, sim_url = sim_on_loopback
    tenants = "".join(f"  {t.name}: {{id: {t.id}}}\n" for t in cloud.tenants.values())
    config = tmp_path / "soar.yaml"
    config.write_text(f"app:\n  client_id: {cloud.app.client_id}\n  client_secret: env:SOAR_TEST_SIM_SECRET\n"
                      f"tenants:\n{tenants}token_cache: {{path: ':memory:'}}\n")
    pb = tmp_path / "pb"
    pb.mkdir()
    (pb / "fanout.yaml").write_text(FANOUT)
    env = soar_env(SOAR_TEST_SIM_SECRET=cloud.app.secret.reveal())
    root = ("--config", str(config))
    rng = random.Random(7)
    with fresh_database() as url:
        upgrade(url)
        front = start_front(url, pb, cwd=tmp_path, env=env, extra=("--sim-url", sim_url))
        workers = [start_worker(url, cwd=tmp_path, env=env, root=root, concurrency=2,
                                extra=("--sim-url", sim_url), name=f"worker{i}") for i in range(3)]
        store = RunStore.open(url)
        try:
            run_ids = []
            for wave in range(WAVES):
                body = json.dumps({"wave": wave}).encode()
                r = httpx.post(f"{front.info['url']}/hooks/fanout", content=body, headers=hook_headers(body), timeout=30)
                assert r.status_code == 202, r.text
                run_ids.append(r.json()["run_id"])
            kills = 0
            deadline = time.monotonic() + 60 + 10 * KILLS
            while kills < KILLS and time.monotonic() < deadline:
                if all(_status(store, r) in ("succeeded", "failed") for r in run_ids):
                    break
                busy = [w for w in workers if w.alive() and metric(w.info["metrics"], "soar_runs_in_flight")]
                if not busy:
                    time.sleep(0.05)
                    continue
                time.sleep(rng.uniform(0.0, 0.6))  # a different moment of the run each time
                victim = rng.choice(busy)
                victim.kill9()
                kills += 1
                workers[workers.index(victim)] = start_worker(url, cwd=tmp_path, env=env, root=root, concurrency=2,
                                                              extra=("--sim-url", sim_url), name="replacement")
            assert kills >= 1, "no worker held a run when the test looked: it proved nothing"

            wait_for(lambda: all(_status(store, r) in ("succeeded", "failed") for r in run_ids), timeout=120,
                     what="every run to finish", every=0.3)
            failed = {r: store.get_run(r).error for r in run_ids if store.get_run(r).status != "succeeded"}
            assert not failed, failed
            # a run over several tenants is spread over the workers: its tenant runs are resumed
            resumed = [r for r in run_ids if any(e.kind == "run_resumed" for run in (r, *(c.id for c in
                                                 store.children(r))) for e in store.events(run))]
            assert resumed, "no kill landed while a run was in flight: the test proved nothing"
            print(f"{kills} kill(s); runs resumed after a kill: {len(resumed)} of {WAVES}")
            assert len(store.list_runs(limit=None, playbook="fanout", top_level_only=True)) == WAVES
            isolated = 0
            for tenant in cloud.tenants.values():
                for device in cloud.defender.tenant(tenant.name).devices:
                    sent = cloud.defender.count(method="POST", path_suffix="/isolate", machine_id=device["id"])
                    assert sent == 1, f"machine {device['id']} of {tenant.name} was isolated {sent} times"
                    isolated += 1
            assert isolated == TENANTS * DEVICES
        finally:
            store.close()
            for proc in (front, *workers):
                proc.close()


def _status(store: RunStore, run_id: str) -> str | None:
    try:
        return store.get_run(run_id).status
    except Exception:  # noqa: BLE001 - not created yet
        return None
