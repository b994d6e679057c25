"""`after_tenants:` — steps a multi-tenant playbook runs once, after every tenant's run has
finished, with every tenant's results in `${{ tenants }}` (one message for all customers);
`tenants: none` for a playbook that acts on no tenant. Through `soar run --simulate`
(tenants contoso and fabrikam), `soar approve` and `soar validate`."""

from __future__ import annotations

import json

SUMMARY = """\
name: summary
inputs:
  break: {type: string, default: ""}
steps:
  - id: count
    action: core.set
    with: {tenant: "${{ tenant.name }}", incidents: "${{ tenant.name | length }}"}
  - id: boom
    action: core.fail
    when: "${{ tenant.name == inputs.break }}"
    with: {message: "${{ tenant.name }} broke"}
after_tenants:
  - id: message
    action: core.set
    with:
      text: >-
        ${{ tenants | dictsort | map('last') | map(attribute='status') | join(',') }}
      total: "${{ tenants.values() | selectattr('status', 'eq', 'succeeded') | map(attribute='outputs.incidents') | sum }}"
      failed: "${{ tenants | dictsort | selectattr('1.status', 'eq', 'failed') | map('first') | list }}"
      errors: "${{ tenants.values() | map(attribute='error') | select | list }}"
      runs: "${{ tenants.values() | map(attribute='run_id') | list }}"
  - id: post
    action: core.log
    with: {message: "one message for all customers: ${{ steps.message.output.text }}"}
outputs:
  incidents: "${{ steps.count.output.incidents }}"
  total: "${{ steps.message.output.total }}"
  failed: "${{ steps.message.output.failed }}"
"""


def test_after_tenant_steps_run_once_with_every_tenants_outputs(soar, sim):
    pb = soar.write("summary.yaml", SUMMARY)
    doc = soar.json("run", str(pb), "--simulate")
    assert doc["status"] == "succeeded"
    # the parent ran the after-tenant steps, once; each tenant ran only its own steps
    assert [s["id"] for s in doc["steps"]] == ["message", "post"]
    assert {t: [s["id"] for s in c["steps"]] for t, c in doc["tenants"].items()} == {
        "contoso": ["count", "boom"], "fabrikam": ["count", "boom"]}
    # summary outputs are the parent's; tenant outputs stay with each tenant
    assert doc["outputs"] == {"total": 15, "failed": []}
    assert doc["tenants"]["contoso"]["outputs"] == {"incidents": 7}
    # the step records live under the parent run
    shown = soar.json("runs", "show", doc["run_id"])
    parent_steps = [s for s in shown["steps"] if s["run_id"] == doc["run_id"]]
    assert [(s["step_id"], s["status"]) for s in parent_steps] == [("message", "succeeded"), ("post", "succeeded")]
    message = next(s for s in parent_steps if s["step_id"] == "message")["output"]
    assert message["runs"] == [doc["tenants"]["contoso"]["run_id"], doc["tenants"]["fabrikam"]["run_id"]]


def test_after_tenant_steps_see_a_failed_tenant_and_the_run_fails(soar, sim):
    pb = soar.write("summary.yaml", SUMMARY)
    doc = soar.json("run", str(pb), "--simulate", "--input", "break=fabrikam", code=1)
    assert doc["status"] == "failed"
    assert [s["status"] for s in doc["steps"]] == ["succeeded", "succeeded"]  # the summary still went out
    assert doc["outputs"] == {"total": 7, "failed": ["fabrikam"]}
    shown = soar.json("runs", "show", doc["run_id"])
    message = next(s for s in shown["steps"] if s["step_id"] == "message")["output"]
    assert message["text"] == "succeeded,failed"
    assert message["errors"] == ["fabrikam broke"]


def test_one_tenant_runs_its_after_tenant_steps_in_its_own_run(soar, sim):
    pb = soar.write("summary.yaml", SUMMARY)
    doc = soar.json("run", str(pb), "--simulate", "--tenant", "contoso")
    assert doc["status"] == "succeeded"
    assert [s["id"] for s in doc["steps"]] == ["count", "boom", "message", "post"]
    # one run: its tenant outputs and its summary outputs
    assert doc["outputs"] == {"incidents": 7, "total": 7, "failed": []}


