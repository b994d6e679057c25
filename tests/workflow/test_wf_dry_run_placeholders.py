"""`soar run --dry-run` of a playbook that reads the output of a write step it does not run: the
step gets a typed placeholder (from its action's output model), the expressions that read it
still evaluate, and the plan says which values are placeholders. And an expression that reads
inside the output of a step that has none says why (skipped, when: false), not "check the name"."""

from __future__ import annotations

POST_THEN_CHECK = """\
name: post-then-check
steps:
  - id: post
    action: core.http_request
    with: {method: POST, url: "https://tickets.example.invalid/api", json: {title: phish}}
  - id: check
    action: core.fail
    when: "${{ steps.post.output.status >= 300 }}"
    with: {message: "the ticket API said ${{ steps.post.output.status }}"}
  - id: update
    action: core.http_request
    with:
      method: PUT
      url: "https://tickets.example.invalid/api/${{ steps.post.output.json.id }}"
      json: {status: "${{ steps.post.output.status }}", note: fixed text}
  - id: log
    action: core.log
    with: {message: "created ${{ steps.post.output.text }}"}
outputs:
  status: "${{ steps.post.output.status }}"
  seen: "${{ steps.post.output.json.id }}"
"""


def test_dry_run_renders_expressions_over_a_write_step_it_did_not_run(soar):
    pb = soar.write("post.yaml", POST_THEN_CHECK)
    doc = soar.json("run", str(pb), "--dry-run")  # exit 0: nothing failed
    assert doc["status"] == "succeeded"
    steps = {s["id"]: s["status"] for s in doc["steps"]}
    assert steps == {"post": "skipped", "check": "skipped", "update": "skipped", "log": "succeeded"}
    post, update = doc["plan"]
    # the placeholder later steps read: typed from core.http_request's output model
    assert post["step"] == "post" and post["output"]["status"] == 0
    assert post["output"]["text"] == "<dry-run: steps.post.output.text>"
    assert "placeholders" not in post  # its own inputs are all real
    # a later write fed by it says which of its inputs are placeholders
    assert update["step"] == "update"
    assert update["inputs"]["url"] == "https://tickets.example.invalid/api/<dry-run: steps.post.output.json.id>"
    assert update["placeholders"] == ["url", "json.status"]
    assert doc["outputs"] == {"status": 0, "seen": "<dry-run: steps.post.output.json.id>"}
    assert doc["placeholder_outputs"] == ["status", "seen"]


def test_dry_run_plan_shows_placeholders_in_the_terminal(soar):
    pb = soar.write("post.yaml", POST_THEN_CHECK)
    result = soar("run", str(pb), "--dry-run", terminal_width=400)
    assert result.exit_code == 0, result.output
    assert "has no attribute" not in result.output
    assert "output (a placeholder for later steps):" in result.output
    assert "inputs from placeholders: url, json.status" in result.output
    assert "outputs from dry-run placeholders: status, seen" in result.output


DEFENDER = """\
name: isolate-first
steps:
  - id: machines
    action: defender.list_machines
  - id: isolate
    action: defender.isolate_machine
    with: {machine_id: "${{ steps.machines.output[0].id }}", comment: soar test, isolation_type: Full}
  - id: note
    action: core.log
    with: {message: "isolation ${{ steps.isolate.output.id }} is ${{ steps.isolate.output.status }}"}
  - id: wait
    action: defender.wait_machine_action
    WHEN
    with: {action_id: "${{ steps.isolate.output.id }}"}
outputs:
  reused: "${{ steps.isolate.output.reused }}"
"""


def test_a_read_step_fed_a_placeholder_fails_with_a_hint_to_guard_it(soar, sim):
    pb = soar.write("iso.yaml", DEFENDER.replace("    WHEN\n", ""))
    doc = soar.json("run", str(pb), "--simulate", "--tenant", "contoso", "--dry-run", code=1)
    assert {s["id"]: s["status"] for s in doc["steps"]} == {
        "machines": "succeeded", "isolate": "skipped", "note": "succeeded", "wait": "failed"}
    err = doc["error"]
    assert "<dry-run: steps.isolate.output.id>" in err["message"]
    assert "input action_id holds a dry-run placeholder" in err["hint"]
    assert "when: ${{ not run.dry_run }}" in err["hint"]
    # the destructive step was planned with a placeholder of defender's MachineAction model
    (entry,) = doc["plan"]
    assert entry["effect"] == "destructive" and entry["output"]["reused"] is False
    assert entry["output"]["id"] == "<dry-run: steps.isolate.output.id>"


def test_the_guarded_read_step_is_skipped_and_the_dry_run_succeeds(soar, sim):
    pb = soar.write("iso.yaml", DEFENDER.replace("    WHEN\n", '    when: "${{ not run.dry_run }}"\n'))
    doc = soar.json("run", str(pb), "--simulate", "--tenant", "contoso", "--dry-run")
    assert doc["status"] == "succeeded"
    assert doc["outputs"] == {"reused": False}
    assert sim.defender.count(method="POST", path_suffix="/isolate") == 0  # nothing was isolated


SKIPPED = """\
name: skipped-reader
steps:
  - id: post
    action: core.set
    when: "${{ inputs.send }}"
    with: {status: 201}
  - id: check
    action: core.log
    when: "${{ steps.post.output.status >= 300 }}"
    with: {message: failed}
inputs:
  send: {type: boolean, default: false}
"""


def test_reading_a_skipped_steps_output_says_it_was_skipped(soar):
    pb = soar.write("skip.yaml", SKIPPED)
    result = soar("run", str(pb), terminal_width=400)
    assert result.exit_code == 1
    out = " ".join(result.output.split())
    assert "step 'post' was skipped (when: false) and has no output" in out
    assert "check the name" not in out


def test_reading_an_unused_handlers_output_says_why_instead_of_crashing(soar):
    pb = soar.write("handler.yaml", """\
name: handler-reader
steps:
  - id: work
    action: core.set
    on_error: cleanup
    with: {ok: true}
  - id: cleanup
    action: core.set
    with: {done: true}
outputs:
  cleaned: "${{ steps.cleanup.output.done }}"
""")
    doc = soar.json("run", str(pb), code=1)
    assert doc["steps"][1] == {"id": "cleanup", "status": "skipped"}  # not an internal error
    assert "internal error" not in doc["error"]["message"]
    assert "step 'cleanup' was skipped (an on_error handler no failed step routed to)" in doc["error"]["hint"]


GATED_READ = """\
name: gated-read
steps:
  - id: say
    action: core.log
    with: {message: hi}
    approval: {message: "ok?"}
"""


def test_dry_run_opens_no_approval_gate_and_says_a_real_run_would_wait(soar):
    pb = soar.write("gated.yaml", GATED_READ)
    doc = soar.json("run", str(pb), "--dry-run")
    assert doc["status"] == "succeeded"  # not waiting_approval: a dry run never waits for anyone
    step = doc["steps"][0]
    assert step["status"] == "succeeded"
    assert any("a real run waits for approval here" in w for w in step.get("warnings", [])), step
    assert soar.json("approvals", "list") == []
