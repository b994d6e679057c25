"""The testing kit (runner.testing): its fixtures, its results, and its entry point."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from runner.testing import RunOutcome


@pytest.mark.soar_cloud(["alpha", "beta", "gamma"], defender={"devices_per_tenant": 4})
def test_marker_configures_the_cloud(soar_cloud, soar_runner):
    assert list(soar_cloud.tenants) == ["alpha", "beta", "gamma"]
    assert soar_runner.cloud is soar_cloud and soar_runner.tenants() == ["alpha", "beta", "gamma"]
    assert len(soar_cloud.defender.tenant("beta").devices) == 4


@pytest.mark.parametrize("soar_cloud", [2, {"tenants": ["solo"]}], indirect=True)
def test_indirect_parameter_configures_the_cloud(soar_cloud):
    assert len(soar_cloud.tenants) in (1, 2)
    assert list(soar_cloud.tenants) in (["tenant-01", "tenant-02"], ["solo"])


def test_default_cloud_is_the_demo_tenants(soar_cloud):
    assert list(soar_cloud.tenants) == ["contoso", "fabrikam"]


def test_soar_action_calls_one_action_for_one_tenant(soar_cloud, soar_action):
    machines = soar_action("defender.list_machines", tenant="fabrikam")
    assert isinstance(machines, list) and machines
    assert {m["id"] for m in machines} == {d["id"] for d in soar_cloud.defender.tenant("fabrikam").devices}
    assert {e["tenant"] for e in soar_cloud.defender.log} == {"fabrikam"}


def test_run_yaml_text_across_tenants(soar_runner):
    out = soar_runner.run("""
name: count-machines
tenants: all
inputs:
  risk: {type: string, default: High}
steps:
  - id: machines
    action: defender.list_machines
  - id: risky
    action: core.set
    with: {n: "${{ steps.machines.output | selectattr('riskScore', 'eq', inputs.risk) | list | length }}"}
outputs:
  risky: "${{ steps.risky.output.n }}"
""", inputs={"risk": "Low"})
    assert isinstance(out, RunOutcome) and out.status == "succeeded"
    assert set(out.children) == {"contoso", "fabrikam"}
    assert out.steps == {"machines": "succeeded", "risky": "succeeded"}
    for tenant, child in out.children.items():
        devices = soar_runner.defender.tenant(tenant).devices
        assert child.outputs == {"risky": sum(d["riskScore"] == "Low" for d in devices)}
        assert len(child.output("machines")) == len(devices)
    assert soar_runner.token_requests == 2
    assert soar_runner.api_stats()["total_calls"] >= 2


def test_destructive_steps_wait_for_approval_unless_auto_approved(soar_runner):
    playbook = """
name: isolate-one
tenants: [contoso]
steps:
  - id: isolate
    action: defender.isolate_machine
    with: {machine_id: "${{ inputs.machine }}"}
inputs:
  machine: {type: string}
"""
    machine = soar_runner.defender.tenant("contoso").devices[0]["id"]
    waiting = soar_runner.run(playbook, inputs={"machine": machine})
    assert waiting.status == "waiting_approval"
    assert soar_runner.defender.count(method="POST", path_suffix="/isolate") == 0
    done = soar_runner.run(playbook, inputs={"machine": machine}, auto_approve=True)
    assert done.status == "succeeded" and done.failed() == []
    assert soar_runner.defender.count(method="POST", path_suffix="/isolate", machine_id=machine) == 1


def test_a_failed_step_is_reported_with_its_location(soar_runner):
    out = soar_runner.run("""
name: bad-machine
tenants: [contoso]
steps:
  - id: get
    action: defender.get_machine
    with: {machine_id: "0000000000000000000000000000000000000000"}
""")
    assert out.status == "failed"
    assert [r.step_id for r in out.failed()] == ["get"]
    assert out.error.where.step == "get" and out.error.where.tenant == "contoso"
    assert "not found" in out.error.message


def test_importing_the_plugin_loads_nothing_heavy():
    code = ("import sys, runner.testing; print(sorted(m for m in ('runner.sim', 'runner.engine', 'httpx', "
            "'msal', 'sqlalchemy', 'pydantic', 'jinja2') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_a_project_gets_the_fixtures_from_the_entry_point(tmp_path):
    """A project with only soar-runner installed (no conftest of ours) gets the fixtures."""
    (tmp_path / "test_theirs.py").write_text(textwrap.dedent("""
        import pytest

        @pytest.mark.soar_cloud(["acme"])
        def test_uses_the_kit(soar_runner, soar_action):
            assert soar_runner.tenants() == ["acme"]
            assert soar_action("entra.get_token", api="mde")["tenant"] == "acme"
    """))
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--strict-markers",
                           "-W", "error", str(tmp_path)], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path, env={**os.environ, "PYTHONPATH": ""})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout
