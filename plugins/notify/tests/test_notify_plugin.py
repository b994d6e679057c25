"""The notify plugin as installed: its entry point registers the actions and the observers, its
code imports nothing of soar-runner but runner.plugin, and a playbook's notify steps run from
the CLI under --simulate with the local receivers let out by --allow-host."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from runner import PluginHost

import notify_receivers as rx

PACKAGE = Path(__file__).resolve().parents[1] / "soar_notify"

PLAYBOOK = """
name: tell-the-soc
inputs: {host: {type: string, default: laptop-17}}
secrets: {teams: env:NOTIFY_TEST_TEAMS_URL, slack: env:NOTIFY_TEST_SLACK_URL}
steps:
  - id: teams
    action: notify.teams
    with:
      webhook: "${{ secrets.teams }}"
      title: "Isolated ${{ inputs.host }}"
      facts: {Host: "${{ inputs.host }}"}
  - id: slack
    action: notify.slack
    with:
      webhook: "${{ secrets.slack }}"
      title: "Isolated ${{ inputs.host }}"
outputs:
  statuses: "${{ [steps.teams.output.status, steps.slack.output.status] }}"
"""


def soar(tmp_path, *args):
    from runner.cli import main

    return CliRunner().invoke(main, ["--store", f"sqlite:///{tmp_path}/s.db", *args])


def test_entry_point_registers_the_actions_and_the_observers():
    host = PluginHost()
    names = sorted(a.name for a in host.actions if a.plugin == "notify")
    assert names == ["notify.email", "notify.slack", "notify.teams"], \
        "is soar-notify installed? (pip install -e plugins/notify)"
    assert all(host.actions.get(n).effect == "write" and not host.actions.get(n).needs_tenant for n in names)
    hooks = {impl.function.__name__ for name in ("soar_approval_requested", "soar_run_finished")
             for impl in getattr(host.pm.hook, name).get_hookimpls() if host._name(impl.plugin) == "notify"}
    assert hooks == {"soar_approval_requested", "soar_run_finished"}


def test_the_plugin_imports_only_the_author_surface():
    found = []
    for path in sorted(PACKAGE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found += [(path.name, alias.name) for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                found.append((path.name, node.module))
    runner_imports = {module for _, module in found if module == "runner" or module.startswith("runner.")}
    assert runner_imports == {"runner.plugin"}, found


def test_a_secret_webhook_reads_as_secret_in_the_catalogue(tmp_path):
    shown = soar(tmp_path, "actions", "show", "notify.teams")
    assert shown.exit_code == 0, shown.output
    assert "webhook: secret (required)" in shown.output


@pytest.fixture
def hooks(monkeypatch):
    receiver = rx.HttpReceiver()
    receiver.answer("/teams/sig-abc", 202)
    monkeypatch.setenv("NOTIFY_TEST_TEAMS_URL", receiver.url("/teams/sig-abc"))
    monkeypatch.setenv("NOTIFY_TEST_SLACK_URL", receiver.url("/slack/sig-def"))
    yield receiver
    receiver.close()


def test_simulated_run_reaches_receivers_let_out_with_allow_host(tmp_path, hooks):
    pb = tmp_path / "tell.yaml"
    pb.write_text(PLAYBOOK)
    done = soar(tmp_path, "run", str(pb), "--simulate", "--tenant", "contoso", "--allow-host", hooks.host, "--json")
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["outputs"] == {"statuses": [202, 200]}
    assert [g.path for g in hooks.got] == ["/teams/sig-abc", "/slack/sig-def"]
    assert hooks.got[0].json()["attachments"][0]["content"]["body"][0]["inlines"][0]["text"] == "Isolated laptop-17"
    shown = soar(tmp_path, "runs", "show", json.loads(done.stdout)["run_id"], "--json")
    assert "sig-abc" not in shown.output and "sig-def" not in shown.output  # stored inputs: masked


def test_simulated_run_without_allow_host_sends_nothing_and_fails(tmp_path, hooks):
    pb = tmp_path / "tell.yaml"
    pb.write_text(PLAYBOOK)
    done = soar(tmp_path, "run", str(pb), "--simulate", "--tenant", "contoso", "--json")
    assert done.exit_code == 1
    error = json.loads(done.stdout)["error"]
    assert "was not sent" in error["message"] and f"--allow-host {hooks.host}" in error["hint"]
    assert "sig-abc" not in done.output
    assert hooks.got == []


def test_a_dry_run_sends_nothing(tmp_path, hooks):
    pb = tmp_path / "tell.yaml"
    pb.write_text(PLAYBOOK)
    done = soar(tmp_path, "run", str(pb), "--simulate", "--tenant", "contoso", "--allow-host", hooks.host,
                "--dry-run", "--json")
    assert done.exit_code == 0, done.output
    assert hooks.got == []
