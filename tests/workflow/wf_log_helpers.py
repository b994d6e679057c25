"""Helpers of the logging tests: `soar serve` as a subprocess on the simulated cloud."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from runner.store import RunStore

HOOK_TOKEN = "hook-token-wf-logging-5e1d"


class Served:
    """`soar [ROOT ARGS] serve DIR --simulate --port 0` in a subprocess, on the test's store."""

    def __init__(self, tmp: Path, playbooks: dict[str, str], *root: str, env: dict | None = None):
        self.dir = tmp / "pb"
        self.dir.mkdir()
        for name, text in playbooks.items():
            (self.dir / name).write_text(text)
        self.store_url = f"sqlite:///{tmp}/soar.db"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "runner.cli", "--store", self.store_url, *root, "serve", str(self.dir),
             "--simulate", "--port", "0", "--grace", "5s"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp,
            env={**os.environ, "WF_HOOK_TOKEN": HOOK_TOKEN, **(env or {})})
        line = self.proc.stdout.readline()
        assert line, self.proc.communicate(timeout=10)[1]
        self.url = json.loads(line)["url"]
        self.store = RunStore.open(self.store_url)

    def runs(self, playbook: str, status: str | None = None) -> list:
        return self.store.list_runs(limit=None, playbook=playbook, status=status)

    def stop(self) -> str:
        """SIGTERM, wait; the whole stderr."""
        self.proc.send_signal(signal.SIGTERM)
        _out, err = self.proc.communicate(timeout=30)
        self.store.close()
        assert self.proc.returncode == 0, err
        return err

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate(timeout=10)
        self.store.close()


def wait(cond, timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while not (value := cond()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
    return value


def post(url: str, body: dict) -> dict:
    r = httpx.post(f"{url}/hooks/hunt", json=body, headers={"Authorization": f"Bearer {HOOK_TOKEN}"},
                   timeout=10)
    assert r.status_code in (200, 202), r.text
    return r.json()
