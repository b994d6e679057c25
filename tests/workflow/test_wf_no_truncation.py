"""Identifiers are never cut short: action, plugin, tenant and step names, tenant and run ids come
out whole — piped (plain lines, what `| grep` reads) and on an 80-column terminal (a table whose
other columns wrap)."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from runner.cli import main

PIPED = {"COLUMNS": "80"}                          # CliRunner's output is not a terminal
TERMINAL = {"COLUMNS": "80", "TTY_COMPATIBLE": "1"}  # rich draws for a terminal of 80 columns
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def soar(*args: str, env: dict):
    result = CliRunner().invoke(main, list(args), env=env)
    return result, ANSI.sub("", result.stdout)


def lines_with(text: str, needle: str) -> list[str]:
    return [line for line in text.splitlines() if needle in line]


@pytest.mark.parametrize("env", [PIPED, TERMINAL], ids=["piped", "terminal"])
def test_actions_list(env):
    from runner.plugins import load_plugins

    result, out = soar("actions", "list", env=env)
    assert result.exit_code == 0
    assert "…" not in out
    for action in load_plugins().actions:
        assert lines_with(out, action.name), action.name
    if env is PIPED:  # one line per action: grep finds it with its effect and summary
        [line] = lines_with(out, "defender.stop_and_quarantine_file")
        assert line.split()[1] == "destructive" and "quarantine" in line.split(None, 2)[2]


@pytest.mark.parametrize("env", [PIPED, TERMINAL], ids=["piped", "terminal"])
def test_plugins_list(env):
    result, out = soar("plugins", "list", env=env)
    assert result.exit_code == 0 and "…" not in out
    assert lines_with(out, "runner.builtin.core") and lines_with(out, "soar-runner (built-in)")


@pytest.mark.parametrize("env", [PIPED, TERMINAL], ids=["piped", "terminal"])
def test_tenants_list_and_check(env):
    from runner.sim import SimulatedCloud

    ids = [t.id for t in SimulatedCloud().tenants.values()]
    result, out = soar("tenants", "list", "--simulate", env=env)
    assert result.exit_code == 0 and "…" not in out
    for tid in ids:
        assert lines_with(out, tid)
    result, out = soar("tenants", "check", "--simulate", env=env)
    assert result.exit_code == 0 and "…" not in out
    assert lines_with(out, "SecurityIncident.ReadWrite.All") and lines_with(out, "Machine.StopAndQuarantine")


LONG = """\
name: a-playbook-whose-name-is-long-enough-to-matter-at-eighty
tenants: all
steps:
  - id: collect_every_investigation_package_from_all_devices
    action: core.log
    with: {message: hi}
  - id: stop_and_quarantine_the_malicious_file_everywhere_now
    action: core.set
    with: {x: 1}
"""


@pytest.mark.parametrize("env", [PIPED, TERMINAL], ids=["piped", "terminal"])
def test_run_summary_and_validate(tmp_path, env):
    deep = tmp_path / "a-directory-with-a-long-name" / "and-another-one-below-it"
    deep.mkdir(parents=True)
    pb = deep / "playbook-with-a-long-file-name.yaml"
    pb.write_text(LONG)
    result, out = soar("validate", str(pb), env=env)
    assert result.exit_code == 0 and "…" not in out
    assert lines_with(out, str(pb)) and lines_with(out, "a-playbook-whose-name-is-long-enough-to-matter-at-eighty")
    result, out = soar("--store", f"sqlite:///{tmp_path}/soar.db", "run", str(pb), "--simulate", env=env)
    assert result.exit_code == 0, out
    assert "…" not in out
    for step in ("collect_every_investigation_package_from_all_devices",
                 "stop_and_quarantine_the_malicious_file_everywhere_now"):
        rows = lines_with(out, step)
        assert len(rows) == 2  # one per tenant, whole
        assert {row.split()[0] for row in rows} == {"contoso", "fabrikam"}
    run_id = re.search(r"run (r-[0-9a-z]+) succeeded", out)
    assert run_id and len(run_id.group(1)) == 28
