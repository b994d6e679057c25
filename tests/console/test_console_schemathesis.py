"""schemathesis against the console's OpenAPI document: every ``/api/v1`` operation, called with
data generated from its parameters and body schemas by a script signed in with a bearer token
(the Responder app of the simulated Entra ID), over HTTP on loopback to a real ``soar serve``
(uvicorn, sign-in configured), never answers a 5xx.

Bounded for CI: a few dozen cases per operation (about 400 requests); run it with a larger
``SOAR_SCHEMATHESIS_EXAMPLES`` to search longer."""

from __future__ import annotations

import asyncio
import os
import socket
import threading

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from test_console_signin_kit import GATED, HOOK_SECRET, ConsoleHarness

from runner.console.openapi import document
from runner.serve.webhooks import sign
from runner.sim import SimulatedCloud

EXAMPLES = int(os.environ.get("SOAR_SCHEMATHESIS_EXAMPLES", "30"))
LOOK = """
name: look
tenants: [contoso]
steps:
  - id: machines
    action: defender.list_machines
"""

schema = schemathesis.openapi.from_dict(document())


class Served:
    """``soar serve`` (its whole app, sign-in configured) on 127.0.0.1, in a thread of its own."""

    def __init__(self, tmp) -> None:
        self.cloud = SimulatedCloud(defender={"time_scale": 600})
        self.harness = ConsoleHarness(tmp, self.cloud)
        (self.harness.dir / "gated.yaml").write_text(GATED)
        (self.harness.dir / "look.yaml").write_text(LOOK)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.ready = threading.Event()
        self.failed: BaseException | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread = threading.Thread(target=self._main, name="soar-serve", daemon=True)

    def _main(self) -> None:
        async def main() -> None:
            self.loop = asyncio.get_running_loop()
            service = await self.harness.start()
            self.ready.set()
            await service.serve(self.sock)
            await self.harness.stop()

        try:
            asyncio.run(main())
        except BaseException as exc:  # noqa: BLE001 - reported by the fixture
            self.failed = exc
            self.ready.set()

    def start(self) -> None:
        self.thread.start()
        assert self.ready.wait(30) and self.failed is None, self.failed

    def stop(self) -> None:
        service = self.harness.service
        if self.loop is not None and service is not None:
            self.loop.call_soon_threadsafe(service.request_stop)
        self.thread.join(30)
        assert not self.thread.is_alive() and self.failed is None, self.failed


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    old = os.environ.get("SOAR_TEST_CONSOLE_HOOK")
    os.environ["SOAR_TEST_CONSOLE_HOOK"] = HOOK_SECRET
    server = Served(tmp_path_factory.mktemp("schemathesis"))
    server.start()
    try:
        token = server.cloud.entra.signin.app_token("automation")  # Responder (and so Viewer)
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=30) as http:
            assert http.get("/api/v1/me").json()["roles"] == ["Responder"]
            body = b"{}"  # a run waiting at its gate, and one finished: something to list and look up
            hook = http.post("/hooks/gated", content=body, headers={"X-Hub-Signature-256": sign(HOOK_SECRET, body),
                                                                     "Content-Type": "application/json"})
            assert hook.status_code == 202, hook.text
            assert http.post("/api/v1/playbooks/look/run", json={}).status_code == 202
        yield server.url, headers
    finally:
        server.stop()
        if old is None:
            os.environ.pop("SOAR_TEST_CONSOLE_HOOK", None)
        else:
            os.environ["SOAR_TEST_CONSOLE_HOOK"] = old


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
def test_no_operation_answers_a_server_error(case, served):
    base_url, headers = served
    response = case.call(base_url=base_url, headers=headers, timeout=30)
    assert response.status_code < 500, (f"{case.method} {case.formatted_path} {case.query or ''} -> "
                                        f"{response.status_code}: {response.text[:500]}")
