"""Helpers for the expression security tests: `soar run` on a playbook, in-process (fast, logs in
caplog) or as a bounded subprocess (an attack that hangs or allocates gigabytes on an unfixed
build then fails the test instead of hanging it or exhausting the machine)."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner

SUBPROCESS_SECONDS = 30  # an attack the runner does not stop fails the test after this
ADDRESS_SPACE = 3 * 1024 ** 3  # the subprocess's memory limit (RLIMIT_AS): gigabyte allocations fail


@dataclass
class Ran:
    code: int
    stdout: str
    stderr: str
    doc: dict | None  # the --json document, when there is one

    @property
    def status(self) -> str | None:
        return (self.doc or {}).get("status")

    @property
    def error(self) -> str:
        err = (self.doc or {}).get("error") or {}
        return err.get("message", "") if isinstance(err, dict) else str(err)

    def step(self, step_id: str) -> dict:
        return next(s for s in (self.doc or {}).get("steps", []) if s["id"] == step_id)


def _doc(text: str) -> dict | None:
    try:
        return json.loads(text)
    except ValueError:
        return None


def run_inprocess(tmp: Path, playbook: str, *args: str, env: dict | None = None) -> Ran:
    """``soar run <playbook> --json`` in this process (CliRunner), against a store in ``tmp``."""
    from runner.cli import main

    pb = tmp / "pb.yaml"
    pb.write_text(playbook)
    store = f"sqlite:///{tmp}/soar.db"
    r = CliRunner().invoke(main, ["--store", store, "-vv", "run", str(pb), "--json", *args], env=env,
                           catch_exceptions=False)
    return Ran(r.exit_code, r.stdout, r.stderr, _doc(r.stdout))


def _limit_memory() -> None:  # pragma: no cover - runs in the child
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def cli(tmp: Path, *args: str, timeout: float = SUBPROCESS_SECONDS) -> subprocess.CompletedProcess:
    store = f"sqlite:///{tmp}/soar.db"
    return subprocess.run([sys.executable, "-m", "runner.cli", "--store", store, *args],
                          capture_output=True, text=True, timeout=timeout, cwd=tmp,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
                          preexec_fn=_limit_memory)


def run_bounded(tmp: Path, playbook: str) -> Ran:
    """``soar run <playbook> --json`` in a subprocess with a time and a memory limit. A run that
    outlives :data:`SUBPROCESS_SECONDS` is reported as ``code == -1``."""
    pb = tmp / "pb.yaml"
    pb.write_text(playbook)
    try:
        r = cli(tmp, "run", str(pb), "--json")
    except subprocess.TimeoutExpired as exc:
        return Ran(-1, _text(exc.stdout), _text(exc.stderr), None)
    return Ran(r.returncode, r.stdout, r.stderr, _doc(r.stdout))


def _text(b) -> str:
    return b.decode(errors="replace") if isinstance(b, bytes) else (b or "")


def stored_runs(tmp: Path) -> list[tuple[str, str]]:
    """(run id, status) of every run in the store at ``tmp``."""
    from runner.store import RunStore

    store = RunStore.open(f"sqlite:///{tmp}/soar.db")
    try:
        return [(r.id, r.status) for r in store.list_runs()]
    finally:
        store.close()


def raw_store(tmp: Path) -> bytes:
    """The SQLite files of the store at ``tmp``, as bytes (a secret must not be anywhere in them)."""
    raw = b""
    for suffix in ("", "-wal", "-shm"):
        p = tmp / f"soar.db{suffix}"
        if p.exists():
            raw += p.read_bytes()
    return raw
