"""Helpers of the scale-out tests: a fresh PostgreSQL database, fronts and workers as real
processes, their metrics, waiting.

PostgreSQL: the server on 127.0.0.1:5432 (trust auth, user ``postgres``; ``SOAR_TEST_POSTGRES``
overrides it). Each test module gets a database of its own, dropped at the end; the tests FAIL
(never skip) when the server is down.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import httpx
import pytest

from runner.serve.webhooks import sign

ADMIN_URL = os.environ.get("SOAR_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
SECRET = "scaleout-hook-secret-5e1f"
API_TOKEN = "scaleout-api-token-77c2"
# fast failure detection for the tests: a heartbeat every 0.5 s, dead after 2 s of silence
FAST = ["--heartbeat", "0.5s", "--stalled-after", "2s", "--poll-interval", "1s"]


@contextlib.contextmanager
def fresh_database():
    """A new database on the test server; yields its SQLAlchemy URL, drops it at the end."""
    import psycopg

    name = f"soar_scaleout_{secrets.token_hex(5)}"
    try:
        admin = psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.Error as exc:
        pytest.fail(f"PostgreSQL is unreachable at {ADMIN_URL} ({str(exc).strip()}); the scale-out tests need "
                    "it (trust auth for user postgres), or set SOAR_TEST_POSTGRES", pytrace=False)
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"{ADMIN_URL.rsplit('/', 1)[0]}/{name}".replace("postgresql://", "postgresql+psycopg://", 1)
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Proc:
    """A ``soar`` subprocess whose first stdout line is a JSON document (``info``); its stderr
    goes to a file (read with :meth:`log`)."""

    def __init__(self, args: list[str], *, cwd: Path, env: dict, name: str):
        self.name = name
        self.err_path = cwd / f"{name}.{secrets.token_hex(3)}.err"
        self._err = open(self.err_path, "w")
        self.proc = subprocess.Popen([sys.executable, "-m", "runner.cli", *args], stdout=subprocess.PIPE,
                                     stderr=self._err, text=True, env=env, cwd=cwd)
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait(30)
            raise AssertionError(f"{name} did not start (exit {self.proc.returncode}):\n{self.log()}")
        self.info: dict = json.loads(line)

    def log(self) -> str:
        self._err.flush()
        return self.err_path.read_text()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def terminate(self, timeout: float = 30.0) -> int:
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        finally:
            self.close()
        return code

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.close()

    def close(self) -> None:
        if self.alive():
            self.proc.kill()
            self.proc.wait(10)
        self.proc.stdout.close()
        self._err.close()


def soar_env(**more: str) -> dict:
    return {**os.environ, "SOAR_SCALEOUT_HOOK_SECRET": SECRET, "SOAR_SCALEOUT_API_TOKEN": API_TOKEN, **more}


def start_front(store: str, pb: Path, *, cwd: Path, env: dict, extra: tuple[str, ...] = (), name="front") -> Proc:
    return Proc(["--store", store, "serve", str(pb), "--role", "front", "--port", "0",
                 "--api-token", "env:SOAR_SCALEOUT_API_TOKEN", "--max-runs", "100", *extra],
                cwd=cwd, env=env, name=name)


def start_worker(store: str, *, cwd: Path, env: dict, concurrency: int = 10, extra: tuple[str, ...] = (),
                 root: tuple[str, ...] = (), name="worker") -> Proc:
    return Proc(["--store", store, *root, "worker", "--concurrency", str(concurrency), "--metrics-port", "0",
                 *FAST, *extra], cwd=cwd, env=env, name=name)


def hook_headers(body: bytes) -> dict:
    return {"X-Hub-Signature-256": sign(SECRET, body), "Content-Type": "application/json"}


_LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$')


def metric(url: str, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels`` on ``url``/metrics."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    total = 0.0
    for line in text.splitlines():
        m = _LINE.match(line)
        if not m or m.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(m.group(3))
    return total


def health(url: str) -> dict:
    return httpx.get(f"{url}/healthz", timeout=10).json()


def wait_for(cond: Callable[[], Any], timeout: float = 30.0, what: str = "condition", every: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(every)
