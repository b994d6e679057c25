"""A run over many tenants spread over three `soar worker` processes (real processes, behind one
front, on a fresh PostgreSQL database, against a simulated cloud of 20 tenants served on loopback
in a thread of this process, so the test reads its token and request logs).

Each tenant run is a job of its own; the worker that ends the last one ends the run — its
after-tenant steps once — and a tenant run waiting for an approval holds no worker. The workers
share one token cache in the database (``token_cache.backend: auto`` with a key), so two runs over
the 20 tenants, whose tenant runs land on different workers, ask Entra ID for 20 tokens.
"""

from __future__ import annotations

import json
import time
from collections import Counter

import httpx
import pytest
from cryptography.fernet import Fernet
from scaleout_helpers import (API_TOKEN, fresh_database, hook_headers, metric, soar_env, start_front,
                              start_worker, wait_for)

from sqlalchemy import text

from runner.queue import jobs
from runner.queue.schema import upgrade
from runner.store import RunStore
from runner.store.inbox import TriggerInbox

pytestmark = pytest.mark.postgres
TENANTS = 20

SPREAD = """
name: spread
tenants: all
on:
  - webhook: {path: /spread, secret: env:SOAR_SCALEOUT_HOOK_SECRET}
steps:
  - id: machines
    action: defender.list_machines
  - id: nap
    action: core.sleep
    with: {duration: 200ms}
after_tenants:
  - id: tally
    action: core.set
    with:
      machines: "${{ tenants.values() | map(attribute='outputs.machines') | sum }}"
      ok: "${{ tenants.values() | selectattr('status', 'eq', 'succeeded') | list | length }}"
outputs:
  machines: "${{ steps.machines.output | length }}"
  total: "${{ steps.tally.output.machines }}"
  succeeded: "${{ steps.tally.output.ok }}"
"""

GATED = """
name: gated-spread
tenants: [%s]
approvals: {destructive: true}
on:
  - webhook: {path: /gated, secret: env:SOAR_SCALEOUT_HOOK_SECRET}
steps:
  - id: machines
    action: defender.list_machines
  - id: isolate
    action: defender.isolate_machine
    with: {machine_id: "${{ steps.machines.output[0].id }}", comment: spread, isolation_type: Full}
after_tenants:
  - id: tally
    action: core.set
    with: {n: "${{ tenants | length }}"}
outputs:
  isolated: "${{ steps.isolate.status }}"
  tenants: "${{ steps.tally.output.n }}"
"""

SLOW = """
name: slow-spread
tenants: [%s]
approvals: {destructive: false}
on:
  - webhook: {path: /slow, secret: env:SOAR_SCALEOUT_HOOK_SECRET}
steps:
  - id: machines
    action: defender.list_machines
  - id: isolate
    action: defender.isolate_machine
    with: {machine_id: "${{ steps.machines.output[0].id }}", comment: slow, isolation_type: Full}
  - id: long
    action: core.sleep
    with: {duration: 2s}
after_tenants:
  - id: tally
    action: core.set
    with: {n: "${{ tenants.values() | selectattr('status', 'eq', 'succeeded') | list | length }}"}
outputs:
  ok: "${{ steps.tally.output.n }}"
"""

CANCELLED = """
name: cancelled-spread
tenants: [%s]
on:
  - webhook: {path: /cancel, secret: env:SOAR_SCALEOUT_HOOK_SECRET}
steps:
  - id: long
    action: core.sleep
    with: {duration: 3s}
  - id: after
    action: core.set
    with: {done: true}
after_tenants:
  - id: tally
    action: core.set
    with: {n: "${{ tenants | length }}"}
"""


@pytest.fixture(scope="module")
def sim():
    from runner.loopback import serve_in_thread
    from runner.sim import SimulatedCloud

    cloud = SimulatedCloud(tenants=TENANTS, defender={"devices_per_tenant": 3, "quotas": False})
    with serve_in_thread(cloud.asgi_app()) as url:
        yield cloud, url


