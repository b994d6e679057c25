"""The engine, felt through the CLI: playbooks in files, `soar run`, the store, exit codes."""

from __future__ import annotations

import json


def test_hello_playbook_runs(soar):
    import shutil
    from pathlib import Path

    src = Path(__file__).parents[2] / "playbooks" / "hello.yaml"
    pb = shutil.copy(src, soar.tmp / "hello.yaml")
    doc = soar.json("run", str(pb), "--input", "min_risk=Medium")
    assert doc["status"] == "succeeded"
    assert doc["outputs"] == {"risky": ["ws-001.contoso.com", "srv-db-01.contoso.com"], "count": 2, "of": 3}
    ids = [s["id"] for s in doc["steps"]]
    assert {"devices", "ranks", "enrich", "count", "names", "report", "picked"} <= set(ids)


def test_types_survive_single_expressions_and_interpolate_in_strings(soar):
    pb = soar.write("t.yaml", """
name: types
inputs:
  n: {type: integer, default: 2}
steps:
  - id: a
    action: core.set
    with: {list: [1, 2, 3], map: {k: v}, n: "${{ inputs.n }}"}
  - id: b
    action: core.set
    with:
      same_list: "${{ steps.a.output.list }}"
      same_map: "${{ steps.a.output.map }}"
      number: "${{ steps.a.output.n * 10 }}"
      text: "n=${{ steps.a.output.n }} list=${{ steps.a.output.list }}"
outputs:
  b: "${{ steps.b.output }}"
""")
    doc = soar.json("run", str(pb), "--input", "n=4")
    assert doc["outputs"]["b"] == {"same_list": [1, 2, 3], "same_map": {"k": "v"}, "number": 40,
                                   "text": "n=4 list=[1, 2, 3]"}


def test_manual_run_offers_every_documented_trigger_key(soar):
    pb = soar.write("trig.yaml", """
name: trig
steps:
  - id: a
    action: core.set
    with: {since: "${{ trigger.since or 'none' }}", type: "${{ trigger.type }}", payload: "${{ trigger.payload }}"}
outputs:
  a: "${{ steps.a.output }}"
""")
    doc = soar.json("run", str(pb))
    assert doc["status"] == "succeeded"
    assert doc["outputs"]["a"] == {"since": "none", "type": "manual", "payload": None}


def test_foreach_when_concurrency_keeps_item_order(soar):
    pb = soar.write("f.yaml", """
name: each
steps:
  - id: each
    action: core.set
    foreach: "${{ range(50) | list }}"
    concurrency: 10
    when: "${{ item % 5 == 0 }}"
    with: {i: "${{ item }}", idx: "${{ index }}"}
outputs:
  got: "${{ steps.each.output | map(attribute='i') | list }}"
""")
    doc = soar.json("run", str(pb))
    assert doc["outputs"]["got"] == [0, 5, 10, 15, 20, 25, 30, 35, 40, 45]


def test_when_false_skips_with_null_output(soar):
    pb = soar.write("w.yaml", """
name: skip
steps:
  - id: a
    action: core.set
    when: false
    with: {x: 1}
  - id: b
    action: core.set
    with: {a_status: "${{ steps.a.status }}", a_out: "${{ steps.a.output }}"}
outputs: {b: "${{ steps.b.output }}"}
""")
    doc = soar.json("run", str(pb))
    assert doc["outputs"]["b"] == {"a_status": "skipped", "a_out": None}


def test_retry_then_succeed_records_every_attempt(soar):
    pb = soar.write("r.yaml", """
name: retry
steps:
  - id: flaky
    action: test.flaky
    with: {key: r1, fail_times: 2}
    retry: {attempts: 3, backoff: 10ms}
""")
    doc = soar.json("run", str(pb))
    assert doc["status"] == "succeeded"
    show = soar.json("runs", "show", doc["run_id"])
    attempts = [(s["attempt"], s["status"]) for s in show["steps"] if s["step_id"] == "flaky"]
    assert attempts == [(1, "failed"), (2, "failed"), (3, "succeeded")]


def test_retry_exhausted_fails_with_located_error_exit_1(soar):
    pb = soar.write("r2.yaml", """
name: retry-fail
steps:
  - id: flaky
    action: test.flaky
    with: {key: r2, fail_times: 5}
    retry: {attempts: 2, backoff: 1ms}
""")
    doc = soar.json("run", str(pb), code=1)
    assert doc["status"] == "failed"
    err = doc["error"]
    assert err["where"]["step"] == "flaky"
    assert err["where"]["file"].endswith("r2.yaml") and err["where"]["line"] == 4
    assert "transient failure 2 of r2" in err["message"]


