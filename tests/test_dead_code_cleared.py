"""One ``Duration`` field type for playbooks and soar.yaml, and no dead helpers left behind."""

from __future__ import annotations

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
