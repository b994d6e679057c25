"""The browser tests' world: one real ``soar sim serve`` (the simulated cloud, with the MSSP
tenant's sign-in) and one real ``soar serve`` signing people in through it, over HTTP on
loopback, serving the Defender plugin's triage playbook as ``soar demo`` runs it; and one
headless Chromium — Debian's ``chromium`` package, driven by Playwright (no browser download).

Chromium missing is a failure, not a skip: CI installs it (``.ci/run``).

The fixtures are package-scoped (this directory is a package for that): Playwright's sync API
keeps an event loop running in the main thread while it is started, and ``asyncio.run`` in any
later test of the same session would fail — so it stops when the last browser test is done.

``signed_in(user)`` gives a browser context signed in as that simulated account (alice:
Responder, victor: Viewer, ada: Admin, nora: no role), through the real sign-in pages, once per
browser package. ``shot(page, name)`` takes a screenshot; with ``SOAR_UPDATE_SCREENSHOTS=1`` it is
written to ``docs/console/<name>.png`` (docs/console.md shows them).
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import httpx
import pytest

from .browser_kit import MSSP, ROOT, TIMEOUT_MS, TRIAGE_NAME, VIEWPORT, sign_in

TRIAGE = ROOT / "plugins/defender/soar_defender/playbooks/triage-high-severity-incidents.yaml"
CLI = [sys.executable, "-c", "from runner.cli import main; main()"]


def _first_line(proc: subprocess.Popen, what: str, log: Path) -> dict:
    ready, _, _ = select.select([proc.stdout], [], [], 60)
    assert ready, f"{what} printed nothing within 60 s: {log.read_text()[-2000:]}"
    line = proc.stdout.readline()
    assert line, f"{what} stopped: {log.read_text()[-2000:]}"
    return json.loads(line)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    proc.stdout.close()


class Served:
    """The running ``soar serve`` (``url``) and ``soar sim serve`` (``sim``: its first line)."""

    def __init__(self, url: str, sim: dict, serve_log: Path):
        self.url = url
        self.sim = sim
        self.serve_log = serve_log
        self._bearer: dict[str, str] = {}

    def script(self, client: str = "automation") -> httpx.Client:
        """An HTTP client sending a script client's bearer token (automation: Responder)."""
        from runner.sim.signin import client_id, client_secret

        if client not in self._bearer:
            answer = httpx.post(f"{self.sim['base_url']}/{MSSP}/oauth2/v2.0/token", data={
                "grant_type": "client_credentials", "client_id": client_id(client),
                "client_secret": client_secret(self.sim["client_secret"], client),
                "scope": f"api://{self.sim['client_id']}/.default"}, timeout=30)
            assert answer.status_code == 200, answer.text
            self._bearer[client] = answer.json()["access_token"]
        return httpx.Client(base_url=self.url, timeout=30, headers={"Authorization": f"Bearer {self._bearer[client]}"})

    def run(self, run_id: str) -> dict:
        with self.script() as http:
            r = http.get(f"/api/v1/runs/{run_id}")
        assert r.status_code == 200, r.text
        return r.json()

    def wait_status(self, run_id: str, *wanted: str, timeout: float = 30.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            doc = self.run(run_id)
            if doc["run"]["status"] in wanted:
                return doc
            assert time.monotonic() < deadline, f"run {run_id} is {doc['run']['status']}, not {wanted}"
            time.sleep(0.1)

    def start_triage(self) -> str:
        """Run the triage playbook now, as the automation script (POST /api/v1/playbooks/.../run);
        returns the run id once its isolation gates wait."""
        with self.script() as http:
            r = http.post(f"/api/v1/playbooks/{TRIAGE_NAME}/run", json={})
        assert r.status_code == 202, r.text
        run_id = r.json()["run_id"]
        self.wait_status(run_id, "waiting_approval")
        return run_id


@pytest.fixture(scope="package")
def served(tmp_path_factory) -> Any:
    tmp = tmp_path_factory.mktemp("browser")
    sim_log, serve_log = tmp / "sim.log", tmp / "serve.log"
    with open(sim_log, "w") as err:
        sim = subprocess.Popen([*CLI, "sim", "serve", "--port", "0"], stdout=subprocess.PIPE, stderr=err, text=True,
                               cwd=tmp)
    try:
        info = _first_line(sim, "soar sim serve", sim_log)
        pb = tmp / "playbooks"
        pb.mkdir()
        shutil.copy(TRIAGE, pb / TRIAGE.name)
        tenants = {t["name"]: {"id": t["tenant_id"], "cloud": t["cloud"]} for t in info["tenants"]}
        (tmp / "soar.yaml").write_text(json.dumps({
            "app": {"client_id": info["client_id"], "client_secret": "env:SOAR_TEST_SIM_SECRET"},
            "tenants": tenants, "token_cache": {"path": ":memory:"},
            "console": {"tenant": MSSP, "client_id": info["client_id"], "client_secret": "env:SOAR_TEST_SIM_SECRET"}}))
        env = {**os.environ, "SOAR_TEST_SIM_SECRET": info["client_secret"]}
        with open(serve_log, "w") as err:
            serve = subprocess.Popen([*CLI, "--config", str(tmp / "soar.yaml"), "--store", f"sqlite:///{tmp}/soar.db",
                                      "serve", "playbooks", "--port", "0", "--sim-url", info["base_url"], "--grace", "1s",
                                      "--watch-interval", "off"],
                                     stdout=subprocess.PIPE, stderr=err, text=True, env=env, cwd=tmp)
        try:
            first = _first_line(serve, "soar serve", serve_log)
            assert first["playbooks"] and not first["rejected"], first
            yield Served(first["url"], info, serve_log)
        finally:
            _stop(serve)
        assert info["client_secret"] not in serve_log.read_text()  # the app's secret is never logged
    finally:
        _stop(sim)


@pytest.fixture(scope="package")
def browser() -> Any:
    exe = shutil.which("chromium")
    if exe is None:
        pytest.fail("Debian's chromium is not installed (apt-get install -y chromium): the browser tests need "
                    "/usr/bin/chromium; .ci/run installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=exe, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="package")
def new_context(browser, served) -> Callable[[], Any]:
    """A fresh browser context (no cookies) on the console, at a laptop's viewport."""
    made: list = []

    def make() -> Any:
        context = browser.new_context(base_url=served.url, viewport=VIEWPORT)
        context.set_default_timeout(TIMEOUT_MS)
        made.append(context)
        return context

    yield make
    for context in made:
        context.close()


@pytest.fixture(scope="package")
def signed_in(new_context) -> Callable[[str], Any]:
    """``signed_in("alice")``: a browser context with alice's session (signed in once)."""
    contexts: dict[str, Any] = {}

    def get(user: str) -> Any:
        if user not in contexts:
            context = new_context()
            page = context.new_page()
            sign_in(page, user)
            page.close()
            contexts[user] = context
        return contexts[user]

    return get


@pytest.fixture(scope="package")
def triage_run(served) -> str:
    """A run of the triage playbook, started under ``soar serve``, waiting at its isolation gates."""
    return served.start_triage()
