"""Helpers of the shared token cache tests: a fresh PostgreSQL database, the simulated cloud on
loopback with a clock the test moves, and worker processes (tokdb_worker.py) driven over pipes."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import secrets as pyrandom
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

import httpx

ADMIN_URL = os.environ.get("SOAR_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
WORKER = Path(__file__).with_name("tokdb_worker.py")
SECRET_ENV = "SOAR_TOKDB_SECRET"
KEY_ENV = "SOAR_TOKEN_CACHE_KEY"


def libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


@contextlib.contextmanager
def fresh_database() -> Iterator[str]:
    """A new PostgreSQL database, dropped afterwards; yields its URL. Fails (never skips) when the
    server is down."""
    import psycopg
    import pytest

    name = f"soar_tokdb_{pyrandom.token_hex(5)}"
    try:
        admin = psycopg.connect(libpq(ADMIN_URL), autocommit=True, connect_timeout=5)
    except psycopg.Error as exc:
        pytest.fail(f"PostgreSQL is unreachable at {ADMIN_URL} ({str(exc).strip()}); start it or deselect "
                    "these tests with -m 'not postgres'", pytrace=False)
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"{ADMIN_URL.rsplit('/', 1)[0]}/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def table_text(url: str) -> list[str]:
    """Every token_cache row of the database at ``url``, as the text PostgreSQL or SQLite holds."""
    if url.startswith("sqlite"):
        import sqlite3

        with contextlib.closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as conn:
            return [json.dumps(r) for r in conn.execute("SELECT * FROM token_cache")]
    import psycopg

    with psycopg.connect(libpq(url)) as conn:
        return [r[0] for r in conn.execute("SELECT row_to_json(x)::text FROM token_cache x")]


class ShiftedClock:
    """time.time() plus an offset the test sets (the simulated Entra ID issues tokens by it)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@contextlib.contextmanager
def served(cloud) -> Iterator[str]:
    """Serve ``cloud`` on 127.0.0.1 (uvicorn in a thread); yields its base URL."""
    from runner.loopback import serve_in_thread

    with serve_in_thread(cloud.asgi_app()) as url:
        yield url


def token_requests(sim_url: str) -> int:
    """Token requests the simulated cloud answered so far, all tenants (``GET /_sim/stats``)."""
    return sum(httpx.get(f"{sim_url}/_sim/stats", timeout=10).json()["token_requests"].values())


def write_config(directory: Path, cloud, *, store: str, backend: str | None = None) -> Path:
    rows = "".join(f"  {t.name}: {{id: {t.id}}}\n" for t in cloud.tenants.values())
    cache = f"{{backend: {backend}, key: env:{KEY_ENV}}}" if backend else f"{{key: env:{KEY_ENV}}}"
    path = directory / "soar.yaml"
    path.write_text(f"app:\n  client_id: {cloud.app.client_id}\n  client_secret: env:{SECRET_ENV}\n"
                    f"tenants:\n{rows}store: {store}\ntoken_cache: {cache}\n")
    return path


class Worker:
    """One tokdb_worker.py process; its stderr goes to a file."""

    def __init__(self, directory: Path, name: str, config: Path, sim_url: str, store: str, env: dict) -> None:
        self.stderr_path = directory / f"{name}.stderr"
        self._stderr = self.stderr_path.open("wb")
        self.proc = subprocess.Popen([sys.executable, str(WORKER), str(config), sim_url, store], cwd=directory,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
                                     env={**os.environ, **env}, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.strip())
        self.lines.put("")

    def line(self, timeout: float = 60) -> str:
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no answer from the worker within {timeout}s; stderr:\n{self.stderr()}") from None
        if not line:
            raise AssertionError(f"the worker exited ({self.proc.wait(5)}); stderr:\n{self.stderr()}")
        return line

    def send(self, command: dict) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()

    def stderr(self) -> str:
        if not self._stderr.closed:
            self._stderr.flush()
        return self.stderr_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            self.proc.stdin.close()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self._reader.join(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._stderr.close()


def stop_all(workers: list[Worker]) -> None:
    """Stop the workers together (each exits when its stdin closes)."""
    for w in workers:
        if w.proc.stdin is not None and not w.proc.stdin.closed:
            w.proc.stdin.close()
    for w in workers:
        w.stop()


def ask_together(workers: list[Worker], tenants: list[str], offset: float = 0.0) -> list[dict]:
    """Every worker asks for every tenant's token at the same moment; their answers."""
    start_at = time.time() + 0.3
    for w in workers:
        w.send({"tenants": tenants, "offset": offset, "start_at": start_at})
    return [json.loads(w.line()) for w in workers]
