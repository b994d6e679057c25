"""Issue #13, findings 6 and 10: sub-playbooks (`core.playbook`).

6. A reference is followed only to a .yaml/.yml file inside the playbook directory: `/etc/passwd`,
   `../outside/evil.yaml` and a symlink out of the directory are refused, and no error ever
   quotes what a file holds.
10. Recursion (self, mutual, fan-out) is refused by `soar validate` when the references are
   literal, and bounded at run time when they are computed. The run-time tests run `soar` in a
   subprocess with a timeout, so on code without the bound they fail instead of hanging.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

CANARY = "CANARY-FILE-CONTENT-5c1e0d"

DYNAMIC = """
name: dynamic
inputs:
  target: {type: string}
steps:
  - id: sub
    action: core.playbook
    with: {playbook: "${{ inputs.target }}"}
"""

EVIL = """
name: evil
steps:
  - id: ran
    action: core.log
    with: {message: "evil ran"}
outputs:
  ran: true
"""


@pytest.fixture
def tree(tmp_path):
    """tmp/pb: the playbook directory; tmp/outside: files it must not reach."""
    pb, outside = tmp_path / "pb", tmp_path / "outside"
    pb.mkdir()
    outside.mkdir()
    (outside / "evil.yaml").write_text(EVIL)
    (outside / "notes.yaml").write_text(f"{CANARY}: the first line of a private file\n- not: a playbook\n")
    (outside / "plain.txt").write_text(f"{CANARY} plain text\n")
    (pb / "dynamic.yaml").write_text(DYNAMIC)
    (pb / "link-out.yaml").symlink_to(outside / "evil.yaml")
    (pb / "link-notes.yaml").symlink_to(outside / "notes.yaml")
    (pb / "link-txt.yaml").symlink_to(outside / "plain.txt")
    return tmp_path


def soar(tmp: Path, *args: str):
    from runner.cli import main

    return CliRunner().invoke(main, ["--store", f"sqlite:///{tmp}/soar.db", *args], catch_exceptions=False)


def _store_bytes(tmp: Path) -> bytes:
    return b"".join(p.read_bytes() for p in tmp.glob("soar.db*"))


@pytest.mark.parametrize("target", [
    "{outside}/notes.yaml",          # an absolute path
    "/etc/passwd",
    "../outside/notes.yaml",         # out through ..
    "../outside/evil.yaml",
    "link-notes",                    # out through a symlink
    "link-out.yaml",
    "link-txt",
    "../outside/plain.txt",
])
def test_a_reference_outside_the_playbook_directory_is_refused_and_nothing_is_echoed(tree, target):
    target = target.format(outside=tree / "outside")
    r = soar(tree, "run", str(tree / "pb" / "dynamic.yaml"), "--input", f"target={target}", "--json")
    assert r.exit_code == 1, r.output
    doc = json.loads(r.stdout)
    assert doc["error"]["type"] == "SubPlaybookError", doc["error"]
    assert target in doc["error"]["message"]  # names the reference as the user gave it
    assert "playbook directory" in doc["error"]["message"] + doc["error"].get("hint", "")
    assert CANARY not in r.output and "root:x:0:0" not in r.output
    show = soar(tree, "runs", "show", doc["run_id"], "--json")
    assert json.loads(show.stdout)["children"] == [], "a sub-run was started from outside the directory"
    assert CANARY.encode() not in _store_bytes(tree) and b"root:x:0:0" not in _store_bytes(tree)


def test_a_file_inside_the_directory_that_is_not_a_playbook_is_not_quoted(tree):
    (tree / "pb" / "notes.yaml").write_text(f"{CANARY}: private\n- not: a playbook\n")
    r = soar(tree, "run", str(tree / "pb" / "dynamic.yaml"), "--input", "target=notes", "--json")
    assert r.exit_code == 1
    doc = json.loads(r.stdout)
    assert "not a valid playbook" in doc["error"]["message"] and "soar validate" in doc["error"]["hint"]
    assert CANARY not in r.output and CANARY.encode() not in _store_bytes(tree)


def test_playbooks_inside_the_directory_still_run(tree):
    pb = tree / "pb"
    (pb / "children").mkdir()
    (pb / "children" / "leaf.yaml").write_text("""
name: leaf
inputs:
  x: {type: integer}
steps:
  - id: v
    action: core.set
    with: {v: "${{ inputs.x * 2 }}"}
outputs:
  v: "${{ steps.v.output.v }}"
""")
    (pb / "alias.yaml").symlink_to(pb / "children" / "leaf.yaml")  # a link that stays inside
    (pb / "parent.yaml").write_text("""
name: parent
steps:
  - id: a
    action: core.playbook
    with: {playbook: children/leaf.yaml, inputs: {x: 1}}
  - id: b
    action: core.playbook
    with: {playbook: alias, inputs: {x: 2}}
outputs:
  vs: ["${{ steps.a.output.v }}", "${{ steps.b.output.v }}"]
""")
    assert soar(tree, "validate", str(pb / "parent.yaml")).exit_code == 0
    r = soar(tree, "run", str(pb / "parent.yaml"), "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["outputs"]["vs"] == [2, 4]


# ---- recursion ------------------------------------------------------------------------------

def _call(name: str, target: str, foreach: str | None = None) -> str:
    loop = f"\n    foreach: {foreach}" if foreach else ""
    return f"""
