"""Helpers of the workflow tests: `soar` against a store of the test's own."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from click.testing import CliRunner

REPO = Path(__file__).parents[2]
FIXTURES = Path(__file__).parent / "fixtures"
PG_ADMIN = os.environ.get("SOAR_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


class Soar:
    """`soar --store <the test's store> ...`, in-process (CliRunner) or as a subprocess."""

    def __init__(self, tmp_path: Path, store: str | None = None):
        self.tmp = tmp_path
        self.store = store or f"sqlite:///{tmp_path}/soar.db"

    def playbook(self, name: str) -> Path:
        """A copy of a shipped playbook in the test's directory."""
        return Path(shutil.copy(REPO / "playbooks" / name, self.tmp / name))

    def write(self, name: str, text: str) -> Path:
        path = self.tmp / name
        path.write_text(text)
        return path

    def __call__(self, *args: str, env: dict | None = None, terminal_width: int | None = None):
        from runner.cli import main

        env = dict(env or {})
        if terminal_width is not None:
            env["COLUMNS"] = str(terminal_width)
        return CliRunner().invoke(main, ["--store", self.store, *args], env=env)

    def json(self, *args: str, code: int | None = 0) -> Any:
        result = self(*args, "--json")
        if code is not None:
            assert result.exit_code == code, result.output
        return json.loads(result.stdout)

    def popen(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "runner.cli", "--store", self.store, *args],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=self.tmp)
