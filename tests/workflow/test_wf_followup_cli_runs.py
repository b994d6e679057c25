"""`soar runs resume|rerun` and `soar approve` in-process against `soar sim serve` (--sim-url): the
API connection pools of the run's event loop are closed with it (no ResourceWarning, which the
suite turns into a failure); and a cancelled run has an exit code of its own (4), in `soar run`
and `soar runs resume`."""

from __future__ import annotations

import gc
import json
import signal
import time

import pytest
from wf_sim_loopback import SECRET_ENV, served, write_config

ISOLATE = """\
name: isolate-one
tenants: [contoso]
inputs:
  machine: {type: string}
steps:
  - id: isolate
    action: defender.isolate_machine
    with: {machine_id: "${{ inputs.machine }}", comment: rehearsal, isolation_type: Full}
outputs:
  action: "${{ steps.isolate.output.id }}"
"""

SLOW = """
name: slow
steps:
  - id: tick
    action: core.sleep
    foreach: "${{ range(80) | list }}"
    with: {duration: 100ms}
  - id: after
    action: core.set
    with: {reached: true}
"""


@pytest.fixture
def rehearsal(tmp_path, monkeypatch):
    """A simulated cloud on loopback (as `soar sim serve` serves it) and a soar.yaml for it."""
    from runner.sim import SimulatedCloud

    cloud = SimulatedCloud(defender={"time_scale": 600})
    write_config(tmp_path, cloud.app.client_id, {t.name: t.id for t in cloud.tenants.values()})
    monkeypatch.setenv(SECRET_ENV, cloud.app.secret.reveal())
    with served(cloud) as url:
        yield cloud, url


def _isolated(cloud) -> list[str]:
    return [r.data["machineId"] for r in cloud.defender.tenant("contoso").actions if r.data["type"] == "Isolate"]


def _collect() -> None:
    """Collect now, so a connection left open by the command is reported in this test."""
    for _ in range(2):
        gc.collect()


def test_approve_continues_the_run_in_process_and_closes_its_connections(soar, rehearsal):
    cloud, url = rehearsal
    machine = cloud.defender.tenant("contoso").devices[0]["id"]
    pb = soar.write("isolate.yaml", ISOLATE)
    first = soar("--sim-url", url, "run", str(pb), "--input", f"machine={machine}", "--json")
    assert first.exit_code == 3, first.output
    run_id = json.loads(first.stdout)["run_id"]
    _collect()
    decided = soar("--sim-url", url, "approve", run_id, "isolate", "--reason", "rehearsal")
    assert decided.exit_code == 0, decided.output
    assert _isolated(cloud) == [machine]
    _collect()


def test_runs_resume_and_rerun_in_process_close_their_connections(soar, rehearsal):
    cloud, url = rehearsal
    devices = cloud.defender.tenant("contoso").devices
    pb = soar.write("isolate.yaml", ISOLATE)
    first = soar("--sim-url", url, "run", str(pb), "--input", f"machine={devices[1]['id']}", "--json")
    assert first.exit_code == 3, first.output
    run_id = json.loads(first.stdout)["run_id"]
    assert soar("approve", run_id, "isolate", "--no-resume").exit_code == 0
    resumed = soar("--sim-url", url, "runs", "resume", run_id)
    assert resumed.exit_code == 0, resumed.output
    assert _isolated(cloud) == [devices[1]["id"]]
    _collect()
    rerun = soar("--sim-url", url, "runs", "rerun", run_id, "--auto-approve", "--json")
    assert rerun.exit_code == 0, rerun.output
    assert json.loads(rerun.stdout)["rerun_of"] == run_id
    _collect()
    assert devices[1]["id"] in _isolated(cloud)


def _wait_running(soar, proc) -> str:
    from runner.store import RunStore

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        store = RunStore.open(soar.store)
        try:
            runs = store.list_runs()
        finally:
            store.close()
        if runs and runs[0].status == "running":
            time.sleep(0.5)
            return runs[0].id
        time.sleep(0.1)
    raise AssertionError("the run did not start")


def test_soar_run_exits_4_when_the_run_is_cancelled(soar):
    pb = soar.write("slow.yaml", SLOW)
    proc = soar.popen("run", str(pb))
    try:
        run_id = _wait_running(soar, proc)
        assert soar("runs", "cancel", run_id).exit_code == 0
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 4, (out, err)
    assert soar.json("runs", "show", run_id)["status"] == "cancelled"


def test_runs_resume_exits_4_when_it_ends_a_cancelled_run(soar):
    pb = soar.write("slow.yaml", SLOW)
    proc = soar.popen("run", str(pb))
    try:
        run_id = _wait_running(soar, proc)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    assert soar("runs", "cancel", run_id, "--wait", "0").exit_code == 0
    resumed = soar("runs", "resume", run_id)
    assert resumed.exit_code == 4, resumed.output
    as_json = soar("runs", "resume", run_id, "--json")
    assert as_json.exit_code == 2  # over now: nothing to resume
    assert soar("run", "--help").output.count("4 cancelled") == 1
