"""`soar validate` refuses `item`/`index` in a foreach step's approval message (one gate covers
every item, asked once before any runs: the message could only fall back as written), with
file:line and a hint to count the items; the same message elsewhere, and a count, pass."""

from __future__ import annotations

import json

GATED = """\
name: gate-items
tenants: none
inputs:
  machines: {type: list, default: [m1, m2]}
steps:
  - id: mark
    action: core.log
    foreach: "${{ inputs.machines }}"
    approval:
      message: "Mark ${{ item }} (number ${{ index }})?"
    with: {message: "marked ${{ item }}"}
  - id: again
    action: core.log
    foreach: "${{ inputs.machines | select('ne', 'm1') }}"
    approval: "Mark ${{ item.name }}?"
    with: {message: "${{ item }}"}
"""

COUNTED = """\
name: gate-count
tenants: none
inputs:
  machines: {type: list, default: [m1, m2]}
steps:
  - id: mark
    action: core.log
    foreach: "${{ inputs.machines }}"
    name: "mark ${{ item }}"
    approval: "Mark ${{ inputs.machines | length }} machine(s) for ${{ playbook.name }}?"
    with: {message: "marked ${{ item }}"}
"""


def test_validate_refuses_item_and_index_in_a_foreach_gate_message(soar):
    pb = soar.write("gated.yaml", GATED)
    result = soar("validate", str(pb))
    assert result.exit_code == 2, result.output
    out = " ".join(result.output.split())
    assert f"{pb}:10:7: step 'mark': the approval message reads 'item' (in ${{{{ item }}}})" in out
    assert f"{pb}:10:7: step 'mark': the approval message reads 'index'" in out
    assert f"{pb}:15:5: step 'again': the approval message reads 'item' (in ${{{{ item.name }}}})" in out
    assert "one approval covers every item of a foreach step" in out
    assert "hint: say what the whole step does, e.g. count its items: ${{ inputs.machines | length }}" in out
    assert "${{ (inputs.machines | select('ne', 'm1')) | length }}" in out
    assert "soar approvals list" in out
    # and a run refuses to start it, the same way
    run = soar("run", str(pb))
    assert run.exit_code == 2 and "the approval message reads 'item'" in run.output


def test_a_count_in_the_message_passes_and_is_what_the_gate_asks(soar):
    pb = soar.write("counted.yaml", COUNTED)
    assert soar("validate", str(pb)).exit_code == 0
    first = soar("run", str(pb), "--json")
    assert first.exit_code == 3, first.output
    gates = soar.json("approvals", "list")
    assert [g["message"] for g in gates] == ["Mark 2 machine(s) for gate-count?"]
    assert [i["inputs"]["message"] for i in gates[0]["plan"]["items"]] == ["marked m1", "marked m2"]
    assert json.loads(first.stdout)["status"] == "waiting_approval"
