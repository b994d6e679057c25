"""Good playbooks load with no problems, and every node knows where it is."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.errors import PlaybookError, PlaybookErrors, PlaybookSyntaxError, PlaybookValidationError
from runner.playbook import Playbook, PlaybookLoader, Step, load_playbook

GOOD = Path(__file__).parent / "good"


@pytest.mark.parametrize("path", sorted(GOOD.glob("*.yaml")), ids=lambda p: p.stem)
def test_good_playbook_loads_with_no_problems(path, loader, calls):
    pb = loader.load(path)
    assert isinstance(pb, Playbook)
    assert loader.check(pb) == []
    assert pb.source_path == str(path)
    assert pb.source_text == path.read_text()
    assert calls == []


def test_design_example_positions(loader):
    pb = loader.load(GOOD / "design-example.yaml")
    assert pb.name == "isolate-risky-devices"
    assert pb.tenants == "all"
    assert [type(t).__name__ for t in pb.on] == ["ScheduleTrigger", "EveryTrigger", "WebhookTrigger", "PollTrigger"]
    assert pb.on[1].every == 600
    isolate = pb.steps[1]
    assert isolate.path == ("steps", 1)
    assert isolate.retry.backoff == 2 and isolate.timeout == 300
    # mapping entries point at their key, list items at the item
    assert pb.position(("steps",)) == (11, 1)
    assert pb.position(("steps", 1)) == (15, 5)
    assert pb.position(("steps", 1, "with", "machine_id")) == (21, 7)
    assert pb.position(("steps", 1, "retry", "backoff")) == (24, 26)
    assert pb.position(("on", 2, "webhook", "secret")) == (7, 35)
    # an unknown path falls back to its nearest located parent
    assert pb.position(("steps", 1, "with", "machine_id", "deeper", 3)) == (21, 7)
    where = pb.locate(("steps", 1, "action"), step="isolate")
    assert str(where) == f"{GOOD / 'design-example.yaml'}:16:5: step 'isolate'"


def test_parallel_group_paths(loader):
    pb = loader.load(GOOD / "parallel-groups.yaml")
    steps = {s.id: s for s in pb.all_steps()}
    assert list(steps) == ["incidents", "enrich", "devices", "files", "hunting", "logons", "network",
                           "report", "notify"]
    assert steps["files"].path == ("steps", 1, "parallel", 1)
    assert steps["network"].path == ("steps", 1, "parallel", 2, "parallel", 1)
    assert pb.position(steps["network"].path + ("with", "limit")) == (26, 60)
    assert isinstance(steps["enrich"], Step) and steps["enrich"].action is None


def test_yaml_12_scalars_and_anchors(loader):
    pb = loader.load(GOOD / "approvals-secrets.yaml")
    assert pb.inputs["level"].default == "on"  # not True, as YAML 1.1 would have it
    assert pb.steps[0].retry.attempts == 5
    assert pb.steps[3].retry.attempts == 2 and pb.steps[3].retry.max_backoff == 30  # merged, then overridden
    assert pb.steps[1].approval.message == "Tag the machines?"
    assert pb.steps[2].approval.required is False
    assert pb.steps[4].approval.required is True


def test_load_text_and_module_function(host, tmp_path):
    text = (GOOD / "sub-playbook.yaml").read_text()
    pb = PlaybookLoader(host).load_text(text)
    assert pb.source_path == "<string>"
    path = tmp_path / "pb.yaml"
    path.write_text(text)
    assert load_playbook(path, host).name == "triage-with-child"


def test_check_false_skips_static_checks(loader):
    text = "name: x\nsteps:\n  - id: a\n    action: nobody.knows\n"
    pb = loader.load_text(text, "x.yaml", check=False)
    problems = loader.check(pb)
    assert [p.message for p in problems] == ["unknown action 'nobody.knows'"]
    with pytest.raises(PlaybookValidationError):
        loader.load_text(text, "x.yaml")


def test_missing_file_and_bad_encoding(loader, tmp_path):
    with pytest.raises(PlaybookError, match="cannot read playbook"):
        loader.load(tmp_path / "nope.yaml")
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes(b"name: x\ndescription: caf\xe9\n")
    with pytest.raises(PlaybookSyntaxError) as info:
        loader.load(bad)
    assert (info.value.where.line, info.value.where.column) == (2, 17)
    bom = tmp_path / "bom.yaml"
    bom.write_bytes("\ufeffname: x\nsteps: [{id: a, action: core.log, with: {message: hi}}]\n".encode())
    assert loader.load(bom).name == "x"


def test_errors_are_sorted_and_combined(loader):
    text = ("name: x\nsteps:\n  - id: b\n    action: core.log\n    with: {message: '${{ steps.zz.output }}'}\n"
            "  - id: a\n    action: nope.nope\n")
    with pytest.raises(PlaybookErrors) as info:
        loader.load_text(text, "x.yaml")
    assert [(e.where.line, e.where.step) for e in info.value.errors] == [(5, "b"), (7, "a")]
    assert str(info.value).splitlines()[0].startswith("x.yaml:5:12: step 'b': unknown step 'zz'")


def test_step_without_id_is_numbered(loader):
    text = "name: x\nsteps:\n  - id: g\n    parallel:\n      - action: core.log\n"
    with pytest.raises(PlaybookValidationError) as info:
        loader.load_text(text, "x.yaml")
    assert str(info.value).startswith("x.yaml:5:9: missing required key 'id' (in step #1.1)")


def test_references_that_are_fine(loader):
    text = """
