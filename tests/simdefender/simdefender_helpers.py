"""Helpers for the Defender simulator tests: constants and a client holding real tokens.

A module with a unique name (not ``conftest``), so that importing it works whatever order the
test directories are collected in."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from runner.auth import TokenProvider
from runner.auth.cache import MemoryCacheStore
from runner.sim import SimulatedCloud

START = 1_767_225_600.0  # 2026-01-01T00:00:00Z
XDR = "https://api.security.microsoft.com"
MDE = "https://api.securitycenter.microsoft.com"
GRAPH = "https://graph.microsoft.com"


class Api:
    """A sync httpx client on the simulator; tokens come from the simulated Entra ID via TokenProvider."""

    def __init__(self, cloud: SimulatedCloud) -> None:
        self.cloud = cloud
        self.http = httpx.Client(transport=httpx.MockTransport(cloud.handler))
        self.provider = TokenProvider(cloud.demo_config(), cloud.network(), cache_store=MemoryCacheStore())
        self._tokens: dict[tuple[str, str], str] = {}

    def token(self, tenant: str, api: str) -> str:
        key = (tenant, api)
        if key not in self._tokens:
            self._tokens[key] = asyncio.run(self.provider.get_token(tenant, api)).value.reveal()
        return self._tokens[key]

    @staticmethod
    def api_for(url: str) -> str:
        host = httpx.URL(url).host
        if "graph" in host:
            return "graph"
        if "securitycenter" in host:
            return "mde"
        return "xdr" if "/api/incidents" in url or "advancedhunting" in url else "mde"

    def call(self, method: str, url: str, tenant: str = "contoso", *, token: str | None = None,
             **kw: Any) -> httpx.Response:
        token = token or self.token(tenant, self.api_for(url))
        headers = {"Authorization": f"Bearer {token}", **kw.pop("headers", {})}
        return self.http.request(method, url, headers=headers, **kw)

    def get(self, url: str, tenant: str = "contoso", **kw: Any) -> httpx.Response:
        return self.call("GET", url, tenant, **kw)

    def post(self, url: str, json: Any = None, tenant: str = "contoso", **kw: Any) -> httpx.Response:
        return self.call("POST", url, tenant, json=json, **kw)

    def patch(self, url: str, json: Any = None, tenant: str = "contoso", **kw: Any) -> httpx.Response:
        return self.call("PATCH", url, tenant, json=json, **kw)

    def close(self) -> None:
        self.http.close()
        self.provider.close()
