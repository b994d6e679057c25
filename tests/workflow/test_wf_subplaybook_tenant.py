"""`core.playbook` with `tenant:` runs a sub-playbook on a chosen configured tenant — e.g. from an
`after_tenants` step, which itself runs on none. Through `soar run --simulate` (tenants contoso
and fabrikam) and `soar approve`."""

from __future__ import annotations

SUB = """\
name: machines-of
steps:
  - id: machines
    action: defender.list_machines
outputs:
  tenant: "${{ tenant.name }}"
  machines: "${{ steps.machines.output | length }}"
"""

MAIN = """\
name: report-to-contoso
steps:
  - id: seen
    action: core.set
    with: {tenant: "${{ tenant.name }}"}
after_tenants:
  - id: on_contoso
    action: core.playbook
    with: {playbook: machines-of, tenant: TENANT}
  - id: send
    action: core.log
    APPROVAL
    with: {message: "${{ steps.on_contoso.output.machines }} machines in ${{ steps.on_contoso.output.tenant }}"}
outputs:
  sub: "${{ steps.on_contoso.output }}"
"""


def _write(soar, tenant: str = "contoso", approval: bool = False):
    soar.write("machines-of.yaml", SUB)
    text = MAIN.replace("TENANT", tenant).replace(
        "    APPROVAL\n", '    approval: "send it?"\n' if approval else "")
    return soar.write("main.yaml", text)


def test_an_after_tenant_step_runs_a_sub_playbook_on_a_chosen_tenant(soar, sim):
    pb = _write(soar)
    doc = soar.json("run", str(pb), "--simulate")
    assert doc["status"] == "succeeded", doc
    sub = doc["outputs"]["sub"]
    assert sub == {"tenant": "contoso", "machines": len(sim.defender.tenant("contoso").devices)}
    # the machines were listed in contoso, with contoso's token, and nowhere else
    assert sim.defender.count(method="GET", tenant="contoso", path_suffix="/machines") == 1
    assert sim.defender.count(method="GET", tenant="fabrikam", path_suffix="/machines") == 0
    shown = soar.json("runs", "show", doc["run_id"])
    subruns = [c for c in shown["children"] if c["trigger"]["type"] == "playbook"]
    assert [(c["tenant"], c["status"]) for c in subruns] == [("contoso", "succeeded")]


def test_an_unknown_tenant_fails_the_step_naming_the_configured_ones(soar, sim):
    pb = _write(soar, tenant="contso")
    doc = soar.json("run", str(pb), "--simulate", code=1)
    assert doc["steps"][0]["id"] == "on_contoso" and doc["steps"][0]["status"] == "failed"
    result = soar("run", str(pb), "--simulate", terminal_width=400)
    out = " ".join(result.output.split())
    assert "core.playbook: tenant 'contso' is not configured" in out
    assert "configured tenants: contoso, fabrikam" in out


def test_a_sub_playbook_limited_to_other_tenants_is_refused(soar, sim):
    pb = _write(soar)
    soar.write("machines-of.yaml", SUB.replace("name: machines-of\n", "name: machines-of\ntenants: [fabrikam]\n"))
    result = soar("run", str(pb), "--simulate", terminal_width=400)
    assert result.exit_code == 1
    out = " ".join(result.output.split())
    assert "sub-playbook 'machines-of' does not run on tenant 'contoso'" in out and "its tenants: fabrikam" in out


def test_resuming_after_an_approval_does_not_take_the_sub_run_for_a_tenant_run(soar, sim):
    pb = _write(soar, approval=True)
    doc = soar.json("run", str(pb), "--simulate", code=3)
    parent = doc["run_id"]
    assert doc["waiting_approval"] == [{"run_id": parent, "step": "send"}]
    result = soar("approve", parent, "send", "--simulate")
    assert result.exit_code == 0, result.output
    shown = soar.json("runs", "show", parent)
    assert shown["status"] == "succeeded"
    assert shown["outputs"]["sub"]["tenant"] == "contoso"
    kinds = sorted((c["trigger"]["type"], c["tenant"]) for c in shown["children"])
    assert kinds == [("manual", "contoso"), ("manual", "fabrikam"), ("playbook", "contoso")]  # no second sub-run


def test_a_tenantless_run_with_a_sub_run_resumes_after_an_approval(soar):
    soar.write("child.yaml", "name: child\nsteps:\n  - id: a\n    action: core.set\n    with: {x: 1}\n"
                             "outputs:\n  x: \"${{ steps.a.output.x }}\"\n")
    pb = soar.write("parent.yaml", """\
name: parent
steps:
  - id: sub
    action: core.playbook
    with: {playbook: child}
  - id: gate
    action: core.log
    approval: "go on?"
    with: {message: "${{ steps.sub.output.x }}"}
outputs:
  x: "${{ steps.sub.output.x }}"
""")
    doc = soar.json("run", str(pb), code=3)  # no soar.yaml: one run without a tenant
    result = soar("approve", doc["run_id"], "gate")
    assert result.exit_code == 0, result.output
    assert soar.json("runs", "show", doc["run_id"])["outputs"] == {"x": 1}
