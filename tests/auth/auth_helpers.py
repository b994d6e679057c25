"""Helpers shared by the auth tests (imported as a plain module)."""

from __future__ import annotations

import asyncio

import httpx

from runner.auth import TokenProvider
from runner.sim import SimulatedCloud

MDE_HOST = "api.securitycenter.microsoft.com"


class FakeApi:
    """Counts calls; answers 200 for a token the simulator signed, else 401."""

    def __init__(self, cloud: SimulatedCloud, api: str = "mde") -> None:
        self.cloud = cloud
        self.api = api
        self.calls: list[httpx.Request] = []
        self.reject_next = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request)
        if self.reject_next:
            self.reject_next -= 1
            return httpx.Response(401, json={"error": {"code": "Unauthorized", "message": "token rejected"}})
        if self.cloud.verify_bearer(request.headers.get("authorization"), self.api) is None:
            return httpx.Response(401, json={"error": {"code": "Unauthorized", "message": "bad token"}})
        return httpx.Response(200, json={"value": []})


def run(coro):
    return asyncio.run(coro)


async def call_mde(provider: TokenProvider, cloud: SimulatedCloud, tenant: str = "contoso",
                   roles: tuple[str, ...] = ()) -> httpx.Response:
    """One Defender API call the way actions make it: bearer auth with one 401 retry."""
    async with cloud.network().async_client(auth=provider.auth(tenant, "mde", roles)) as client:
        return await client.get(f"https://{MDE_HOST}/api/machines")
