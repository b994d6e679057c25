"""Helpers for the shipped-playbook tests: paths, and `soar` run in-process."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

ROOT = Path(__file__).parents[2]
PLAYBOOKS = ROOT / "playbooks"


class Cli:
    """`soar ...` in-process, with a store in the test's directory."""

    def __init__(self, tmp_path: Path):
        self.store = f"sqlite:///{tmp_path}/soar.db"

    def __call__(self, *args: str):
        from runner.cli import main

        return CliRunner().invoke(main, ["--store", self.store, *args], catch_exceptions=False)

    def run(self, playbook: str, *args: str, code: int = 0, approve: bool = True) -> dict:
        """`soar run playbooks/<playbook> --simulate [--auto-approve] --json ARGS`; the JSON document."""
        extra = ["--auto-approve"] if approve else []
        result = self("run", str(PLAYBOOKS / playbook), "--simulate", *extra, "--json", *args)
        assert result.exit_code == code, result.output
        return json.loads(result.stdout)
