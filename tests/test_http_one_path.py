"""runner.http on httpx's public API alone. API calls go through a ``Sender``, straight to the
network's transport: what an API call needs must happen — default and extra headers, query
parameters (the URL exactly as httpx builds it), JSON bodies, per-request timeouts, no cookies
carried over — and for the real network, the environment's proxy. Every client the network
builds carries soar's User-Agent. No module of the runner or its plugins touches httpx's
private modules or attributes."""

from __future__ import annotations

import asyncio
import re
import socket
import threading
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runner.apis import ApiClients
from runner.engine.context import TenantInfo
from runner.http import USER_AGENT, Network, _env_proxy, _relay_url

ROOT = Path(__file__).resolve().parent.parent
MDE = "https://api.securitycenter.microsoft.com"
TENANT = TenantInfo("contoso", "00000000-0000-0000-0000-000000000001")


def _recording_network(seen: list[httpx.Request]) -> Network:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"n": len(seen)}, headers={"Set-Cookie": "session=abc; Path=/"})

    return Network.simulated(handler)


def test_an_api_call_is_sent_as_it_needs():
    seen: list[httpx.Request] = []
    apis = ApiClients(_recording_network(seen), None, None)
    client = apis.client(TENANT, "mde")

    async def main():
        try:
            first = await client.post("api/machines/{id}/isolate", {"Comment": "isolé"}, segments={"id": "m1"},
                                      timeout=180.0, headers={"X-Extra": "1"})
            second = await client.get("/api/machineactions", {"$filter": "machineId eq 'm1'", "$top": 5})
            return first, second
        finally:
            await apis.aclose()

    first, second = asyncio.run(main())
    assert (first, second) == ({"n": 1}, {"n": 2})
    post, get = seen
    assert post.url == httpx.URL(f"{MDE}/api/machines/m1/isolate")
    assert post.headers["User-Agent"] == USER_AGENT and post.headers["Accept"] == "application/json"
    assert post.headers["X-Extra"] == "1" and post.headers["Content-Type"] == "application/json"
    assert post.content == '{"Comment":"isolé"}'.encode()
    assert post.extensions["timeout"]["read"] == 180.0
    assert get.url.path == "/api/machineactions"
    assert get.url.params == httpx.QueryParams({"$filter": "machineId eq 'm1'", "$top": "5"})
    assert get.extensions["timeout"]["read"] == 30.0  # the client's default
    assert "X-Extra" not in get.headers  # extra headers are per request
    assert "Cookie" not in get.headers  # no cookie kept: API calls carry no session
    assert get.headers["User-Agent"] == USER_AGENT


def test_headers_given_to_a_client_keep_the_user_agent():
    seen: list[httpx.Request] = []

    async def main():
        async with _recording_network(seen).async_client(headers={"Accept": "text/plain"}) as client:
            await client.get("https://example.test/a")
            await client.get("https://example.test/b")

    asyncio.run(main())
    assert [r.headers["User-Agent"] for r in seen] == [USER_AGENT] * 2
    assert seen[0].headers["Accept"] == "text/plain" and "Cookie" not in seen[1].headers
    with _recording_network(seen).sync_client() as sync:
        sync.get("https://example.test/c")
    assert seen[-1].headers["User-Agent"] == USER_AGENT


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


def test_api_calls_on_the_real_network_go_through_the_environments_proxy(monkeypatch):
    """An API client on the real network with HTTPS_PROXY set opens a CONNECT tunnel to the API
    host through the proxy (here a loopback socket that records the CONNECT line and refuses
    it): the API host itself is never contacted."""
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


_segment = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
_params = st.dictionaries(_segment, _segment | st.integers() | st.booleans() | st.none(), max_size=3) | st.lists(
    st.tuples(_segment, _segment), max_size=3)


@settings(max_examples=300, deadline=None)
@given(segments=st.lists(_segment, max_size=4), params=st.none() | _params)
def test_a_sender_builds_the_url_httpx_builds(segments, params):
    """The Sender parses a URL with its parameters once; the result is what httpx.Request
    gives for the same URL and parameters (it parses twice), whatever the characters."""
    url = f"{MDE}/" + "/".join(segments)
    try:
        expected = httpx.Request("GET", url, params=params).url
    except httpx.InvalidURL:
        with pytest.raises(httpx.InvalidURL):
            Network.simulated(lambda r: httpx.Response(200)).sender(MDE, headers={}).build("GET", url, params=params)
        return
    built = Network.simulated(lambda r: httpx.Response(200)).sender(MDE, headers={}).build("GET", url, params=params)
    assert str(built.url) == str(expected) and built.url.raw_path == expected.raw_path


@settings(max_examples=300, deadline=None)
@given(segments=st.lists(_segment, max_size=4), params=st.dictionaries(_segment, _segment, max_size=3),
       host=st.sampled_from(["api.securitycenter.microsoft.com", "EXAMPLE.com", "127.0.0.1:8443", "[::1]"]))
def test_a_relayed_url_keeps_the_path_and_query_as_sent(segments, params, host):
    """The loopback relay sends ``https://HOST/PATH?QUERY`` to ``{base}/_host/HOST/PATH?QUERY``
    with the path and query bytes exactly as the request had them, whatever the characters."""
    try:
        url = httpx.Request("GET", f"https://{host}/" + "/".join(segments), params=params).url
    except httpx.InvalidURL:
        return
    for base in ("http://127.0.0.1:8765", "http://localhost:9000/sim"):
        relayed = _relay_url(f"{base}/_host/", url)
        prefix = httpx.URL(base).raw_path.rstrip(b"/") + b"/_host/" + url.host.encode("idna")
        assert relayed.raw_path == prefix + url.raw_path
        assert (relayed.scheme, relayed.netloc) == ("http", httpx.URL(base).netloc)


_PRIVATE = re.compile(r"httpx\._|_uri_reference|_urlparse")


def test_no_module_touches_httpx_private_parts():
    found = [f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
             for top in ("runner", "plugins") for path in sorted((ROOT / top).rglob("*.py"))
             for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if _PRIVATE.search(line)]
    assert found == []