def test_a_summary_output_needs_no_after_tenant_step(soar, sim):
    pb = soar.write("count.yaml", """\
name: count-ok
steps:
  - id: name
    action: core.set
    with: {tenant: "${{ tenant.name }}"}
outputs:
  name: "${{ steps.name.output.tenant }}"
  ok: "${{ tenants.values() | selectattr('status', 'eq', 'succeeded') | map(attribute='outputs.name') | list }}"
""")
    doc = soar.json("run", str(pb), "--simulate")
    assert doc["outputs"] == {"ok": ["contoso", "fabrikam"]}
    assert doc["tenants"]["fabrikam"]["outputs"] == {"name": "fabrikam"}


GATED = """\
name: gated-summary
steps:
  - id: gate
    action: core.log
    approval: "go on in ${{ tenant.name }}?"
    with: {message: "approved in ${{ tenant.name }}"}
  - id: name
    action: core.set
    with: {tenant: "${{ tenant.name }}"}
after_tenants:
  - id: collect
    action: core.set
    with: {names: "${{ tenants.values() | map(attribute='outputs.name') | list }}"}
  - id: send
    action: core.log
    approval: "send the summary for ${{ tenants | length }} tenants?"
    with: {message: "summary: ${{ steps.collect.output.names }}"}
outputs:
  name: "${{ steps.name.output.tenant }}"
  names: "${{ steps.collect.output.names }}"
  sent: "${{ steps.send.status }}"
"""


def test_after_tenant_steps_wait_for_every_tenant_then_for_their_own_approval(soar, sim):
    pb = soar.write("gated.yaml", GATED)
    doc = soar.json("run", str(pb), "--simulate", code=3)
    parent = doc["run_id"]
    assert doc["steps"] == []  # waiting: no after-tenant step ran
    assert {w["step"] for w in doc["waiting_approval"]} == {"gate"}
    # approving the tenants' gate finishes them; the after-tenant steps run up to their own gate
    result = soar("approve", parent, "gate", "--simulate")
    assert result.exit_code == 3, result.output
    shown = soar.json("runs", "show", parent)
    assert shown["status"] == "waiting_approval"
    assert [(s["step_id"], s["status"]) for s in shown["steps"] if s["run_id"] == parent] == [
        ("collect", "succeeded")]
    result = soar("approve", parent, "send", "--simulate")
    assert result.exit_code == 0, result.output
    shown = soar.json("runs", "show", parent)
    assert shown["status"] == "succeeded"
    assert shown["outputs"] == {"names": ["contoso", "fabrikam"], "sent": "succeeded"}
    # the resume did not run the finished after-tenant step again
    mine = [(s["step_id"], s["attempt"]) for s in shown["steps"] if s["run_id"] == parent]
    assert mine == [("collect", 1), ("send", 1)]


def test_one_tenant_resume_does_not_rerun_its_failed_tenant_step(soar, sim):
    pb = soar.write("one.yaml", """\
name: one-tenant
steps:
  - id: fails
    action: core.fail
    with: {message: "contoso is down"}
after_tenants:
  - id: send
    action: core.log
    approval: "tell the SOC?"
    with: {message: "${{ tenants.contoso.status }}: ${{ tenants.contoso.error }}"}
  - id: said
    action: core.set
    with: {status: "${{ tenants.contoso.status }}", error: "${{ tenants.contoso.error }}"}
outputs:
  said: "${{ steps.said.output }}"
""")
    doc = soar.json("run", str(pb), "--simulate", "--tenant", "contoso", code=3)
    run = doc["run_id"]
    result = soar("approve", run, "send", "--simulate")
    assert result.exit_code == 1, result.output  # the tenant step failed: so does the run
    shown = soar.json("runs", "show", run)
    assert shown["status"] == "failed"
    assert shown["outputs"] == {"said": {"status": "failed", "error": "contoso is down"}}
    attempts = [(s["step_id"], s["attempt"]) for s in shown["steps"]]
    assert attempts == [("fails", 1), ("send", 1), ("said", 1)]  # `fails` was not run again


