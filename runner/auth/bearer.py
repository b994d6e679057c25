"""The ``httpx.Auth`` of API calls: the bearer token of (tenant, api), refreshed once on a 401."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, AsyncGenerator

import httpx

if TYPE_CHECKING:  # pragma: no cover
    from runner.auth.provider import TokenProvider
    from runner.auth.token import AccessToken

log = logging.getLogger("soar.auth")


class BearerAuth(httpx.Auth):
    """httpx auth for API calls: bearer token for (tenant, api), one refresh + retry on 401.

    The token comes from the provider on every request (its memory hit is a dict look-up); the
    ``Authorization`` header is made once per token, so keep one instance per API client."""

    requires_request_body = True
    header_name = "Authorization"  # what runner.apis.client fills with header()
    query_name = None

    def __init__(self, provider: "TokenProvider", tenant: str, api: str, roles: tuple[str, ...] = ()) -> None:
        self.provider = provider
        self.tenant = tenant
        self.api = api
        self.roles = roles
        self._token: "AccessToken | None" = None
        self._header = ""

    async def header(self) -> str:
        """The ``Authorization`` header value for the current token (made once per token)."""
        token = await self.provider.get_token(self.tenant, self.api, roles=self.roles)
        if token is not self._token:
            self._token, self._header = token, token.authorization_header().reveal()
        return self._header

    async def refreshed(self) -> str:
        """After a 401: drop the cached token and return the header of a new one."""
        log.info("API answered 401 for %s/%s: refreshing the token and retrying once", self.tenant, self.api)
        self.provider.invalidate(self.tenant, self.api)
        return await self.header()

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        request.headers["Authorization"] = await self.header()
        response = yield request
        if response.status_code == 401:
            request.headers["Authorization"] = await self.refreshed()
            yield request

    def sync_auth_flow(self, request: httpx.Request):  # type: ignore[override]
        raise RuntimeError("BearerAuth works with httpx.AsyncClient only")
