"""Every playbook in playbooks/ passes `soar validate`; the packaged demo copy is the same file;
docs/playbooks.md lists every shipped playbook."""

from __future__ import annotations

import json

from shipped_helpers import PLAYBOOKS, ROOT

SHIPPED = sorted(p.name for p in PLAYBOOKS.glob("*.yaml"))


def test_the_issue_s_playbooks_are_shipped():
    assert {"triage-high-severity-incidents.yaml", "block-indicator-everywhere.yaml",
            "stale-incidents-report.yaml", "release-isolated-devices.yaml",
            "collect-investigation-packages.yaml"} <= set(SHIPPED)


def test_every_shipped_playbook_passes_validate(cli):
    result = cli("validate", str(PLAYBOOKS), "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert sorted(entry["path"].rsplit("/", 1)[-1] for entry in doc) == SHIPPED
    assert all(entry["valid"] and not entry["problems"] for entry in doc), doc


def test_a_broken_copy_fails_validate(cli, tmp_path):
    # the check above can fail: the same playbook with a typo in an action name is rejected
    text = (PLAYBOOKS / "triage-high-severity-incidents.yaml").read_text()
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("defender.isolate_machine", "defender.isolat_machine"))
    result = cli("validate", str(bad))
    assert result.exit_code == 2
    assert "isolat_machine" in result.output and "did you mean 'defender.isolate_machine'" in result.output


def test_packaged_demo_playbook_is_the_shipped_one():
    from runner.cli.demo import demo_playbook
    from runner.plugins import load_plugins

    service, packaged = demo_playbook(load_plugins())
    assert service == "defender" and packaged.parent.parent.name == "soar_defender"
    assert packaged.read_bytes() == (PLAYBOOKS / packaged.name).read_bytes(), (
        f"copy playbooks/{packaged.name} to plugins/defender/soar_defender/playbooks/ (the plugin ships that copy)")


def test_packaging_includes_the_demo_playbook():
    import tomllib

    data = tomllib.loads((ROOT / "plugins" / "defender" / "pyproject.toml").read_text())
    assert "playbooks/*.yaml" in data["tool"]["setuptools"]["package-data"]["soar_defender"]


def test_an_unknown_demo_is_refused_naming_the_installed_ones(cli):
    result = cli("demo", "--service", "nope")
    assert result.exit_code != 0
    assert "no demo named 'nope'; installed demos: defender" in result.output


def test_docs_list_every_shipped_playbook():
    text = (ROOT / "docs" / "playbooks.md").read_text()
    section = text.split("## Shipped playbooks", 1)[1].split("\n## ", 1)[0]
    for name in SHIPPED:
        assert f"playbooks/{name}" in section, f"docs/playbooks.md 'Shipped playbooks' misses {name}"
