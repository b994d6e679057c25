"""`soar runs show` says why a run failed (the parent's error and each tenant run's), lists its
approvals and audit trail as its help promises, and `soar runs list` / `runs show` /
`approvals list` never cut a run id, step id or action name — at 80 columns or piped."""

from __future__ import annotations

import re

ANSI = re.compile(r"\x1b\[[0-9;]*m")

FAILING = """
name: fails-in-every-tenant
tenants: all
steps:
  - id: look_up_the_devices_of_each_incident
    action: core.set
    with: {tenant: "${{ tenant.name }}"}
  - id: isolate_the_risky_devices_now
    action: core.fail
    approval: "Fail in ${{ tenant.name }}?"
    with: {message: "boom in ${{ tenant.name }}"}
"""


def test_a_failed_parent_shows_its_error_each_tenant_error_approvals_and_audit(soar, sim):
    pb = soar.write("fails.yaml", FAILING)
    assert soar("run", str(pb), "--simulate").exit_code == 3
    parent = soar.json("runs", "list")[0]["run_id"]
    result = soar("approve", parent, "isolate_the_risky_devices_now", "--as", "dave", "--reason", "go")
    assert result.exit_code == 1, result.output
    doc = soar.json("runs", "show", parent)
    assert doc["status"] == "failed"
    assert "contoso: boom in contoso" in doc["error"]["message"]
    assert "fabrikam: boom in fabrikam" in doc["error"]["message"]
    text = soar("runs", "show", parent).output
    assert "error: contoso: boom in contoso; fabrikam: boom in fabrikam" in text
    children = {c["tenant"]: c["run_id"] for c in doc["children"]}
    for tenant, run_id in children.items():
        line = next(ln for ln in text.splitlines() if ln.startswith(run_id))
        assert tenant in line and "failed" in line and f"boom in {tenant}" in line
    assert "approvals" in text and "approved by dave" in text and "Fail in contoso?" in text
    assert "audit trail" in text
    audit = [ln for ln in text.splitlines() if "approval.approved" in ln]
    assert len(audit) == 2 and all("dave" in ln for ln in audit)


def _runs(soar, pb) -> tuple[str, list[str]]:
    assert soar("run", str(pb), "--simulate").exit_code == 3
    parent = soar.json("runs", "list")[0]["run_id"]
    return parent, [c["run_id"] for c in soar.json("runs", "show", parent)["children"]]


def test_identifiers_are_never_cut_piped_or_on_a_narrow_terminal(soar, sim):
    pb = soar.write("fails.yaml", FAILING)
    parent, children = _runs(soar, pb)
    ids = [parent, *children, "isolate_the_risky_devices_now", "look_up_the_devices_of_each_incident"]
    for env in ({"COLUMNS": "80"}, {"COLUMNS": "80", "TTY_COMPATIBLE": "1"}, {"COLUMNS": "60", "TTY_COMPATIBLE": "1"}):
        listed = ANSI.sub("", soar("runs", "list", env=env).output)
        shown = ANSI.sub("", soar("runs", "show", parent, env=env).output)
        gates = ANSI.sub("", soar("approvals", "list", env=env).output)
        assert parent in listed, (env, listed)
        for ident in ids:
            assert ident in shown, (env, ident, shown)
        for ident in [*children, "isolate_the_risky_devices_now"]:
            assert ident in gates, (env, ident, gates)
        assert "…" not in listed + shown + gates