@pytest.fixture(scope="module")
def deployment(sim, tmp_path_factory):
    cloud, sim_url = sim
    tmp = tmp_path_factory.mktemp("spread")
    names = list(cloud.tenants)
    tenants = "".join(f"  {t.name}: {{id: {t.id}}}\n" for t in cloud.tenants.values())
    config = tmp / "soar.yaml"
    config.write_text(f"app:\n  client_id: {cloud.app.client_id}\n  client_secret: env:SOAR_TEST_SIM_SECRET\n"
                      f"tenants:\n{tenants}token_cache: {{key: env:SOAR_TEST_TOKEN_KEY}}\n")
    pb = tmp / "pb"
    pb.mkdir()
    (pb / "spread.yaml").write_text(SPREAD)
    (pb / "gated.yaml").write_text(GATED % ", ".join(names[:3]))
    (pb / "slow.yaml").write_text(SLOW % ", ".join(names[3:9]))
    (pb / "cancelled.yaml").write_text(CANCELLED % ", ".join(names[9:]))
    env = soar_env(SOAR_TEST_SIM_SECRET=cloud.app.secret.reveal(), SOAR_TEST_TOKEN_KEY=Fernet.generate_key().decode())
    root = ("--config", str(config))
    with fresh_database() as url:
        upgrade(url)
        procs, workers = [], []  # a test may replace a worker in `workers`
        try:
            front = start_front(url, pb, cwd=tmp, env=env, extra=("--sim-url", sim_url))
            procs.append(front)
            workers += [start_worker(url, cwd=tmp, env=env, root=root, concurrency=4, extra=("--sim-url", sim_url),
                                     name=f"worker{i}") for i in range(3)]
            store = RunStore.open(url)
            yield {"url": url, "tmp": tmp, "env": env, "root": root, "sim_url": sim_url, "front": front,
                   "workers": workers, "store": store, "cloud": cloud, "names": names}
            store.close()
        finally:
            for proc in (*procs, *workers):
                proc.close()


def _post(front, path: str, payload: dict) -> str:
    body = json.dumps(payload).encode()
    r = httpx.post(f"{front.info['url']}/hooks{path}", content=body, headers=hook_headers(body), timeout=30)
    assert r.status_code == 202, r.text
    return r.json()["run_id"]


def _status(store: RunStore, run_id: str) -> str | None:
    try:
        return store.get_run(run_id).status
    except Exception:  # noqa: BLE001 - not created yet
        return None


def _takers(store: RunStore, parent: str) -> dict[str, list[str]]:
    """Tenant → the workers that took its tenant run (audit trail)."""
    return {c.tenant: [e.data["worker"] for e in store.events(c.id) if e.kind == "tenant_run_taken"]
            for c in store.children(parent)}


def test_twenty_tenants_spread_over_three_workers_ask_for_twenty_tokens(deployment):
    front, workers, store, cloud = deployment["front"], deployment["workers"], deployment["store"], deployment["cloud"]
    before = cloud.total_token_requests()
    runs = []
    for wave in range(2):  # the second run's tenant runs land on other workers than the first's
        run_id = _post(front, "/spread", {"wave": wave})
        wait_for(lambda: _status(store, run_id) in ("succeeded", "failed"), timeout=40,
                 what=f"run {wave + 1} over {TENANTS} tenants", every=0.2)
        runs.append(run_id)
    devices = sum(len(cloud.defender.tenant(n).devices) for n in deployment["names"])
    workers_seen: Counter = Counter()
    moved = 0
    takers = [_takers(store, r) for r in runs]
    for run_id, taken in zip(runs, takers):
        run = store.get_run(run_id)
        assert run.status == "succeeded", run.error
        assert run.outputs == {"total": devices, "succeeded": TENANTS}  # the summary saw every tenant
        kids = store.children(run_id)
        assert len(kids) == TENANTS and all(k.status == "succeeded" for k in kids)
        # the after-tenant step ran once, in the parent, by one worker
        assert Counter(s.step_id for s in store.step_records(run_id)) == {"tally": 1}
        assert all(len(w) == 1 for w in taken.values()), taken  # each tenant run executed once
        workers_seen.update(w[0] for w in taken.values())
    moved = sum(1 for n in deployment["names"] if takers[0][n] != takers[1][n])
    print(f"tenant runs per worker: {dict(workers_seen)}; tenants on another worker the second time: {moved}")
    assert len(workers_seen) >= 2, f"the tenant runs were not spread: {dict(workers_seen)}"
    executed = [metric(w.info["metrics"], "soar_tenant_runs_executed") for w in workers]
    assert sum(executed) == 2 * TENANTS, executed
    assert sum(metric(w.info["metrics"], "soar_runs_settled") for w in workers) == 2
    # one token per tenant for Defender's API, shared through the database by every worker
    assert cloud.total_token_requests() - before == TENANTS, dict(cloud.token_requests)
    assert moved > 0  # some tenant's second run was on another worker, and asked for no token


