"""Docs that are generated must be current; docs the README links to must exist."""

import re
from pathlib import Path

from runner.cli.catalog import catalogue_markdown
from runner.plugins import PluginHost

ROOT = Path(__file__).parents[1]


def test_core_actions_catalogue_is_current():
    text = (ROOT / "docs" / "actions.md").read_text()
    expected = catalogue_markdown(PluginHost(entry_points=False))
    assert text == expected, "regenerate: soar actions docs > docs/actions.md (built-ins only: see test)"


def test_readme_links_resolve():
    readme = (ROOT / "README.md").read_text()
    for link in re.findall(r"\]\((docs/[^)]+)\)", readme):
        assert (ROOT / link).exists(), f"README links to missing {link}"


def test_readme_has_exactly_the_two_commands_and_ci_runs_the_test_one():
    readme = (ROOT / "README.md").read_text()
    commands = [l[6:] for l in readme.splitlines() if l.startswith("    $ ")]
    assert len(commands) == 2
    assert "soar" in commands[0] and "pytest" in commands[1]
    assert "grep -m1 'pytest'" in (ROOT / ".ci" / "run").read_text()
