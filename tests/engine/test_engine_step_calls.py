"""The engine logs the API calls of each step attempt on its own record: concurrent foreach items
never see each other's calls, a failed attempt keeps the calls it made (with their error status),
a retried step has one log per attempt (the client's own resends are one call), and a step that calls no API records none."""

from __future__ import annotations

import pytest

PLAYBOOK = """
name: calls
tenants: [contoso]
inputs:
  flaky: {type: string}
steps:
  - id: machines
    action: defender.list_machines
  - id: isolate
    action: defender.isolate_machine
    foreach: "${{ steps.machines.output[:6] }}"
    concurrency: 6
    with: {machine_id: "${{ item.id }}", comment: "calls test"}
  - id: missing
    action: defender.get_machine
    on_error: continue
    with: {machine_id: "0000000000000000000000000000000000000000"}
  - id: flaky
    action: defender.get_machine
    on_error: continue
    retry: {attempts: 2, backoff: 10ms}
    with: {machine_id: "${{ inputs.flaky }}"}
  - id: note
    action: core.set
    with: {done: true}
"""


@pytest.mark.soar_cloud(defender={"time_scale": 600})
def test_each_attempt_keeps_its_own_calls(make_soar_runner):
    soar = make_soar_runner(retry={"attempts": 2, "backoff": 0.001}, auto_approve=True)
    first = soar.defender.tenant("contoso").devices[0]["id"]
    soar.defender.faults.add(f"/api/machines/{first}", status=503, times=None, method="GET")
    out = soar.run(PLAYBOOK, inputs={"flaky": first})
    assert out.status == "succeeded", out.error
    [listed] = out.records("machines")
    assert listed.calls["total"] >= 1 and all(c["path"] == "/api/machines" for c in listed.calls["calls"])
    items = out.records("isolate")
    assert len(items) == 6
    machines = set()
    for rec in items:
        posts = [c for c in rec.calls["calls"] if c["method"] == "POST"]
        [post] = posts  # its own isolate POST, none of the other items'
        machine = post["path"].split("/")[3]
        assert post["path"] == f"/api/machines/{machine}/isolate" and post["status"] == 201
        assert rec.inputs["machine_id"] == machine
        machines.add(machine)
        assert rec.calls["total"] == len(rec.calls["calls"])
    assert len(machines) == 6
    [missing] = out.records("missing")  # a failed attempt keeps its call, with the answer
    [call] = missing.calls["calls"]
    assert missing.status == "failed" and (call["method"], call["status"], call["api"]) == ("GET", 404, "mde")
    assert call["path"] == "/api/machines/0000000000000000000000000000000000000000"
    attempts = out.records("flaky")
    assert [r.attempt for r in attempts] == [1, 2] and all(r.status == "failed" for r in attempts)
    for rec in attempts:  # each attempt: its own GET (sent twice by the client), answered 503
        assert rec.calls["total"] == 1 and rec.calls["calls"][0]["status"] == 503
    assert soar.defender.count(method="GET", path=f"/api/machines/{first}") == 4
    [note] = out.records("note")
    assert note.calls is None