def test_tenant_runs_waiting_for_approval_hold_no_worker_and_the_decision_ends_the_run(deployment):
    front, workers, store, cloud = deployment["front"], deployment["workers"], deployment["store"], deployment["cloud"]
    names = deployment["names"][:3]
    run_id = _post(front, "/gated", {})
    wait_for(lambda: _status(store, run_id) == "waiting_approval", timeout=30, what="the run to wait for approval")
    kids = store.children(run_id)
    assert [k.status for k in kids] == ["waiting_approval"] * 3
    # waiting holds nothing: every worker at 0 runs in flight (read a few times while it waits)
    for _ in range(3):
        assert [metric(w.info["metrics"], "soar_runs_in_flight") for w in workers] == [0, 0, 0]
        time.sleep(0.3)
    r = httpx.post(f"{front.info['url']}/approvals/{run_id}/isolate", json={"decision": "approve", "actor": "bob"},
                   headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=30)
    assert r.status_code == 200, r.text
    wait_for(lambda: _status(store, run_id) in ("succeeded", "failed"), timeout=30, what="the approved run")
    run = store.get_run(run_id)
    assert run.status == "succeeded", run.error
    assert run.outputs == {"tenants": 3}
    # the decision continued it at once: no sweep had to continue it a second time
    assert [e.kind for e in store.events(run_id)].count("run_continued") == 1
    assert Counter(s.step_id for s in store.step_records(run_id)) == {"tally": 1}
    for name in names:
        first = cloud.defender.tenant(name).devices[0]["id"]
        assert cloud.defender.count(method="POST", path_suffix="/isolate", machine_id=first) == 1
    for kid in store.children(run_id):
        kinds = [e.kind for e in store.events(kid.id)]
        assert kinds.count("tenant_run_taken") == 2  # before the gate, and after the decision
        assert Counter(s.step_id for s in store.step_records(kid.id))["machines"] == 1  # not run again


def test_kill_9_of_a_worker_mid_spread_loses_and_repeats_nothing(deployment):
    front, workers, store, cloud = deployment["front"], deployment["workers"], deployment["store"], deployment["cloud"]
    names = deployment["names"][3:9]
    def holder():
        for w in workers:
            before = metric(w.info["metrics"], "soar_tenant_runs_executed") - executed[w.info["worker"]]
            if before > 0 and metric(w.info["metrics"], "soar_runs_in_flight"):
                return w
        return None

    executed = {w.info["worker"]: metric(w.info["metrics"], "soar_tenant_runs_executed") for w in workers}
    run_id = _post(front, "/slow", {})
    victim = wait_for(holder, timeout=20, what="a worker to take a tenant run", every=0.05)
    time.sleep(0.8)  # inside the 2 s step, after the isolation
    victim.kill9()
    workers[workers.index(victim)] = start_worker(deployment["url"], cwd=deployment["tmp"], env=deployment["env"],
                                                  root=deployment["root"], concurrency=4,
                                                  extra=("--sim-url", deployment["sim_url"]), name="replacement")
    wait_for(lambda: _status(store, run_id) in ("succeeded", "failed"), timeout=40, what="the run after the kill")
    run = store.get_run(run_id)
    assert run.status == "succeeded", run.error
    assert run.outputs == {"ok": len(names)}
    assert Counter(s.step_id for s in store.step_records(run_id)) == {"tally": 1}
    taken = _takers(store, run_id)
    assert any(len(w) > 1 for w in taken.values()), f"no tenant run was taken over after the kill: {taken}"
    for name in names:  # each machine isolated once, the killed worker's included
        first = cloud.defender.tenant(name).devices[0]["id"]
        assert cloud.defender.count(method="POST", path_suffix="/isolate", machine_id=first) == 1, name


def test_cancelling_a_spread_run_ends_every_tenant_run_and_runs_no_summary(deployment):
    front, store = deployment["front"], deployment["store"]
    run_id = _post(front, "/cancel", {})
    wait_for(lambda: _status(store, run_id) == "running", timeout=20, what="the run to start")
    # its 11 tenant jobs are one run of the playbook (what a schedule at `max_runs` counts)
    engine = TriggerInbox(store).engine
    with engine.connect() as conn:
        assert conn.execute(text(jobs.BUSY_SQL), {"playbook": "cancelled-spread"}).scalar() == 1
    r = httpx.post(f"{front.info['url']}/runs/{run_id}/cancel", json={"actor": "carol"},
                   headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=30)
    assert r.status_code in (200, 202), r.text
    wait_for(lambda: _status(store, run_id) == "cancelled", timeout=30, what="the run to end cancelled")
    kids = store.children(run_id)
    wait_for(lambda: all(k.status == "cancelled" for k in store.children(run_id)), timeout=15,
             what="every tenant run to end cancelled")
    assert len(kids) == TENANTS - 9
    assert store.step_records(run_id) == []  # the after-tenant step never ran
    assert not any(s.step_id == "after" for k in kids for s in store.step_records(k.id))
