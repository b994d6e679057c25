"""Helpers of the console sign-in tests (no tests here): a serve service whose console signs in
with the simulated Entra ID, and a browser that goes through the sign-in pages as a person would."""

from __future__ import annotations

import asyncio
import html
import re
import time
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

import httpx

from runner.config import ConsoleConfig
from runner.engine.context import Services
from runner.serve.app import build_app
from runner.serve.service import ServeOptions, ServeService
from runner.serve.webhooks import sign
from runner.store import RunStore

HOOK_SECRET = "console-hook-secret-4b1e"
GATED = """
name: gated
on:
  - webhook: {path: /gated, secret: env:SOAR_TEST_CONSOLE_HOOK}
steps:
  - id: ask
    action: core.log
    approval: {message: "go?"}
    with: {message: approved}
"""


def fields_of(page: str) -> dict[str, str]:
    """The named inputs of the first form on ``page``."""
    return {html.unescape(n): html.unescape(v) for n, v in re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"',
                                                                     page)}


def action_of(page: str) -> str:
    found = re.search(r'<form[^>]*action="([^"]*)"', page)
    return html.unescape(found.group(1)) if found else ""


def set_cookies(response: httpx.Response) -> dict[str, str]:
    """Cookie name → its whole Set-Cookie line."""
    return {line.split("=", 1)[0]: line for line in response.headers.get_list("set-cookie")}


class Browser:
    """Goes through /signin → the simulated sign-in page → the callback, like a person would."""

    def __init__(self, client: httpx.AsyncClient):
        self.client = client
        self.steps: list[httpx.Response] = []

    async def sign_in(self, user: str, next_path: str = "/runs") -> httpx.Response:
        c = self.client
        start = await c.get(f"/signin?next={next_path}")
        assert start.status_code == 303, start.text
        login = start.headers["location"]
        chooser = await c.get(login)
        assert chooser.status_code == 200 and user in chooser.text, chooser.text
        answer = await c.post(login, data={"user": user})  # the form posts to its own URL
        assert answer.status_code == 200, answer.text
        callback = await c.post(action_of(answer.text), data=fields_of(answer.text))
        self.steps = [start, chooser, answer, callback]
        return callback

    async def csrf(self) -> str:
        me = await self.client.get("/api/v1/me")
        assert me.status_code == 200, me.text
        return me.json()["csrf_token"]


class ConsoleHarness:
    """A ServeService (SQLite store, ``tmp/pb``) on ``cloud``, its console signing in with the
    cloud's MSSP tenant unless ``signin`` is false."""

    def __init__(self, tmp: Path, cloud: Any, *, signin: bool = True, **console: Any):
        self.tmp, self.cloud = tmp, cloud
        self.dir = tmp / "pb"
        self.dir.mkdir(exist_ok=True)
        self.url = f"sqlite:///{tmp}/soar.db"
        self.signin = signin
        self.console = console
        self.service: ServeService | None = None

    async def start(self, **options: Any) -> ServeService:
        from runner.apis import ApiClients
        from runner.auth import TokenProvider
        from runner.plugins import load_plugins

        config = self.cloud.demo_config()
        if self.signin:
            settings = {**self.cloud.entra.signin.console_settings(), **self.console}
            config = config.model_copy(update={"console": ConsoleConfig(**settings)})
        network = self.cloud.network()
        auth = TokenProvider(config, network, cache_path=None)
        services = Services(plugins=load_plugins(), store=RunStore.open(self.url), network=network, config=config,
                            auth=auth)
        ApiClients.for_services(services)
        opts = {"directory": str(self.dir), "watch_interval": 0, "sweep_interval": 0.05, "grace": 5.0, **options}
        self.service = ServeService(services, ServeOptions(**opts))
        await self.service.start()
        return self.service

    async def stop(self) -> None:
        service = self.service
        assert service is not None
        await service.stop()
        if service.services.apis is not None:
            await service.services.apis.aclose()
        service.store.close()

    def client(self, base_url: str = "http://127.0.0.1:8080", client: tuple[str, int] = ("127.0.0.1", 50000),
               **kw: Any) -> httpx.AsyncClient:
        assert self.service is not None
        transport = httpx.ASGITransport(app=build_app(self.service), client=client)
        return httpx.AsyncClient(transport=transport, base_url=base_url, **kw)

    async def gated_run(self, http: httpx.AsyncClient) -> str:
        """Start the gated playbook through its webhook; its run id once it waits for approval."""
        body = b"{}"
        signed = {"X-Hub-Signature-256": sign(HOOK_SECRET, body), "Content-Type": "application/json"}
        r = await http.post("/hooks/gated", content=body, headers=signed)
        assert r.status_code == 202, r.text
        run_id = r.json()["run_id"]
        await until(lambda: _status(self.service.store, run_id) == "waiting_approval", what="the gate")
        return run_id


def gates(store: RunStore, run_id: str, step: str = "ask") -> list:
    """The approval records of ``step`` on the run and its tenant runs."""
    runs = [store.get_run(run_id), *store.children(run_id)]
    return [a for a in (store.get_approval(r.id, step) for r in runs) if a is not None]


def _status(store: RunStore, run_id: str) -> str | None:
    try:
        return store.get_run(run_id).status
    except Exception:  # noqa: BLE001 - not created yet
        return None


async def until(cond: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def host_of(url: str) -> str:
    return urlsplit(url).netloc
