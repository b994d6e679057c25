"""playbooks/hunt-file-hash.yaml through the CLI with --simulate: the same outputs on Graph, XDR
and MDE, the approval gate, the pre-flight role check, and hunting results feeding a foreach."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import runner.sim
from runner.sim import SimulatedCloud
from soar_defender.kql.tables import KNOWN_BAD_SHA256

PLAYBOOK = Path(__file__).resolve().parents[2] / "playbooks" / "hunt-file-hash.yaml"
HUNTING_PATHS = ("/v1.0/security/runHuntingQuery", "/api/advancedhunting/run", "/api/advancedqueries/run")


def soar(tmp_path, *args):
    from runner.cli import main

    return CliRunner().invoke(main, ["--store", f"sqlite:///{tmp_path}/s.db", *args], catch_exceptions=False)


def run_json(tmp_path, *args, code=0):
    result = soar(tmp_path, "run", *args, "--simulate", "--json")
    assert result.exit_code == code, result.output
    return json.loads(result.stdout)


def test_playbook_validates(tmp_path):
    result = soar(tmp_path, "validate", str(PLAYBOOK))
    assert result.exit_code == 0, result.output


def test_same_outputs_on_graph_xdr_and_mde(tmp_path):
    docs = {api: run_json(tmp_path, str(PLAYBOOK), "--auto-approve", "--input", f"api={api}")
            for api in ("graph", "xdr", "mde")}
    expected = SimulatedCloud().defender.hunting  # same seed and tenants as --simulate
    outputs = {}
    for api, doc in docs.items():
        assert doc["status"] == "succeeded", doc
        per_tenant = {name: t["outputs"] for name, t in doc["outputs"].items()}
        assert set(per_tenant) == {"contoso", "fabrikam"}
        for name, out in per_tenant.items():
            assert out.pop("api") == api
            bad = expected.known_bad_hosts(name)[KNOWN_BAD_SHA256]
            assert sorted(out["isolated"]) == sorted(bad) and len(out["devices"]) == len(bad) == 2
            assert out["indicator"] == KNOWN_BAD_SHA256
        outputs[api] = per_tenant
    assert outputs["graph"] == outputs["xdr"] == outputs["mde"]
    assert outputs["graph"]["contoso"]["columns"] == ["DeviceId", "DeviceName", "Executions", "FirstSeen",
                                                     "LastSeen", "Paths"]


def test_isolation_waits_for_approval(tmp_path):
    doc = run_json(tmp_path, str(PLAYBOOK), code=3)
    assert doc["status"] == "waiting_approval"
    waiting = {entry["step"] for entry in doc["waiting_approval"]}
    assert waiting == {"isolate"} and len(doc["waiting_approval"]) == 2  # one per tenant


@pytest.fixture
def no_graph_hunting(monkeypatch) -> list[SimulatedCloud]:
    """--simulate builds a cloud whose app lacks ThreatHunting.Read.All on Graph (XDR/MDE roles kept)."""
    made: list[SimulatedCloud] = []

    class NoGraphHunting(SimulatedCloud):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            for name in self.tenants:
                self.set_roles(name, "graph", ["SecurityIncident.Read.All"])
            made.append(self)

    monkeypatch.setattr(runner.sim, "SimulatedCloud", NoGraphHunting)
    return made


def test_missing_hunting_role_fails_preflight_and_calls_nothing(tmp_path, no_graph_hunting):
    made = no_graph_hunting
    result = soar(tmp_path, "run", str(PLAYBOOK), "--simulate", "--auto-approve", "--input", "api=graph",
                  "--tenant", "contoso", "--json")
    assert result.exit_code == 1, result.output
    doc = json.loads(result.stdout)
    error = doc["error"]
    assert error["type"] == "PermissionMissing" and "ThreatHunting.Read.All" in error["message"]
    assert "no API call was made" in error["message"] and error["where"]["step"] == "hunt"
    log = made[0].defender.log
    assert [e for e in log if e["path"] in HUNTING_PATHS] == []
    assert [e for e in log if e["method"] != "GET"] == []  # nothing isolated, no indicator


def test_auto_passes_preflight_with_another_hunting_role(tmp_path, no_graph_hunting):
    doc = run_json(tmp_path, str(PLAYBOOK), "--auto-approve", "--tenant", "contoso")
    assert doc["status"] == "succeeded", doc
    assert doc["outputs"]["api"] == "xdr" and len(doc["outputs"]["isolated"]) == 2
    hunts = [e for e in no_graph_hunting[0].defender.log if e["path"] in HUNTING_PATHS]
    assert [(e["api"], e["status"]) for e in hunts] == [("xdr", 200)]


LARGE = """\
name: hunt-into-foreach
tenants: [contoso]
steps:
  - id: hunt
    action: defender.run_hunting_query
    with: {query: "DeviceNetworkEvents | project DeviceId, RemoteIP | take 1000"}
  - id: each
    action: core.set
    foreach: "${{ steps.hunt.output.results }}"
    concurrency: 50
    with: {device: "${{ item.DeviceId }}", ip: "${{ item.RemoteIP }}"}
outputs:
  rows: "${{ steps.hunt.output.row_count }}"
  items: "${{ steps.each.output | length }}"
  devices: "${{ steps.each.output | map(attribute='device') | unique | list | length }}"
"""


def test_large_results_feed_a_foreach(tmp_path):
    pb = tmp_path / "large.yaml"
    pb.write_text(LARGE)
    doc = run_json(tmp_path, str(pb))
    assert doc["status"] == "succeeded", doc
    assert doc["outputs"]["rows"] == doc["outputs"]["items"] == 1000
    assert doc["outputs"]["devices"] > 5
