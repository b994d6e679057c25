"""A run remembers how it was started — simulated or not, its config file, --sim-url — so
`soar approve`, `soar deny` and `soar runs resume` continue it from the store alone, without the
original flags (`--auto-approve` is never inherited)."""

from __future__ import annotations

import os

GATED = """
name: gated-core
tenants: [acme]
steps:
  - id: look
    action: core.set
    with: {tenant: "${{ tenant.name }}"}
  - id: act
    action: core.set
    approval: "Act in ${{ tenant.name }}?"
    with: {done: true}
outputs:
  tenant: "${{ steps.look.output.tenant }}"
  done: "${{ steps.act.output.done }}"
"""

CONFIG = """
tenants:
  acme: {id: 3f0a8d8e-6a3c-4c59-9a38-2f3d9f1b7c11}
"""


def test_the_approve_command_soar_run_simulate_prints_continues_the_run(soar, sim):
    pb = soar.playbook("hunt-file-hash.yaml")
    started = soar("run", str(pb), "--simulate")
    assert started.exit_code == 3, started.output
    parent = soar.json("runs", "list")[0]["run_id"]
    assert soar.json("runs", "show", parent)["origin"]["simulate"] is True
    result = soar("approve", parent, "isolate")  # as printed: no --simulate
    assert result.exit_code == 0, result.output
    assert "internal error" not in result.output
    doc = soar.json("runs", "show", parent)
    assert doc["status"] == "succeeded"
    isolated = [m for c in doc["outputs"].values() for m in c["outputs"]["isolated"]]
    assert len(isolated) == 4


def test_runs_resume_and_deny_continue_a_simulated_run_without_flags(soar, sim):
    pb = soar.playbook("hunt-file-hash.yaml")
    assert soar("run", str(pb), "--simulate").exit_code == 3
    gates = {a["tenant"]: a["run_id"] for a in soar.json("approvals", "list")}
    assert soar("approve", gates["contoso"], "isolate", "--no-resume").exit_code == 0
    denied = soar("deny", gates["fabrikam"], "isolate", "--reason", "not this one")
    assert denied.exit_code == 1, denied.output  # fabrikam's isolate fails, so the run does
    parent = soar.json("runs", "list")[0]["run_id"]
    doc = soar.json("runs", "show", parent)
    statuses = {c["tenant"]: c["status"] for c in doc["children"]}
    assert statuses == {"contoso": "succeeded", "fabrikam": "failed"}
    again = soar("runs", "resume", parent)
    assert again.exit_code == 2 and "nothing to resume" in again.output


def test_a_run_started_with_a_config_file_continues_with_it_from_anywhere(soar, tmp_path, monkeypatch):
    (tmp_path / "ops").mkdir()
    config = tmp_path / "ops" / "soar.yaml"
    config.write_text(CONFIG)
    pb = soar.write("gated.yaml", GATED)
    started = soar("--config", str(config.relative_to(tmp_path)), "run", str(pb))
    assert started.exit_code == 3, started.output
    run_id = soar.json("runs", "list")[0]["run_id"]
    origin = soar.json("runs", "show", run_id)["origin"]
    assert origin["config"] == str(config) and os.path.isabs(origin["config"]) and origin["simulate"] is False
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # no soar.yaml here, no --config given
    result = soar("approve", run_id, "act")
    assert result.exit_code == 0, result.output
    assert soar.json("runs", "show", run_id)["outputs"] == {"tenant": "acme", "done": True}


def test_a_gone_config_file_is_a_clear_error(soar, tmp_path):
    config = tmp_path / "soar-old.yaml"
    config.write_text(CONFIG)
    pb = soar.write("gated.yaml", GATED)
    assert soar("--config", str(config), "run", str(pb)).exit_code == 3
    run_id = soar.json("runs", "list")[0]["run_id"]
    config.unlink()
    result = soar("approve", run_id, "act")
    assert result.exit_code == 2, result.output
    assert "soar-old.yaml, which is gone" in result.output and "--config" in result.output


def test_a_flag_given_to_the_continuing_command_wins_and_is_said(soar):
    pb = soar.write("plain.yaml", """
name: plain
steps:
  - id: act
    action: core.set
    approval: "go?"
    with: {done: true}
""")
    assert soar("run", str(pb)).exit_code == 3
    run_id = soar.json("runs", "list")[0]["run_id"]
    result = soar("approve", run_id, "act", "--simulate")
    assert result.exit_code == 0, result.output
    assert "continuing it against the simulated cloud, as --simulate asks" in result.output


def test_auto_approve_is_not_inherited(soar, sim):
    pb = soar.write("plain.yaml", """
name: plain
steps:
  - id: act
    action: core.set
    approval: "go?"
    with: {done: true}
""")
    first = soar.json("run", str(pb), "--simulate", "--auto-approve")
    assert first["status"] == "succeeded"
    origin = soar.json("runs", "show", first["run_id"])["origin"]
    assert origin["simulate"] is True and "auto_approve" not in origin
    again = soar("runs", "rerun", first["run_id"])
    assert again.exit_code == 3, again.output  # the gate asks again
