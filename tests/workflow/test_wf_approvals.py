"""An approval says what it asks: the message rendered with the run's context, the tenant, the
playbook, who may decide, until when, and the plan of the gated step — which action on which
items, with their inputs (secrets masked) — in `soar approvals list` (table and --json),
`GET /approvals` on `soar serve` and `soar runs show`."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "serve"))

import pytest  # noqa: E402
from serve_helpers import SECRET, Harness, run_status, signed, until  # noqa: E402


@pytest.fixture(autouse=True)
def _serve_secrets(monkeypatch):
    monkeypatch.setenv("SOAR_TEST_HOOK_SECRET", SECRET)
    monkeypatch.setenv("SOAR_TEST_API_TOKEN", "api-token-canary-51d0")

HUNT_ISOLATES = {  # the simulator's seeded devices where the known-bad dropper ran
    "contoso": {"7e4625b2656b6dac94a7aa23882e401f72bbc6be", "2dcaaaec2d21c83f49b7e5a0d0489e5b3a6aac5e"},
}


def test_approvals_list_shows_the_rendered_question_tenant_playbook_and_plan(soar, sim):
    pb = soar.playbook("hunt-file-hash.yaml")
    result = soar("run", str(pb), "--simulate")
    assert result.exit_code == 3, result.output
    pending = soar.json("approvals", "list")
    assert {a["tenant"] for a in pending} == {"contoso", "fabrikam"}
    contoso = next(a for a in pending if a["tenant"] == "contoso")
    sha = "9e45d75dc2a03dd2bda120c11e48e635de3394fb1ae9a1cbcfe0159ce61b4f5f"
    assert contoso["message"] == f"Isolate 2 device(s) in contoso where {sha} ran?"
    assert contoso["playbook"] == "hunt-file-hash" and contoso["approvers"] == []
    plan = contoso["plan"]
    assert (plan["action"], plan["effect"]) == ("defender.isolate_machine", "destructive")
    assert {e["inputs"]["machine_id"] for e in plan["items"]} == HUNT_ISOLATES["contoso"]
    assert all(e["effect"] == "destructive" and e["inputs"]["isolation_type"] == "Selective" for e in plan["items"])
    assert [e["item"] for e in plan["items"]] == [0, 1]

    table = soar("approvals", "list")  # not a terminal: plain lines, nothing cut
    assert table.exit_code == 0
    text = table.output
    assert "${{" not in text
    assert f"Isolate 2 device(s) in contoso where {sha} ran?" in text
    assert f"run {contoso['run_id']}  step isolate" in text and "tenant contoso" in text
    assert "playbook hunt-file-hash" in text and "approvers: anyone" in text
    assert "plan: defender.isolate_machine (destructive), 2 item(s)" in text
    for machine in HUNT_ISOLATES["contoso"]:
        assert machine in text
    assert f"soar approve {contoso['run_id']} isolate" in text


def test_the_plan_names_items_with_the_step_name_and_counts_the_skipped(soar, sim):
    pb = soar.playbook("triage-high-severity-incidents.yaml")
    assert soar("run", str(pb), "--simulate", "--tenant", "contoso").exit_code == 3
    [gate] = soar.json("approvals", "list")
    plan = gate["plan"]
    assert plan["items"] and plan["skipped"] > 0  # devices below the risk bar are not asked about
    assert all(e["name"].startswith("Isolate ") and "${{" not in e["name"] for e in plan["items"])
    assert gate["message"].startswith("Isolate (Selective) the devices with risk High or higher named in ")
    assert gate["message"].endswith("incident(s) in tenant contoso?")
    text = soar("approvals", "list", "--items", "1").output
    assert f"{len(plan['items']) - 1} more item(s)" in text and plan["items"][0]["name"] in text
    shown = soar("runs", "show", gate["run_id"]).output  # every item there
    assert all(e["name"] in shown for e in plan["items"])


SECRET_GATE = """
name: post-token
secrets: {tok: env:WF_TOKEN}
inputs:
  zero: {type: integer, default: 0}
steps:
  - id: post
    name: "Post to ${{ item }} with ${{ secrets.tok }}"
    action: core.set
    foreach: [alpha, beta]
    approval:
      message: "Send ${{ secrets.tok }} to ${{ inputs.zero }} host(s)?"
      approvers: [alice, bob]
      timeout: 2h
    with: {host: "${{ item }}", token: "${{ secrets.tok }}"}
  - id: odd
    action: core.set
    approval: "Divide ${{ 1 / inputs.zero }}?"
    with: {x: 1}