def test_timeout(soar):
    pb = soar.write("to.yaml", """
name: slow
steps:
  - id: nap
    action: core.sleep
    with: {duration: 5s}
    timeout: 50ms
""")
    doc = soar.json("run", str(pb), code=1)
    assert "timed out after 0.05s" in doc["error"]["message"]


def test_on_error_continue_and_handler(soar):
    pb = soar.write("oe.yaml", """
name: errors
steps:
  - id: bad
    action: core.fail
    with: {message: first}
    on_error: continue
  - id: worse
    action: core.fail
    with: {message: second}
    on_error: cleanup
  - id: after
    action: core.set
    with: {bad: "${{ steps.bad.status }}", worse_error: "${{ steps.worse.error }}"}
  - id: cleanup
    action: core.set
    with: {handled: "${{ steps.worse.error }}"}
outputs:
  after: "${{ steps.after.output }}"
  cleanup: "${{ steps.cleanup.output }}"
""")
    doc = soar.json("run", str(pb))
    assert doc["status"] == "succeeded"
    assert doc["outputs"]["after"]["bad"] == "failed"
    assert doc["outputs"]["after"]["worse_error"] == "second"
    assert doc["outputs"]["cleanup"] == {"handled": "second"}
    statuses = {s["id"]: s["status"] for s in doc["steps"]}
    assert statuses["bad"] == "failed" and statuses["worse"] == "failed"


def test_action_bug_is_reported_not_a_traceback(soar):
    pb = soar.write("x.yaml", "name: boom\nsteps:\n  - id: x\n    action: test.explode\n")
    result = soar("run", str(pb))
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "action 'test.explode' raised KeyError" in result.output


def test_runtime_expression_error_is_located(soar):
    pb = soar.write("e.yaml", """
name: expr
steps:
  - id: a
    action: core.set
    with: {x: {y: 1}}
  - id: b
    action: core.set
    with:
      z: "${{ steps.a.output.x.nope }}"
""")
    result = soar("run", str(pb))
    assert result.exit_code == 1
    assert "e.yaml:10:7" in result.output and "step 'b'" in result.output
    assert "'steps.a.output.x' has no key 'nope'" in result.output
    assert "Traceback" not in result.output


def test_invalid_playbook_exits_2_with_location(soar):
    pb = soar.write("bad.yaml", "name: bad\nsteps:\n  - id: a\n    action: core.sett\n")
    result = soar("run", str(pb))
    assert result.exit_code == 2
    assert "bad.yaml:4" in result.output and "core.sett" in result.output


def test_missing_input_and_bad_input_type_exit_2(soar):
    pb = soar.write("in.yaml", "name: inp\ninputs:\n  n: {type: integer}\nsteps:\n  - id: a\n    action: core.set\n    with: {n: '${{ inputs.n }}'}\n")
    r = soar("run", str(pb))
    assert r.exit_code == 2 and "needs input 'n'" in r.output
    r = soar("run", str(pb), "--input", "n=ten")
    assert r.exit_code == 2 and "input 'n' must be of type integer" in r.output


def test_subplaybook_outputs_and_child_run(soar):
    soar.write("child.yaml", """
name: child
inputs:
  x: {type: integer}
steps:
  - id: double
    action: core.set
    with: {v: "${{ inputs.x * 2 }}"}
outputs:
  v: "${{ steps.double.output.v }}"
""")
    pb = soar.write("parent.yaml", """
name: parent
steps:
  - id: sub
    action: core.playbook
    foreach: [1, 2, 3]
    with: {playbook: child, inputs: {x: "${{ item }}"}}
outputs:
  vs: "${{ steps.sub.output | map(attribute='v') | list }}"
""")
    doc = soar.json("run", str(pb))
    assert doc["outputs"]["vs"] == [2, 4, 6]
    listing = soar.json("runs", "show", doc["run_id"])
    assert len(listing["children"]) == 3 and all(c["playbook"] == "child" for c in listing["children"])


def test_dry_run_executes_reads_and_plans_writes(soar):
    pb = soar.write("d.yaml", """
name: plan
steps:
  - id: read
    action: core.set
    with: {targets: [a, b]}
  - id: write
    action: test.record
    foreach: "${{ steps.read.output.targets }}"
    with: {marker: "m-${{ item }}"}
""")
    doc = soar.json("run", str(pb), "--dry-run")
    assert doc["status"] == "succeeded"
    assert soar.ledger() == []  # nothing was sent
    assert [(p["step"], p["action"], p["inputs"]["marker"]) for p in doc["plan"]] == [
        ("write", "test.record", "m-a"), ("write", "test.record", "m-b")]
    human = soar("run", str(pb), "--dry-run")
    assert "dry-run plan" in human.output and "m-b" in human.output


