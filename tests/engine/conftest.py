from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

HERE = Path(__file__).parent


@pytest.fixture(autouse=True)
def _test_plugin(monkeypatch, tmp_path):
    monkeypatch.setenv("SOAR_PLUGINS", "soar_testplugin")
    monkeypatch.setenv("PYTHONPATH", str(HERE) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    monkeypatch.setenv("SOAR_TEST_LEDGER", str(tmp_path / "ledger.txt"))
    if str(HERE) not in sys.path:
        monkeypatch.syspath_prepend(str(HERE))
    import runner.plugins

    monkeypatch.setattr(runner.plugins, "_default", None)


class Soar:
    """Runs `soar` in-process (CliRunner) against a store in the test's directory."""

    def __init__(self, tmp_path: Path):
        self.tmp = tmp_path
        self.store = f"sqlite:///{tmp_path}/soar.db"

    def write(self, name: str, text: str) -> Path:
        p = self.tmp / name
        p.write_text(text)
        return p

    def __call__(self, *args: str, env: dict | None = None):
        from runner.cli import main

        return CliRunner().invoke(main, ["--store", self.store, *args], env=env, catch_exceptions=False)

    def json(self, *args: str, code: int | None = 0, env: dict | None = None) -> dict:
        result = self(*args, "--json", env=env)
        if code is not None:
            assert result.exit_code == code, result.output
        return json.loads(result.stdout)

    def subprocess(self, *args: str, **kw) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "runner.cli", "--store", self.store, *args],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)

    def ledger(self) -> list[str]:
        p = self.tmp / "ledger.txt"
        return p.read_text().splitlines() if p.exists() else []


@pytest.fixture
def soar(tmp_path) -> Soar:
    return Soar(tmp_path)