"""


def test_secrets_are_masked_and_approvers_and_expiry_shown(soar, monkeypatch):
    canary = "wf-canary-5e1f0c"
    monkeypatch.setenv("WF_TOKEN", canary)
    pb = soar.write("post.yaml", SECRET_GATE)
    assert soar("run", str(pb)).exit_code == 3
    [gate] = soar.json("approvals", "list")
    assert gate["message"] == "Send *** to 0 host(s)?"
    assert gate["approvers"] == ["alice", "bob"]
    requested = datetime.fromisoformat(gate["requested_at"])
    assert abs(datetime.fromisoformat(gate["expires_at"]) - requested - timedelta(hours=2)) < timedelta(seconds=5)
    assert [e["inputs"] for e in gate["plan"]["items"]] == [{"host": "alpha", "token": "***"},
                                                           {"host": "beta", "token": "***"}]
    assert [e["name"] for e in gate["plan"]["items"]] == ["Post to alpha with ***", "Post to beta with ***"]
    outputs = [soar("approvals", "list").output, soar("approvals", "list", "--json").output,
               soar("runs", "show", gate["run_id"]).output, soar("runs", "show", gate["run_id"], "--json").output]
    for text in outputs:
        assert canary not in text
    assert "approvers: alice, bob" in outputs[0] and "(in 1h 59m)" in outputs[0]


def test_a_message_that_cannot_be_rendered_is_asked_as_written_and_says_why(soar, monkeypatch):
    monkeypatch.setenv("WF_TOKEN", "x")
    pb = soar.write("post.yaml", SECRET_GATE)
    run_id = soar.json("run", str(pb), code=3)["run_id"]
    result = soar("approve", run_id, "post", "--as", "alice")
    assert result.exit_code == 3, result.output  # on to the next gate, whose message fails
    gate = next(a for a in soar.json("approvals", "list") if a["step"] == "odd")
    assert gate["message"] == "Divide ${{ 1 / inputs.zero }}?"
    assert "division by zero" in gate["plan"]["message_error"]
    text = soar("approvals", "list").output
    assert "the message could not be rendered" in text and "division by zero" in text


def test_serve_lists_what_a_gate_asks_with_the_expiry_it_applies(tmp_path):
    harness = Harness(tmp_path)
    hooked = """
name: gated
on:
  - webhook: {path: /gated, secret: env:SOAR_TEST_HOOK_SECRET}
steps:
  - id: isolate
    name: Isolate ${{ trigger.payload.host }}
    action: core.set
    approval: "Isolate ${{ trigger.payload.host }}?"
    with: {host: "${{ trigger.payload.host }}"}
"""

    async def main():
        harness.write("gated.yaml", hooked)
        service = await harness.start(api_token=_token())
        auth = {"Authorization": "Bearer api-token-canary-51d0"}
        async with harness.client() as http:
            body = json.dumps({"host": "ws-042"}).encode()
            run_id = (await http.post("/hooks/gated", content=body, headers=signed(body))).json()["run_id"]
            await until(lambda: run_status(service.store, run_id) == "waiting_approval")
            r = await http.get("/approvals", headers=auth)
            assert r.status_code == 200
            [gate] = r.json()
            assert gate["message"] == "Isolate ws-042?" and gate["step_name"] == "Isolate ws-042"
            assert gate["playbook"] == "gated" and gate["tenant"] is None
            assert gate["plan"]["items"] == [{"item": None, "effect": "read", "inputs": {"host": "ws-042"},
                                              "name": "Isolate ws-042"}]
            requested = datetime.fromisoformat(gate["requested_at"])
            assert datetime.fromisoformat(gate["expires_at"]) - requested == timedelta(hours=24)
            assert service.store.get_approval(run_id, "isolate").expires_at is not None  # stored, not only shown
        await harness.stop()

    asyncio.run(main())


def test_serve_gives_a_gate_opened_by_soar_run_the_expiry_it_applies(soar, tmp_path):
    harness = Harness(tmp_path)
    soar.store = harness.url
    pb = soar.write("gate.yaml", """
name: gate
steps:
  - id: isolate
    action: core.set
    approval: "isolate?"
    with: {x: 1}
""")
    assert soar("run", str(pb)).exit_code == 3
    [before] = soar.json("approvals", "list")
    assert before["expires_at"] is None  # nothing expires it yet

    async def main():
        service = await harness.start(approval_timeout=3600.0)
        service.approvals.sweep()
        await harness.stop()

    asyncio.run(main())
    [after] = soar.json("approvals", "list")
    requested = datetime.fromisoformat(after["requested_at"])
    assert datetime.fromisoformat(after["expires_at"]) - requested == timedelta(hours=1)


def _token():
    from runner.secrets import resolve

    return resolve("env:SOAR_TEST_API_TOKEN")
