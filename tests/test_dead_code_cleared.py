"""One ``Duration`` field type for playbooks and soar.yaml, and no dead helpers left behind."""

from __future__ import annotations

import re
from pathlib import Path

import pytest


def test_one_duration_type_for_playbooks_and_config():
    from runner import config, durations
    from runner.playbook import model

    assert model.Duration is durations.Duration is config.Duration


def test_parse_duration_alone_does_not_import_pydantic():
    import subprocess
    import sys

    code = ("import sys, runner.durations as d; assert d.parse_duration('1m30s') == 90.0; "
            "assert 'pydantic' not in sys.modules, 'pydantic imported'; "
            "d.Duration; assert 'pydantic' in sys.modules")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    with pytest.raises(AttributeError):
        import runner.durations as durations

        durations.Nope  # noqa: B018


def test_removed_helpers_stay_removed():
    from soar_defender import machine_actions

    assert not hasattr(machine_actions, "find_open")


def test_dead_helpers_of_issue_16_stay_removed():
    import runner.errors
    import runner.http
    import runner.jsoncodec
    from runner.engine import run

    assert not hasattr(runner.errors, "RunCancelled")  # the engine's own is runner.engine.control's
    assert not hasattr(run, "playbook_hash")
    for gone in ("api_url", "base_url", "_ParseResult"):  # URLs are httpx's own (public API only)
        assert not hasattr(runner.http, gone), gone
    assert not hasattr(runner.jsoncodec, "body_bytes")  # httpx writes request bodies


_BUILT = re.compile(r"\b(TokenProvider|ApiClients|Services)\(")


def test_only_the_composition_root_builds_the_services():
    """The token provider, the API client factory and the services are constructed in
    runner/compose.py alone; the CLI, the testing kit and the benchmarks call it."""
    root = Path(__file__).resolve().parent.parent
    found = sorted(f"{path.relative_to(root)}:{n}"
                   for top in ("runner", "plugins", "benchmarks") for path in (root / top).rglob("*.py")
                   if path.name != "compose.py" or path.parent.name != "runner"
                   for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                   if _BUILT.search(line.split("#")[0]) and not line.lstrip().startswith(("class ", "def ")))
    assert found == []
    from runner import testing
    from runner.cli import common

    for module in (testing, common):
        assert "build_services(" in Path(module.__file__).read_text(encoding="utf-8"), module.__name__


def test_the_cli_leaves_httpx_modules_alone():
    source = Path(__file__).resolve().parent.parent / "runner" / "cli" / "__init__.py"
    assert "httpx" not in source.read_text(encoding="utf-8")  # it once stubbed httpx's command-line module