def test_tenants_none_runs_without_a_tenant_even_when_tenants_are_configured(soar, sim):
    pb = soar.write("none.yaml", """\
name: no-tenant
tenants: none
steps:
  - id: where
    action: core.set
    with: {tenant: "${{ tenant }}"}
after_tenants:
  - id: after
    action: core.set
    with: {tenants: "${{ tenants | length }}"}
outputs:
  tenant: "${{ steps.where.output.tenant }}"
  tenants: "${{ steps.after.output.tenants }}"
""")
    doc = soar.json("run", str(pb), "--simulate")
    assert doc["status"] == "succeeded" and "tenants" not in doc
    assert doc["outputs"] == {"tenant": None, "tenants": 0}
    result = soar("run", str(pb), "--simulate", "--tenant", "contoso")
    assert result.exit_code == 2
    assert "runs on no tenant (`tenants: none`)" in result.output


def test_validate_refuses_an_empty_tenants_list_with_a_hint_to_write_none(soar):
    pb = soar.write("empty.yaml", "name: empty\ntenants: []\nsteps:\n  - id: a\n    action: core.log\n"
                                  "    with: {message: hi}\n")
    result = soar("validate", str(pb))
    assert result.exit_code == 2
    out = " ".join(result.output.split())
    assert "empty.yaml:2:1:" in out and "`tenants` is an empty list" in out
    assert "write `tenants: none` for a playbook that acts on no tenant" in out


def test_validate_locates_what_after_tenant_steps_may_not_do(soar):
    pb = soar.write("bad.yaml", """\
name: bad-after
steps:
  - id: count
    action: core.set
    with: {all: "${{ tenants }}", later: "${{ steps.notify.output }}"}
after_tenants:
  - id: isolate
    action: defender.isolate_machine
    with: {machine_id: "${{ tenants.contoso.outputs.machine }}", comment: x}
  - id: notify
    action: core.log
    with: {message: "${{ steps.count.output }} ${{ tenant.name }}"}
outputs:
  mixed: "${{ steps.count.output }} ${{ steps.notify.output }}"
""")
    result = soar("validate", str(pb))
    assert result.exit_code == 2
    out = " ".join(result.output.split())
    assert ("bad.yaml:5:12: step 'count': 'tenants' is only defined in after_tenants steps and playbook "
            "outputs") in out
    assert "bad.yaml:5:35: step 'count': step 'notify' is an after_tenants step" in out
    assert ("bad.yaml:8:5: step 'isolate': action 'defender.isolate_machine' acts on a tenant, and "
            "after_tenants steps run on none") in out
    assert "core.playbook with `tenant:`" in out
    assert "bad.yaml:12:12: step 'notify': after_tenants step 'notify' cannot read steps.count" in out
    assert "bad.yaml:12:12: step 'notify': 'tenant' is null in after_tenants steps" in out
    assert "bad.yaml:14:3: output 'mixed' reads both a step of `steps:` and an after_tenants step" in out


def test_soar_schema_knows_after_tenants_and_tenants_none(soar):
    import jsonschema

    from runner.playbook.yamlpos import parse_mapping

    result = soar("schema")
    assert result.exit_code == 0, result.output
    validator = jsonschema.Draft202012Validator(json.loads(result.stdout))
    data, _, _ = parse_mapping(SUMMARY.replace("inputs:", "tenants: none\ninputs:"), "s.yaml")
    assert list(validator.iter_errors(data)) == []
    bad = dict(data, after_tenants=[{"id": "x", "action": "core.log", "with": {"message": 1}, "typo": 1}])
    assert [e.validator for e in validator.iter_errors(bad)]  # an after-tenant step is a Step