name: refs
inputs: {n: {type: integer, default: 3}}
secrets: {tok: env:TOK}
steps:
  - id: first
    action: core.set
    with: {a: "${{ [1, 2, 3] | map('string') | join(',') }}", b: "${{ now() }} ${{ ago('1h') }}"}
  - id: group
    parallel:
      - id: left
        action: core.set
        with: {x: "${{ steps.first.output.a }}", y: "${{ steps['first'].status }}"}
      - id: right
        action: core.log
        foreach: "${{ range(inputs.n) | list }}"
        when: "${{ index < 2 and item != 1 }}"
        with: {message: "${{ item }} ${{ tenant.name }} ${{ trigger.type }} ${{ run.dry_run }} ${{ secrets.tok }}"}
  - id: after
    action: core.log
    with: {message: "${{ steps.left.output }} ${{ steps.group.output.right }} ${{ steps.right.error }}"}
  - id: nothing
    action: core.log
    foreach: [{a: 1}, {a: 2}]
    with: {message: "${{ item.a | risky if false else 0 }}"}
outputs:
  all: "${{ steps.after.status }} ${{ steps.left.output }}"
"""
    pb = loader.load_text(text, "refs.yaml")
    assert [s.id for s in pb.all_steps()][-1] == "nothing"


def test_big_playbook_loads_with_exact_positions(loader):
    """Load time is measured in benchmarks/engine_overhead.py, not asserted here (noisy machines)."""
    n = 2000
    lines = ["name: big", "inputs: {m: {type: string, default: x}}", "steps:"]
    for i in range(n):
        lines += [f"  - id: s{i}", "    action: defender.isolate_machine",
                  f"    when: \"${{{{ steps.s{max(i - 1, 0)}.status == 'succeeded' }}}}\"" if i else "    when: true",
                  "    with:", "      machine_id: \"${{ inputs.m }}\"", f"      comment: step {i}",
                  "      isolation_type: Full", "    retry: {attempts: 3, backoff: 2s}", "    timeout: 5m"]
    text = "\n".join(lines)
    pb = loader.load_text(text, "big.yaml")
    assert len(pb.steps) == n
    assert pb.position(("steps", n - 1, "with", "comment")) == (3 + 9 * (n - 1) + 6, 7)


def test_a_step_with_a_duplicate_id_is_still_checked(loader):
    text = ("name: x\nsteps:\n  - id: a\n    action: core.log\n    with: {message: hi}\n"
            "  - id: a\n    action: core.nope\n")
    with pytest.raises(PlaybookErrors) as info:
        loader.load_text(text, "x.yaml")
    assert [e.message for e in info.value.errors] == [
        "step id 'a' is used twice (first on line 3)", "unknown action 'core.nope'"]
