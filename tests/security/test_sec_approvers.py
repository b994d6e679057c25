"""Issue #13, finding 3: `approvers: [alice]` was stored but never checked — `soar approve --as
mallory` and `POST /approvals/...` with `"actor": "mallory"` approved, and the write ran.

The check lives in the one function every human decision goes through
(`RunStore.decide_approval`): a refused decision changes nothing, is audited
(`approval.refused`), and the error names who may decide.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from click.testing import CliRunner
from serve_helpers import Harness, run_status, signed, until

from runner.errors import SoarError
from runner.secrets import resolve


GATED_WRITE = """
name: gated-write
steps:
  - id: isolate
    action: test.record
    approval: {message: "isolate?", approvers: [alice, bob]}
    with: {marker: isolated}
"""


@pytest.fixture
def cli(test_plugin):
    tmp_path = test_plugin

    def soar(*args: str):
        from runner.cli import main

        return CliRunner().invoke(main, ["--store", f"sqlite:///{tmp_path}/soar.db", *args],
                                  catch_exceptions=False)

    soar.ledger = lambda: (tmp_path / "ledger.txt").read_text().splitlines() \
        if (tmp_path / "ledger.txt").exists() else []
    soar.tmp = tmp_path
    return soar


def _start_gated(cli) -> str:
    pb = cli.tmp / "gated.yaml"
    pb.write_text(GATED_WRITE)
    r = cli("run", str(pb), "--json")
    assert r.exit_code == 3, r.output  # waiting for an approval
    return json.loads(r.stdout)["run_id"]


def _show(cli, run_id: str) -> dict:
    return json.loads(cli("runs", "show", run_id, "--json").stdout)


def test_cli_approve_as_someone_not_among_the_approvers_is_refused(cli):
    run_id = _start_gated(cli)
    r = cli("approve", run_id, "isolate", "--as", "mallory")
    assert r.exit_code != 0, r.output
    assert "'mallory' may not decide" in r.output and "alice, bob" in r.output
    assert cli.ledger() == [], "the gated write ran on mallory's approval"
    doc = _show(cli, run_id)
    assert doc["status"] == "waiting_approval"
    refused = [e for e in doc["events"] if e["kind"] == "approval.refused"]
    assert refused and refused[0]["actor"] == "mallory" and refused[0]["data"]["decision"] == "approve"
    # deny is a decision too
    r = cli("deny", run_id, "isolate", "--as", "mallory", "--no-resume")
    assert r.exit_code != 0 and "may not decide" in r.output
    [pending] = json.loads(cli("approvals", "list", "--json").stdout)
    assert pending["run_id"] == run_id and pending["approvers"] == ["alice", "bob"]


def test_cli_approve_defaults_to_the_os_user_and_is_checked_too(cli, monkeypatch):
    monkeypatch.setattr("getpass.getuser", lambda: "mallory")
    run_id = _start_gated(cli)
    r = cli("approve", run_id, "isolate")
    assert r.exit_code != 0 and "'mallory' may not decide" in r.output
    assert cli.ledger() == []


def test_cli_approve_by_a_named_approver_runs_the_step(cli):
    run_id = _start_gated(cli)
    r = cli("approve", run_id, "isolate", "--as", "alice", "--reason", "confirmed")
    assert r.exit_code == 0, r.output
    assert cli.ledger() == ["isolated"]
    doc = _show(cli, run_id)
    assert doc["status"] == "succeeded"
    assert [e["actor"] for e in doc["events"] if e["kind"] == "approval.approved"] == ["alice"]


def test_library_callers_go_through_the_same_check(cli):
    from runner.store import RunStore

    run_id = _start_gated(cli)
    store = RunStore.open(f"sqlite:///{cli.tmp}/soar.db")
    try:
        with pytest.raises(SoarError, match="may not decide") as info:
            store.decide_approval(run_id, "isolate", approved=True, actor="mallory")
        assert type(info.value).__name__ == "NotAnApprover"
        assert store.get_approval(run_id, "isolate").status == "pending"
        assert store.decide_approval(run_id, "isolate", approved=False, actor="bob").status == "denied"
    finally:
        store.close()


HOOKED_GATE = """
name: gated
on:
  - webhook: {path: /gated, secret: env:SOAR_TEST_HOOK_SECRET}
