"""`soar run` and `soar demo` log lines: an action's line names its run, tenant and step (so two
tenants' lines are told apart); without -v only warnings and what the playbook asked to log
(`core.log`) show, so the demo's output stays its progress and summary; -vv shows an action's
debug lines too."""

from __future__ import annotations

import json
import re

HUNT = """
name: hunt-each
tenants: [contoso, fabrikam]
steps:
  - id: hunt
    action: defender.run_hunting_query
    with: {query: "DeviceProcessEvents | take 2"}
"""


def test_v_step_lines_name_run_tenant_and_step(soar, sim):
    pb = soar.write("h.yaml", HUNT)
    result = soar("-v", "run", str(pb), "--simulate", "--json")
    assert result.exit_code == 0, result.output
    runs = {name: child["run_id"] for name, child in json.loads(result.stdout)["tenants"].items()}
    lines = [line for line in result.stderr.splitlines() if line.startswith("INFO soar.step")]
    assert sorted(lines) == sorted(
        f"INFO soar.step run={runs[t]} tenant={t} step=hunt: hunting query on graph: 2 row(s)"
        for t in ("contoso", "fabrikam")), result.stderr


def test_foreach_lines_name_the_item(soar):
    pb = soar.write("f.yaml", """
name: said
steps:
  - id: say
    action: core.log
    foreach: [a, b]
    with: {message: "item ${{ item }}"}
""")
    result = soar("run", str(pb), "--json")  # no -v: core.log lines show, as the playbook asked
    assert result.exit_code == 0, result.output
    run = json.loads(result.stdout)["run_id"]
    assert [line for line in result.stderr.splitlines() if "soar.step" in line] == [
        f"INFO soar.step run={run} step=say item=0: item a", f"INFO soar.step run={run} step=say item=1: item b"]


def test_demo_without_v_prints_no_action_chatter(soar, sim):
    result = soar("demo")
    assert result.exit_code == 0, result.output
    logged = [line for line in result.output.splitlines() if re.match(r"(DEBUG|INFO|WARNING|ERROR) soar", line)]
    assert logged == [], "\n".join(logged)
    assert "devices isolated" in result.stdout  # the summary is still there


def test_vv_shows_an_actions_debug_lines(soar, sim):
    pb = soar.write("i.yaml", """
name: incidents-each
tenants: [contoso]
steps:
  - id: list
    action: defender.list_incidents
    with: {max_items: 1}
""")
    result = soar("-vv", "run", str(pb), "--simulate")
    assert result.exit_code == 0, result.output
    assert re.search(r"^DEBUG soar\.step run=r-\w+ tenant=contoso step=list: incidents on xdr \(", result.stderr,
                     re.M), result.stderr
