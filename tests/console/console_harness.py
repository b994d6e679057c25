"""Helpers for the console tests: an in-process ``soar serve`` on a fresh SQLite store, its
console reached through serve's own ASGI app (the mount line), and users chosen per request.

``Console.client(user)`` sends every request as that user: the test middleware below stands in
for sign-in (``runner.console.identity``'s middleware is replaced through ``build_console(auth=)``
in :meth:`Console.app_as`), so a Viewer, a Responder and an Admin can be tried in one test.
``Console.loopback()`` goes through the real identity middleware (no sign-in configured: the
local administrator, on a loopback address).
"""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from typing import Any, Callable

import httpx
from starlette.middleware import Middleware

from runner.console.identity import User
from runner.engine.context import Services
from runner.http import Network
from runner.plugins import PluginHost
from runner.serve.service import ServeOptions, ServeService
from runner.serve.webhooks import sign
from runner.store import RunStore

HOOK_SECRET = "console-hook-secret-canary-3c1e"
CSRF = "test-csrf-token-0b7d"

USERS = {
    "viewer": User("vera@contoso.test", "oid-vera", frozenset({"Viewer"}), "session"),
    "responder": User("rick@contoso.test", "oid-rick", frozenset({"Responder"}), "session"),
    "admin": User("ada@contoso.test", "oid-ada", frozenset({"Admin"}), "session"),
}

GATED = """
name: gated
on:
  - webhook: {path: /gated, secret: env:SOAR_CONSOLE_HOOK_SECRET}
inputs:
  who: {type: string, default: "someone"}
steps:
  - id: prepare
    action: core.set
    with: {target: "host-${{ trigger.payload.n }}"}
  - id: ask
    action: core.log
    approval: {message: "isolate ${{ steps.prepare.output.target }}?"%s}
    with: {message: "approved for ${{ steps.prepare.output.target }}"}
outputs:
  target: "${{ steps.prepare.output.target }}"
"""

SLOW = """
name: slow
on:
  - webhook: {path: /slow, secret: env:SOAR_CONSOLE_HOOK_SECRET}
steps:
  - id: nap
    action: core.sleep
    with: {duration: "%s"}
  - id: after
    action: core.set
    with: {done: true}
"""

FAILING = """
name: failing
on:
  - webhook: {path: /failing, secret: env:SOAR_CONSOLE_HOOK_SECRET}
steps:
  - id: boom
    action: core.fail
    with: {message: "the check failed on purpose"}
"""

_plugins: PluginHost | None = None


def plugins() -> PluginHost:
    global _plugins
    if _plugins is None:
        _plugins = PluginHost()
    return _plugins


class _AsUser:
    """Test sign-in: the user named by the ``x-test-user`` header (none: nobody)."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            state = scope.setdefault("state", {})
            headers = dict(scope.get("headers") or [])
            name = headers.get(b"x-test-user", b"").decode()
            if name in USERS:
                state["user"] = USERS[name]
                state["csrf_token"] = CSRF
        await self.app(scope, receive, send)


class Console:
    """A ServeService over ``tmp/pb`` with a SQLite store, and HTTP clients for its console."""

    def __init__(self, tmp: Path, cloud: Any = None):
        self.tmp = tmp
        self.cloud = cloud  # a SimulatedCloud: its demo tenants are configured
        self.dir = tmp / "pb"
        self.dir.mkdir(exist_ok=True)
        self.url = f"sqlite:///{tmp}/soar.db"
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
        await self.service.start()
        return self.service

    async def stop(self) -> None:
        await self.service.stop()
        if self.service.services.apis is not None:
            await self.service.services.apis.aclose()
        self.service.store.close()

    def app_as(self) -> Any:
        """Serve's whole ASGI app, its console authenticating with the test middleware."""
        import runner.serve.app as serve_app
        from runner.console.app import build_console

        real = serve_app.build_console
        serve_app.build_console = lambda service: build_console(service, auth=[Middleware(_AsUser)])
        try:
            return serve_app.build_app(self.service)
        finally:
            serve_app.build_console = real

    def client(self, user: str | None = None) -> httpx.AsyncClient:
        headers = {"x-test-user": user} if user else {}
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app_as()), base_url="http://127.0.0.1",
                                 headers=headers)

    def loopback(self) -> httpx.AsyncClient:
        """Through the real identity middleware (no sign-in configured: loopback only)."""
        from runner.serve.app import build_app

        return httpx.AsyncClient(transport=httpx.ASGITransport(app=build_app(self.service)),
                                 base_url="http://127.0.0.1")

    async def fire(self, path: str, payload: bytes = b'{"n": 0}') -> str:
        """Send a signed webhook; returns the run id."""
        async with self.client() as http:
            r = await http.post(f"/hooks/{path}", content=payload,
                                headers={"X-Hub-Signature-256": sign(HOOK_SECRET, payload),
                                         "Content-Type": "application/json"})
        assert r.status_code == 202, r.text
        return r.json()["run_id"]


def form(**fields: str) -> dict:
    return {"data": {"csrf_token": CSRF, **fields}}


async def until(cond: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def status(store: RunStore, run_id: str) -> str | None:
    try:
        return store.get_run(run_id).status
    except Exception:  # noqa: BLE001 - not created yet
        return None


def text_of(html: str) -> str:
    """The visible text of a page, roughly (tags dropped, whitespace folded)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def fill_runs(store: RunStore, n: int, *, start: Any = None) -> list[dict]:
    """``n`` top-level runs written straight into the store (every fifth on two tenants, with its
    tenant runs), one minute apart — three of them share a time — with playbooks, statuses,
    triggers and tenants in a fixed pattern. Returns what was written, newest first."""
    from datetime import datetime, timedelta, timezone

    from runner.store import tables as t
    from runner.store.records import new_run_id, to_json

    start = start or datetime(2026, 1, 1, tzinfo=timezone.utc)
    rows, made = [], []
    for i in range(n):
        created = start + timedelta(minutes=min(i, 10) if i in (10, 11, 12) else i)
        status_ = "failed" if i % 10 == 0 else "waiting_approval" if i % 10 == 1 else "succeeded"
        trigger = ("webhook", "schedule", "poll", "manual")[i % 4]
        tenants = ["contoso", "fabrikam"] if i % 5 == 0 else [("contoso", "fabrikam", "woodgrove")[i % 3]]
        run_id = new_run_id()
        row = dict(id=run_id, parent_id=None, playbook_name=f"pb-{i % 3}", playbook_path=None,
                   playbook_text="name: x\n", tenant=tenants[0] if len(tenants) == 1 else None,
                   inputs=to_json({"i": i}), trigger=to_json({"type": trigger}), dry_run=False, status=status_,
                   outputs=None, error=None, created_at=created, started_at=created,
                   finished_at=created + timedelta(seconds=3), updated_at=created)
        rows.append(row)
        if len(tenants) > 1:
            rows += [{**row, "id": new_run_id(), "parent_id": run_id, "tenant": name} for name in tenants]
        made.append({"run_id": run_id, "playbook": row["playbook_name"], "status": status_, "trigger": trigger,
                     "tenants": tenants, "created_at": created})

    def work(conn):
        conn.execute(t.runs.insert(), rows)

    store._db.commit(work, doing="fill the store")
    return sorted(made, key=lambda m: (m["created_at"], m["run_id"]), reverse=True)