steps:
  - id: isolate
    action: core.set
    approval: {message: "isolate?", approvers: [alice]}
    with: {isolated: true}
"""


def test_http_decision_by_someone_not_among_the_approvers_is_refused(tmp_path):
    harness = Harness(tmp_path)

    async def main():
        harness.write("gated.yaml", HOOKED_GATE)
        service = await harness.start(api_token=resolve("env:SOAR_TEST_API_TOKEN"))
        auth = {"Authorization": "Bearer api-token-canary-51d0"}
        async with harness.client() as http:
            body = b"{}"
            run_id = (await http.post("/hooks/gated", content=body, headers=signed(body))).json()["run_id"]
            await until(lambda: run_status(service.store, run_id) == "waiting_approval")
            r = await http.post(f"/approvals/{run_id}/isolate", headers=auth,
                                json={"decision": "approve", "actor": "mallory"})
            assert r.status_code == 403, r.text
            assert "alice" in r.json()["message"] + r.json().get("hint", "")
            r = await http.post(f"/approvals/{run_id}/isolate", headers=auth, json={"decision": "approve"})
            assert r.status_code == 403, r.text  # no actor at all is not an approver either
            await asyncio.sleep(0.2)  # give a wrongly continued run time to go on
            assert run_status(service.store, run_id) == "waiting_approval"
            assert service.store.get_approval(run_id, "isolate").status == "pending"
            assert not [s for s in service.store.step_records(run_id) if s.step_id == "isolate"]
            r = await http.post(f"/approvals/{run_id}/isolate", headers=auth,
                                json={"decision": "approve", "actor": "alice"})
            assert r.status_code == 200, r.text
            await until(lambda: run_status(service.store, run_id) == "succeeded", what="the approved run")
        kinds = [(e.kind, e.actor) for e in service.store.events(run_id) if e.kind.startswith("approval.")]
        assert ("approval.refused", "mallory") in kinds and ("approval.approved", "alice") in kinds
        await harness.stop()

    asyncio.run(main())


def test_a_personal_token_decides_as_its_approver_whatever_the_body_claims(tmp_path, monkeypatch):
    monkeypatch.setenv("SOAR_TEST_ALICE_TOKEN", "alice-token-3b9e")
    monkeypatch.setenv("SOAR_TEST_MALLORY_TOKEN", "mallory-token-77c1")
    harness = Harness(tmp_path)

    async def main():
        harness.write("gated.yaml", HOOKED_GATE)
        service = await harness.start(approver_tokens={"alice": resolve("env:SOAR_TEST_ALICE_TOKEN"),
                                                       "mallory": resolve("env:SOAR_TEST_MALLORY_TOKEN")})
        async with harness.client() as http:
            body = b"{}"
            run_id = (await http.post("/hooks/gated", content=body, headers=signed(body))).json()["run_id"]
            await until(lambda: run_status(service.store, run_id) == "waiting_approval")
            assert (await http.get("/approvals", headers={"Authorization": "Bearer nope"})).status_code == 401
            mallory = {"Authorization": "Bearer mallory-token-77c1"}
            assert (await http.get("/approvals", headers=mallory)).status_code == 200
            r = await http.post(f"/approvals/{run_id}/isolate", headers=mallory,
                                json={"decision": "approve", "actor": "alice"})  # claims to be alice
            assert r.status_code == 403, r.text
            assert service.store.get_approval(run_id, "isolate").status == "pending"
            alice = {"Authorization": "Bearer alice-token-3b9e"}
            r = await http.post(f"/approvals/{run_id}/isolate", headers=alice,
                                json={"decision": "approve", "actor": "someone-else"})
            assert r.status_code == 200, r.text
            await until(lambda: run_status(service.store, run_id) == "succeeded", what="the approved run")
        record = service.store.get_approval(run_id, "isolate")
        assert record.decided_by == "alice"
        refused = [e.actor for e in service.store.events(run_id) if e.kind == "approval.refused"]
        assert refused == ["mallory"]
        await harness.stop()

    asyncio.run(main())
