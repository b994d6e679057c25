"""`soar run` start-up, through the console entry in a process of its own: without a soar.yaml the
config models are never imported, the run and its stored record are unchanged, and a soar.yaml
that is present is still read (a malformed one is still a located error)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys

PLAYBOOK = """\
name: startup-probe
steps:
  - id: devices
    action: core.set
    with: {list: [{name: pc1, risk: High}, {name: pc2, risk: Low}]}
outputs:
  seen: "${{ steps.devices.output.list | length }}"
"""


def _soar(cwd, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("SOAR_CONFIG", "SOAR_STORE")}
    return subprocess.run([sys.executable, "-X", "importtime", "-m", "runner.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)


def _imported(stderr: str) -> set[str]:
    return {line.rsplit("|", 1)[1].strip() for line in stderr.splitlines()
            if line.startswith("import time:") and line.count("|") == 2}


def test_run_without_soar_yaml_skips_the_config_models(tmp_path):
    (tmp_path / "probe.yaml").write_text(PLAYBOOK)
    for _ in range(2):  # the first run creates the store's schema; the second takes the fast path
        done = _soar(tmp_path, "--store", "sqlite:///runs.db", "run", "probe.yaml", "--json")
        assert done.returncode == 0, done.stderr[-2000:]
        result = json.loads(done.stdout)
        assert result["status"] == "succeeded" and result["outputs"] == {"seen": 2}
    assert "runner.config" not in _imported(done.stderr)
    with sqlite3.connect(tmp_path / "runs.db") as conn:
        assert conn.execute("SELECT count(*), min(status) FROM runs").fetchone() == (2, "succeeded")


def test_a_present_soar_yaml_is_still_read(tmp_path):
    (tmp_path / "probe.yaml").write_text(PLAYBOOK)
    (tmp_path / "soar.yaml").write_text("app: [unclosed\n")
    done = _soar(tmp_path, "--store", "sqlite:///runs.db", "run", "probe.yaml", "--json")
    assert done.returncode == 2
    assert "soar.yaml:" in done.stderr and "malformed YAML" in done.stderr and "Traceback" not in done.stderr
    assert "runner.config" in _imported(done.stderr)