def test_destructive_step_waits_for_approval_then_approve_resumes(soar):
    pb = soar.write("ap.yaml", """
name: gate
steps:
  - id: prep
    action: test.record
    with: {marker: prep}
  - id: nuke
    action: test.destroy
    with: {marker: nuke}
outputs:
  done: "${{ steps.nuke.output.marker }}"
""")
    doc = soar.json("run", str(pb), code=3)
    assert doc["status"] == "waiting_approval"
    assert doc["waiting_approval"] == [{"run_id": doc["run_id"], "step": "nuke"}]
    assert soar.ledger() == ["prep"]
    r = soar("approve", doc["run_id"], "nuke", "--as", "alice", "--reason", "ticket 42")
    assert r.exit_code == 0, r.output
    assert soar.ledger() == ["prep", "nuke"]  # prep was not sent again
    show = soar.json("runs", "show", doc["run_id"])
    assert show["status"] == "succeeded" and show["outputs"] == {"done": "nuke"}
    decided = [e for e in show["events"] if "approv" in e["kind"]]
    assert any(e["actor"] == "alice" for e in decided)


def test_deny_fails_the_step(soar):
    pb = soar.write("dn.yaml", "name: gate2\nsteps:\n  - id: nuke\n    action: test.destroy\n    with: {marker: x}\n")
    doc = soar.json("run", str(pb), code=3)
    r = soar("deny", doc["run_id"], "nuke", "--as", "bob", "--reason", "not today")
    assert r.exit_code == 1
    assert "approval denied by bob: not today" in r.output
    assert soar.ledger() == []


def test_approval_opt_out_and_explicit_gate(soar):
    pb = soar.write("ao.yaml", """
name: gates
approvals: {destructive: false}
steps:
  - id: nuke
    action: test.destroy
    with: {marker: n1}
  - id: ask
    action: core.set
    approval: "really?"
    with: {x: 1}
""")
    doc = soar.json("run", str(pb), code=3)
    assert soar.ledger() == ["n1"]
    assert doc["waiting_approval"][0]["step"] == "ask"


def test_canary_secret_never_leaks(soar, monkeypatch):
    canary = "canary-7f3e9a1b2c4d"
    monkeypatch.setenv("CANARY_TOKEN", canary)
    pb = soar.write("s.yaml", """
name: secrets
secrets: {tok: env:CANARY_TOKEN}
steps:
  - id: use
    action: test.echo
    with: {value: "Bearer ${{ secrets.tok }}"}
  - id: log
    action: core.log
    with: {message: "token is ${{ secrets.tok }}"}
  - id: fail
    action: core.fail
    with: {message: "failed with ${{ secrets.tok }}"}
outputs:
  echoed: "${{ steps.use.output.value }}"
""")
    result = soar("-vv", "run", str(pb), "--json")
    assert result.exit_code == 1
    assert canary not in result.output and canary not in result.stderr
    doc = json.loads(result.stdout)
    assert doc["error"]["message"] == "failed with ***"
    show = soar("runs", "show", doc["run_id"], "--json")
    assert canary not in show.output
    raw = (soar.tmp / "soar.db").read_bytes()
    for suffix in ("-wal", "-shm"):
        p = soar.tmp / f"soar.db{suffix}"
        if p.exists():
            raw += p.read_bytes()
    assert canary.encode() not in raw
    assert b"***" in raw


def test_missing_secret_is_a_clear_error(soar, monkeypatch):
    monkeypatch.delenv("NOPE_SECRET", raising=False)
    pb = soar.write("ms.yaml", "name: ms\nsecrets: {x: env:NOPE_SECRET}\nsteps:\n  - id: a\n    action: core.set\n    with: {v: '${{ secrets.x }}'}\n")
    r = soar("run", str(pb))
    assert r.exit_code == 2
    assert "'env:NOPE_SECRET' is not set" in r.output and "ms.yaml:2" in r.output


def test_runs_list_and_unknown_run(soar):
    pb = soar.write("l.yaml", "name: listed\nsteps:\n  - id: a\n    action: core.set\n    with: {x: 1}\n")
    doc = soar.json("run", str(pb))
    runs = soar.json("runs", "list")
    assert runs[0]["run_id"] == doc["run_id"] and runs[0]["status"] == "succeeded"
    r = soar("runs", "show", "r-doesnotexist")
    assert r.exit_code == 2 and "Traceback" not in r.output
