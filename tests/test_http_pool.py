"""core.http_request shares one connection pool per (network, event loop): N calls on one loop use
one keep-alive connection (they used to open a client and a connection each), keep no cookies,
and the pool is closed when the loop ends — no connection (and no ResourceWarning) outlives it."""

from __future__ import annotations

import asyncio
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest

from runner.builtin.core import HttpInput, core_http_request
from runner.http import Network


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        self.connections = 0
        self.cookies: list[str | None] = []
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive

    def setup(self):
        super().setup()
        self.server.connections += 1

    def do_GET(self):
        self.server.cookies.append(self.headers.get("Cookie"))
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Set-Cookie", "session=abc; Path=/")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    srv = _Server()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _ctx(network: Network):
    return SimpleNamespace(services=SimpleNamespace(network=network))


def _get(network: Network, url: str, n: int) -> list:
    async def main():
        out = [await core_http_request(_ctx(network), HttpInput(url=url, timeout=5)) for _ in range(n)]
        pooled = await network.pooled_async_client()
        return out, pooled

    return asyncio.run(main())


def test_calls_on_one_loop_share_one_connection_and_keep_no_cookies(server):
    network = Network(real=True)
    url = f"http://127.0.0.1:{server.server_address[1]}/thing"
    outputs, pooled = _get(network, url, 5)
    assert [o.status for o in outputs] == [200] * 5 and outputs[0].json_ == {"ok": True}
    assert server.connections == 1
    assert server.cookies == [None] * 5  # Set-Cookie answered every time, never sent back
    assert pooled.is_closed  # closed when asyncio.run shut the loop down


def test_each_loop_gets_its_own_pool(server):
    network = Network(real=True)
    url = f"http://127.0.0.1:{server.server_address[1]}/thing"
    _, first = _get(network, url, 2)
    _, second = _get(network, url, 2)
    assert first is not second and first.is_closed and second.is_closed
    assert server.connections == 2


def test_aclose_pooled_closes_now_and_a_later_call_opens_a_new_pool(server):
    network = Network(real=True)
    url = f"http://127.0.0.1:{server.server_address[1]}/thing"

    async def main():
        await core_http_request(_ctx(network), HttpInput(url=url))
        first = await network.pooled_async_client()
        await network.aclose_pooled()
        closed_now = first.is_closed
        await core_http_request(_ctx(network), HttpInput(url=url))
        return first, closed_now, await network.pooled_async_client()

    first, closed_now, second = asyncio.run(main())
    assert closed_now and second is not first and second.is_closed
    assert server.connections == 2