name: {name}
steps:
  - id: call
    action: core.playbook{loop}
    with: {{playbook: {target}}}
"""


@pytest.mark.parametrize("files, where", [
    ({"self.yaml": _call("self", "self")}, "self.yaml"),
    ({"a.yaml": _call("a", "b"), "b.yaml": _call("b", "a.yaml")}, "a.yaml"),
    ({"fan.yaml": _call("fan", "fan", foreach="[1, 2, 3]")}, "fan.yaml"),
    ({"top.yaml": _call("top", "b"), "b.yaml": _call("b", "c"), "c.yaml": _call("c", "b")}, "top.yaml"),
])
def test_validate_refuses_a_cycle_of_literal_references(tree, files, where):
    for name, text in files.items():
        (tree / "pb" / name).write_text(text)
    r = soar(tree, "validate", str(tree / "pb" / where))
    assert r.exit_code == 2, r.output
    assert "sub-playbook cycle" in r.output
    line = next(i for i, text in enumerate(files[where].splitlines(), 1) if "playbook:" in text)
    assert f"{where}:{line}:" in r.output  # located at the `playbook:` value


def test_validate_refuses_a_literal_chain_deeper_than_the_limit(tree):
    for i in range(20):
        (tree / "pb" / f"l{i}.yaml").write_text(_call(f"l{i}", f"l{i + 1}"))
    (tree / "pb" / "l20.yaml").write_text("name: l20\nsteps:\n  - id: x\n    action: core.set\n    with: {a: 1}\n")
    r = soar(tree, "validate", str(tree / "pb" / "l0.yaml"))
    assert r.exit_code == 2 and "levels deep" in r.output, r.output


def _run_bounded(tmp: Path, playbook: Path, *args: str, timeout: float = 90) -> subprocess.CompletedProcess:
    try:
        return subprocess.run([sys.executable, "-m", "runner.cli", "--store", f"sqlite:///{tmp}/soar.db",
                               "run", str(playbook), "--json", *args],
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"sub-playbook recursion was not bounded: `soar run` still going after {timeout}s")


def _computed(name: str, target: str, foreach: str | None = None) -> str:
    # the reference is computed, so only the run-time bound can stop it
    return _call(name, '"${{ \'%s\' }}"' % target, foreach)


def test_run_time_self_recursion_is_refused(tree):
    (tree / "pb" / "self.yaml").write_text(_computed("self", "self"))
    p = _run_bounded(tree, tree / "pb" / "self.yaml")
    assert p.returncode == 1, p.stderr
    assert "sub-playbook cycle: self.yaml → self.yaml" in json.loads(p.stdout)["error"]["message"]


def test_run_time_mutual_recursion_is_refused(tree):
    (tree / "pb" / "a.yaml").write_text(_computed("a", "b"))
    (tree / "pb" / "b.yaml").write_text(_computed("b", "a"))
    p = _run_bounded(tree, tree / "pb" / "a.yaml")
    assert p.returncode == 1, p.stderr
    assert "a.yaml → b.yaml → a.yaml" in json.loads(p.stdout)["error"]["message"]


def test_run_time_fan_out_recursion_is_refused(tree):
    (tree / "pb" / "fan.yaml").write_text(_computed("fan", "fan", foreach="[1, 2, 3, 4]"))
    p = _run_bounded(tree, tree / "pb" / "fan.yaml")
    assert p.returncode == 1, p.stderr
    assert "sub-playbook cycle" in json.loads(p.stdout)["error"]["message"]


def test_run_time_depth_is_bounded(tree):
    for i in range(30):
        (tree / "pb" / f"d{i}.yaml").write_text(_computed(f"d{i}", f"d{i + 1}"))
    (tree / "pb" / "d30.yaml").write_text("name: d30\nsteps:\n  - id: x\n    action: core.set\n    with: {a: 1}\n")
    p = _run_bounded(tree, tree / "pb" / "d0.yaml")
    assert p.returncode == 1, p.stdout[-2000:]
    message = json.loads(p.stdout)["error"]["message"]
    assert "nested more than 8 levels deep" in message and "d0.yaml → d1.yaml" in message


def test_fan_out_across_distinct_playbooks_is_bounded_by_a_sub_run_budget(tree, monkeypatch):
    try:
        from runner.playbook import subplaybooks
    except ImportError:
        pytest.fail("no bound on the number of sub-runs of a run")
    monkeypatch.setattr(subplaybooks, "MAX_SUBRUNS", 20)
    (tree / "pb" / "top.yaml").write_text(_call("top", "mid", foreach="[1, 2, 3, 4, 5]"))
    (tree / "pb" / "mid.yaml").write_text(_call("mid", "leaf", foreach="[1, 2, 3, 4, 5]"))
    (tree / "pb" / "leaf.yaml").write_text("name: leaf\nsteps:\n  - id: x\n    action: core.set\n    with: {a: 1}\n")
    r = soar(tree, "run", str(tree / "pb" / "top.yaml"), "--json")
    assert r.exit_code == 1, r.output
    assert "has started 20 sub-playbook runs" in r.output
