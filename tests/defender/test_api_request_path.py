"""The per-request path of ApiClient: one BearerAuth per client, one header per token, the pooled
httpx client per event loop, and a 429's pause honoured even when quotas are off."""

from __future__ import annotations

import asyncio

import httpx

from runner.apis import ApiClients
from runner.auth.bearer import BearerAuth
from runner.auth.token import AccessToken
from runner.engine.context import TenantInfo
from runner.http import Network
from runner.secrets import Secret

T = TenantInfo("contoso", "0b9d2f3e-0000-0000-0000-000000000001")


def token(raw: str) -> AccessToken:
    return AccessToken(value=Secret(raw, name="access_token"), tenant="contoso", tenant_id=T.id, api="mde",
                       resource="https://api.securitycenter.microsoft.com", expires_on=2e9)


class FakeProvider:
    """Hands out the current token; counts the BearerAuth objects made."""

    def __init__(self):
        self.current = token("first-token-value-0001")
        self.auths = 0
        self.invalidated = 0

    def auth(self, tenant, api, roles=()):
        self.auths += 1
        return BearerAuth(self, tenant, api, roles)

    async def get_token(self, tenant, api, *, roles=()):
        return self.current

    def invalidate(self, tenant, api):
        self.invalidated += 1
        self.current = token("refreshed-token-value-0003")


def test_one_auth_per_client_and_the_header_follows_the_token(monkeypatch):
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Authorization"])
        if request.headers["Authorization"].endswith("stale-token-value-0002"):
            return httpx.Response(401, json={"error": {"code": "Unauthorized", "message": "expired"}})
        return httpx.Response(200, json={"ok": True})

    made = []
    real = AccessToken.authorization_header
    monkeypatch.setattr(AccessToken, "authorization_header", lambda self: made.append(1) or real(self))
    provider = FakeProvider()
    apis = ApiClients(Network.simulated(handler), auth=provider, quotas="off")
    client = apis.client(T, "mde", ("Machine.Read.All",))

    async def calls():
        for _ in range(3):
            assert await client.get("/api/machines") == {"ok": True}
        provider.current = token("stale-token-value-0002")  # a new token: a new header; its 401 refreshes
        assert await client.get("/api/machines") == {"ok": True}
        await apis.aclose()

    asyncio.run(calls())
    assert provider.auths == 1
    assert seen == ["Bearer first-token-value-0001"] * 3 + ["Bearer stale-token-value-0002",
                                                            "Bearer refreshed-token-value-0003"]
    assert provider.invalidated == 1
    assert len(made) == 3  # first token, stale token, and the refreshed one after the 401


def test_the_pooled_client_is_per_event_loop_and_remade_after_close():
    loops = []
    apis = ApiClients(Network.simulated(lambda r: httpx.Response(200, json={"n": 1})), quotas="off")
    client = apis.client(T, "mde")

    async def call(close: bool):
        assert await client.get("/api/machines") == {"n": 1}
        loops.append(client._pool)
        if close:
            await apis.aclose()

    asyncio.run(call(close=False))
    asyncio.run(call(close=True))  # another loop: another pool
    assert loops[0][0] is not loops[1][0] and loops[0][1] is not loops[1][1]

    async def twice():
        assert await client.get("/a") == {"n": 1}
        first = client._pool[1]
        await apis.aclose()  # closed: the next request makes a new pooled client
        assert await client.get("/b") == {"n": 1}
        assert client._pool[1] is not first and not client._pool[1].is_closed
        await apis.aclose()

    asyncio.run(twice())


def test_a_429_pause_holds_other_requests_when_quotas_are_off():
    apis = ApiClients(Network.simulated(lambda r: httpx.Response(200, json={})), quotas="off")
    client = apis.client(T, "mde")
    bucket = apis.bucket("contoso", "mde")
    assert bucket.limits == [] and not bucket.paused()

    async def go():
        assert await client.get("/x") == {}
        assert bucket.waits == 0
        bucket.pause(0.05)  # what another request's 429 Retry-After does
        assert bucket.paused()
        assert await client.get("/y") == {}
        await apis.aclose()

    asyncio.run(go())
    assert bucket.waits == 1 and bucket.waited > 0
