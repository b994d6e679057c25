"""``soar run PLAYBOOK --replay DIR``: the shipped triage playbook, replayed against a recorded
real XDR incident and a recorded Graph incident (tests/fixtures/replay/), isolates the
incident's high-risk device and no other; a request without a recording fails loudly."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "replay"
TRIAGE = ROOT / "playbooks" / "triage-high-severity-incidents.yaml"
COLLECT = ROOT / "playbooks" / "collect-investigation-packages.yaml"
HIGH = {"xdr-incident": ("9f1e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6", "user5cx.middleeast.corp.contoso.com"),
        "graph-incident": ("c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2", "tempdns1.contoso.com")}


def soar(tmp_path: Path, *args: str):
    from runner.cli import main

    result = CliRunner().invoke(main, ["--store", f"sqlite:///{tmp_path}/soar.db", *args], catch_exceptions=False)
    return result, json.loads(result.stdout) if "--json" in args else None


@pytest.mark.parametrize("name", ["xdr-incident", "graph-incident"])
def test_triage_replayed_isolates_the_high_risk_device(tmp_path, name):
    result, doc = soar(tmp_path, "run", str(TRIAGE), "--replay", str(FIXTURES / name), "--auto-approve", "--json")
    assert result.exit_code == 0, result.output
    machine, dns = HIGH[name]
    assert doc["status"] == "succeeded"
    outputs = doc["children"]["replay"]["outputs"] if "children" in doc else doc["outputs"]
    assert outputs["isolated"] == [dns] and outputs["devices"] == 2
    isolations = [w for w in doc["replay"]["writes"] if w.endswith("/isolate")]
    assert len(isolations) == 1 and isolations[0].endswith(f"/api/machines/{machine}/isolate")
    assert doc["replay"]["not_recorded"] == [] and doc["replay"]["answered"] == doc["replay"]["requests"]


def test_collect_packages_replayed_collects_from_every_device_of_the_incident(tmp_path):
    result, doc = soar(tmp_path, "run", str(COLLECT), "--replay", str(FIXTURES / "xdr-incident"), "--json")
    assert result.exit_code == 0, result.output
    outputs = doc["children"]["replay"]["outputs"] if "children" in doc else doc["outputs"]
    assert outputs["incident"] == 924521 and len(outputs["collected"]) == 2
    posts = [w for w in doc["replay"]["writes"] if w.endswith("/collectInvestigationPackage")]
    assert len(posts) == 2 and doc["replay"]["not_recorded"] == []


def test_a_request_without_a_recording_fails_the_step_and_is_listed(tmp_path):
    partial = shutil.copytree(FIXTURES / "xdr-incident", tmp_path / "partial")
    for name in ("08-collect-user5cx.json", "10-note-incident.json"):
        (partial / name).unlink()
    result, doc = soar(tmp_path, "run", str(COLLECT), "--replay", str(partial), "--json")
    assert result.exit_code == 1
    assert any("collectInvestigationPackage" in line for line in doc["replay"]["not_recorded"])
    text = json.dumps(doc)
    assert "NotRecorded" in text and "no recording" in text


def test_recordings_answer_in_order_and_the_last_repeats(tmp_path):
    import httpx

    from runner.errors import NotRecorded
    from runner.replay import Replay

    rec = tmp_path / "rec"
    rec.mkdir()
    (rec / "a.yaml").write_text("""
request: {method: GET, path: /api/machineactions/x}
responses:
  - {status: 200, body: {status: Pending}}
  - {status: 200, body: {status: Succeeded}}
""")
    replay = Replay(rec)
    cloud = replay.cloud()
    token = cloud.issue_token("replay", "mde")
    with httpx.Client(transport=httpx.MockTransport(cloud.handler)) as client:
        url = "https://api.securitycenter.microsoft.com/api/machineactions/x"
        seen = [client.get(url, headers={"Authorization": f"Bearer {token}"}).json()["status"] for _ in range(3)]
        assert seen == ["Pending", "Succeeded", "Succeeded"]
        assert client.get(url).status_code == 401  # tokens are checked, as a tenant would
        with pytest.raises(NotRecorded):
            client.get(url + "y", headers={"Authorization": f"Bearer {token}"})
    assert [m["path"] for m in replay.missing] == ["/api/machineactions/xy"]


def test_replay_refuses_a_directory_without_recordings(tmp_path):
    result, _ = soar(tmp_path, "run", str(TRIAGE), "--replay", str(tmp_path))
    assert result.exit_code == 2 and "no recordings" in result.output


def test_shipped_and_packaged_triage_playbooks_match_the_replayed_one():
    # the demo runs the packaged copy: the replayed file is the one users get
    assert (ROOT / "plugins" / "defender" / "soar_defender" / "playbooks" / TRIAGE.name).read_text() == TRIAGE.read_text()


def test_soar_replay_fixture_runs_an_action_against_recordings(soar_replay):
    runner = soar_replay(FIXTURES / "graph-incident", auto_approve=True)
    out = runner.run(str(TRIAGE), tenant="replay")
    assert out.status == "succeeded"
    assert [r["path"] for r in runner.replay.requests("POST", "/isolate")] == [
        f"/api/machines/{HIGH['graph-incident'][0]}/isolate"]
    incident = runner.action("defender.get_incident", tenant="replay", incident_id="2972395")
    assert incident["api"] == "graph" and incident["status"] == "InProgress"


def test_soar_run_shows_the_warning_when_no_device_has_the_id(tmp_path):
    rec = shutil.copytree(FIXTURES / "xdr-incident", tmp_path / "no-ids")
    listing = json.loads((rec / "01-list-incidents.json").read_text())
    for inc in listing["response"]["body"]["value"]:
        for alert in inc["alerts"]:
            for dev in alert["devices"]:
                del dev["mdatpDeviceId"]
    (rec / "01-list-incidents.json").write_text(json.dumps(listing))
    _, doc = soar(tmp_path, "run", str(TRIAGE), "--replay", str(rec), "--auto-approve", "--json")
    steps = {s["id"]: s for s in (doc["children"]["replay"] if "children" in doc else doc)["steps"]}
    assert any("mdatpDeviceId" in w for w in steps["devices"]["warnings"])
    assert not [w for w in doc["replay"]["writes"] if w.endswith("/isolate")]
    text, _ = soar(tmp_path, "run", str(TRIAGE), "--replay", str(rec), "--auto-approve")
    assert "warning:" in text.output and "step 'devices'" in text.output and "mdatpDeviceId" in text.output
