"""Network.loopback: a request to https://HOST/PATH reaches {base}/_host/HOST/PATH with the relay's
Host header, and the caller's request is left as it was (a 401 retry re-sends it)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from runner.errors import UsageError
from runner.http import Network

BASE = "http://127.0.0.1:8765"


def _capture(seen: list):
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((str(request.url), request.headers["host"], request.content))
        return httpx.Response(200, json={"ok": True})
    return handler


def test_sync_relay_rewrites_for_the_send_only():
    seen: list = []
    client = Network.loopback(BASE).sync_client()
    client._transport._inner = httpx.MockTransport(_capture(seen))
    request = client.build_request("POST", "https://api.securitycenter.microsoft.com/api/machines/m1/isolate?x=1",
                                   json={"Comment": "c"})
    for _ in range(2):  # the same request object sent twice, as the auth flow does after a 401
        assert client.send(request).json() == {"ok": True}
    assert seen == [(f"{BASE}/_host/api.securitycenter.microsoft.com/api/machines/m1/isolate?x=1",
                     "127.0.0.1:8765", b'{"Comment":"c"}')] * 2
    assert str(request.url).startswith("https://api.securitycenter.microsoft.com/")
    assert request.headers["host"] == "api.securitycenter.microsoft.com"


def test_async_relay_rewrites_for_the_send_only():
    seen: list = []

    async def main():
        async with Network.loopback(BASE).async_client() as client:
            client._transport._inner = httpx.MockTransport(_capture(seen))
            response = await client.get("https://graph.microsoft.com/v1.0/security/incidents")
            return response

    response = asyncio.run(main())
    assert seen == [(f"{BASE}/_host/graph.microsoft.com/v1.0/security/incidents", "127.0.0.1:8765", b"")]
    assert response.request.url.host == "graph.microsoft.com"  # errors name the API's real host


def test_loopback_refuses_a_non_loopback_relay():
    with pytest.raises(UsageError, match="not on loopback"):
        Network.loopback("http://10.1.2.3:8765")
