"""runner.http.Sender: how API calls are sent (straight to the network's transport, without
httpx.AsyncClient's cookie/auth/redirect layers). What the layers did that API calls need must
still happen: default and extra headers, query parameters, JSON bodies, per-request timeouts,
the answer read whole — and for the real network, the environment's proxy."""

from __future__ import annotations

import asyncio
import socket
import threading

import httpx
import pytest

from runner.http import USER_AGENT, Network, _env_proxy

MDE = "https://api.securitycenter.microsoft.com"


def _recording_network(seen: list[httpx.Request]) -> Network:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"n": len(seen)}, headers={"Set-Cookie": "session=abc; Path=/"})

    return Network.simulated(handler)


def test_sender_builds_the_request_an_api_call_needs():
    seen: list[httpx.Request] = []
    sender = _recording_network(seen).sender(MDE, headers={"Accept": "application/json"})

    async def main():
        first = sender.build("POST", f"{MDE}/api/machines/m1/isolate", params={"$top": 5},
                             json={"Comment": "x"}, headers={"X-Extra": "1"},
                             timeout=httpx.Timeout(180.0, connect=10.0))
        answer = await sender.send(first)
        second = await sender.send(sender.build("GET", f"{MDE}/api/machines"))
        await sender.aclose()
        return answer, second

    answer, second = asyncio.run(main())
    request = seen[0]
    assert request.url == httpx.URL(f"{MDE}/api/machines/m1/isolate?%24top=5")
    assert request.headers["User-Agent"] == USER_AGENT
    assert request.headers["Accept"] == "application/json"
    assert request.headers["X-Extra"] == "1" and request.headers["Content-Type"] == "application/json"
    assert request.content == b'{"Comment":"x"}'
    assert request.extensions["timeout"]["read"] == 180.0
    assert seen[1].extensions["timeout"]["read"] == 30.0  # the default
    assert "X-Extra" not in seen[1].headers  # extra headers are per request
    assert "Cookie" not in seen[1].headers  # no cookie jar: API calls carry no session
    assert answer.json() == {"n": 1} and answer.request is request and answer.is_closed
    assert second.json() == {"n": 2} and sender.is_closed


def test_env_proxy_follows_https_proxy_and_no_proxy(monkeypatch):
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    assert _env_proxy(MDE) is None
    monkeypatch.setenv("HTTPS_PROXY", "proxy.corp.example:3128")
    assert _env_proxy(MDE) == "http://proxy.corp.example:3128"
    monkeypatch.setenv("NO_PROXY", ".microsoft.com")
    assert _env_proxy(MDE) is None
    monkeypatch.delenv("HTTPS_PROXY")
    monkeypatch.delenv("NO_PROXY")
    monkeypatch.setenv("ALL_PROXY", "http://proxy.corp.example:8080")
    assert _env_proxy("https://graph.microsoft.com") == "http://proxy.corp.example:8080"


def test_the_real_network_sends_through_the_environments_proxy(monkeypatch):
    """A real-network sender with HTTPS_PROXY set opens a CONNECT tunnel to the API host through
    the proxy (here a loopback socket that records the CONNECT line and refuses it): the API
    host itself is never contacted."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    lines: list[bytes] = []

    def proxy():
        conn, _ = listener.accept()
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                data += chunk
            lines.append(data.split(b"\r\n")[0])
            conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    thread = threading.Thread(target=proxy, daemon=True)
    thread.start()
    for name in ("NO_PROXY", "no_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{listener.getsockname()[1]}")
    monkeypatch.delenv("SOAR_OFFLINE", raising=False)
    sender = Network.internet().sender(MDE, headers={})

    async def main():
        try:
            await sender.send(sender.build("GET", f"{MDE}/api/machines"))
        finally:
            await sender.aclose()

    with pytest.raises(httpx.ProxyError):
        asyncio.run(main())
    thread.join(5)
    listener.close()
    assert lines == [b"CONNECT api.securitycenter.microsoft.com:443 HTTP/1.1"]
