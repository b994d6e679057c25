"""Helpers for the `soar serve` tests: an in-process service on a fresh store, and waiting."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any, Callable

import httpx

from runner.engine.context import Services
from runner.http import Network
from runner.plugins import PluginHost
from runner.serve.app import build_app
from runner.serve.service import ServeOptions, ServeService
from runner.serve.webhooks import sign
from runner.store import RunStore

SECRET = "hook-secret-canary-7f3a9c"

HOOK = """
name: hooked
on:
  - webhook: {path: /phish, secret: env:SOAR_TEST_HOOK_SECRET, dedup_key: delivery.id, dedup_window: 1h}
steps:
  - id: echo
    action: core.set
    with: {got: "${{ trigger.payload }}", type: "${{ trigger.type }}"}
outputs:
  got: "${{ steps.echo.output.got }}"
  type: "${{ steps.echo.output.type }}"
"""

_plugins: PluginHost | None = None


def plugins() -> PluginHost:
    global _plugins
    if _plugins is None:
        _plugins = PluginHost()
    return _plugins


class Harness:
    """A ServeService over ``tmp/pb`` with a SQLite store, tenant-less unless ``cloud`` is given."""

    def __init__(self, tmp: Path, cloud: Any = None):
        self.tmp = tmp
        self.dir = tmp / "pb"
        self.dir.mkdir(exist_ok=True)
        self.url = f"sqlite:///{tmp}/soar.db"
        self.cloud = cloud
        self.service: ServeService | None = None

    def write(self, name: str, text: str) -> Path:
        path = self.dir / name
        path.write_text(text)
        return path

    async def start(self, **options: Any) -> ServeService:
        store = RunStore.open(self.url)
        config = auth = None
        network = Network.simulated(lambda r: httpx.Response(404))
        if self.cloud is not None:
            from runner.auth import TokenProvider

            config, network = self.cloud.demo_config(), self.cloud.network()
            auth = TokenProvider(config, network, cache_path=None)
        services = Services(plugins=plugins(), store=store, network=network, config=config, auth=auth)
        if auth is not None:
            from runner.apis import ApiClients

            ApiClients.for_services(services)
        opts = {"directory": str(self.dir), "watch_interval": 0, "sweep_interval": 0.05, "grace": 5.0, **options}
        self.service = ServeService(services, ServeOptions(**opts))
        self.summary = await self.service.start()
        return self.service

    async def stop(self) -> list[str]:
        service = self.service
        interrupted = await service.stop()
        if service.services.apis is not None:
            await service.services.apis.aclose()
        service.store.close()
        return interrupted

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=build_app(self.service)),
                                 base_url="http://serve")


def signed(body: bytes, secret: str = SECRET) -> dict:
    return {"X-Hub-Signature-256": sign(secret, body), "Content-Type": "application/json"}


async def until(cond: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def run_status(store: RunStore, run_id: str) -> str | None:
    try:
        return store.get_run(run_id).status
    except Exception:  # noqa: BLE001 - not created yet
        return None
