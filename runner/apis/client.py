"""One API client: requests to one API for one tenant, with quota, auth, 429/5xx retries and
error mapping (the order is described in :mod:`runner.apis`), plus OData paging."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

import httpx

from runner.apis.calllog import ApiCall, current
from runner.apis.paths import check_absolute, check_plain, expand
from runner.apis.quotas import QuotaBucket
from runner.apis.responses import api_error, quota_reset, retry_after
from runner.apis.spec import ApiSpec, EntraResource
from runner.errors import Location, TransientApiError
from runner.http import Sender
from runner.jsoncodec import loads

if TYPE_CHECKING:
    from runner.apis.factory import ApiClients

log = logging.getLogger("soar.apis")

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "PATCH"})


@dataclass(frozen=True)
class RetryPolicy:
    """How hard a request is tried. ``attempts`` counts sends for 5xx/timeouts/connect errors;
    ``throttled`` bounds how many 429s one request absorbs; ``max_retry_after`` caps a single
    wait (seconds) — a longer one raises :class:`RateLimited` instead of stalling the run —
    except for a resource-quota 429 (the API's ``ApiSpec.quota_reset``), whose body names a reset
    further away than a call-count window: that wait is capped by ``max_quota_reset``."""

    attempts: int = 4
    backoff: float = 0.5
    max_backoff: float = 30.0
    throttled: int = 6
    max_retry_after: float = 300.0
    max_quota_reset: float = 960.0

    def delay(self, n: int) -> float:
        """Backoff before retry ``n`` (1-based): exponential, capped, with full jitter in [½, 1]."""
        return min(self.max_backoff, self.backoff * 2 ** (n - 1)) * random.uniform(0.5, 1.0)


class ApiClient:
    """Requests to one registered API for one tenant, with a given set of roles. Cheap to make.
    ``spec``: the API's registration (default: looked up in ``owner``'s registry)."""

    def __init__(self, owner: "ApiClients", tenant: Any, api: str, roles: tuple[str, ...], bucket: QuotaBucket,
                 spec: ApiSpec | None = None):
        self.owner = owner
        self.tenant = tenant
        self.api = api
        self.spec = spec if spec is not None else owner.spec(api)
        self.roles = tuple(roles)
        self.bucket = bucket
        self.base_url = owner.base_url(tenant, api)
        self.entra = isinstance(self.spec.auth, EntraResource)
        # made on first request: one BearerAuth (its header is made once per token) or SecretCredential
        self._auth: Any = False
        self._pool: tuple[Any, Sender] | None = None  # (event loop, its sender: a connection pool)

    def _http(self) -> Sender:
        loop = asyncio.get_running_loop()
        pool = self._pool
        if pool is None or pool[0] is not loop or pool[1].is_closed:
            pool = self._pool = (loop, self.owner._http(self.tenant.name, self.api, self.base_url))
        return pool[1]

    def url(self, path: str) -> str:
        return path if path.startswith(("https://", "http://")) else self.base_url + "/" + path.lstrip("/")

    async def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                      json: Any = None, idempotent: bool | None = None, timeout: float | None = None,
                      headers: Mapping[str, str] | None = None,
                      segments: Mapping[str, Any] | None = None) -> httpx.Response:
        """Send one request (with quota, auth, retries); return the 2xx response or raise.
        ``path``: relative to the API's base URL, either plain text or a template whose
        ``{name}`` segments take their values from ``segments``, each escaped as one path
        segment (:mod:`runner.apis.paths`); or an absolute URL the API gave (a nextLink).
        ``timeout``: seconds to wait for the answer, when the endpoint's own limit is not the
        client's default (hunting: 3 min); ``headers``: extra request headers."""
        method = method.upper()
        safe = method in SAFE_METHODS if idempotent is None else idempotent
        owner = self.owner
        auth = self._auth
        if auth is False:
            auth = self._auth = owner._auth(self.tenant.name, self.api, self.roles)
        if auth is not None and auth.header_name is None:  # an API key sent as a query parameter
            params = {**(params or {}), auth.query_name: await auth.header()}
        if segments is None and path.startswith(("https://", "http://")):  # a nextLink: the API's own URL
            url: str | httpx.URL = check_absolute(path, self.base_url)
        else:
            path = check_plain(path) if segments is None else expand(path, segments)
            url = self.base_url + "/" + path.lstrip("/")
        http = self._http()
        calls = current()  # the step's log of API calls, when a step is running
        started = time.perf_counter() if calls is not None else 0.0
        request = http.build(method, url, params=params, json=json, headers=headers,
                             timeout=httpx.Timeout(timeout, connect=10.0) if timeout is not None else None)
        stats = [0, 0.0, None]  # 429s absorbed, seconds waited on them, the last status
        if calls is None:
            return await self._exchange(http, request, url, method, safe, auth, stats)
        try:
            return await self._exchange(http, request, url, method, safe, auth, stats)
        finally:
            calls.add(ApiCall(self.api, self.tenant.name, method, request.url.path, stats[2],
                              round((time.perf_counter() - started) * 1000, 1), stats[0], round(stats[1], 3)))

    async def _exchange(self, http: Sender, request: httpx.Request, url: str | httpx.URL, method: str, safe: bool,
                        auth: Any, stats: list) -> httpx.Response:
        """Send ``request`` until it is answered for good (the quota, 401, 429 and retry loop)."""
        owner = self.owner
        policy = owner.retry
        bucket = self.bucket
        sends = throttled = 0
        refreshed = False
        while True:
            receipt: list = []
            if bucket.limits or throttled or bucket.paused():  # no budget to keep: nothing to wait for
                await bucket.acquire(after_pause=throttled > 0, receipt=receipt)
            sends += 1
            owner._count("calls", self.tenant.name, self.api)
            try:
                try:
                    header = auth.header_name if auth is not None else None
                    if header is not None:
                        request.headers[header] = await auth.header()
                    response = await http.send(request)
                    if response.status_code == 401 and header is not None and not refreshed:
                        refreshed = True  # the credential was refused: a new one (token), one more try
                        fresh = await auth.refreshed()
                        if fresh is not None:
                            request.headers[header] = fresh
                            response = await http.send(request)
                finally:
                    if receipt:
                        bucket.answered(receipt)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                # the request never reached the server: safe to send again whatever the method
                if sends < policy.attempts:
                    await owner._backoff(sends, self.tenant.name, self.api, f"{type(exc).__name__}")
                    continue
                raise TransientApiError(f"cannot reach {httpx.URL(url).host} ({type(exc).__name__}) after "
                                        f"{sends} attempts", code=type(exc).__name__, retryable=True,
                                        where=Location(tenant=self.tenant.name),
                                        hint="check the network (proxy, firewall, region) and retry") from None
            except httpx.TransportError as exc:  # sent, answer lost: outcome unknown
                if safe and sends < policy.attempts:
                    await owner._backoff(sends, self.tenant.name, self.api, type(exc).__name__)
                    continue
                code = "Timeout" if isinstance(exc, httpx.TimeoutException) else type(exc).__name__
                raise TransientApiError(
                    f"{method} {httpx.URL(url).path}: no answer from {httpx.URL(url).host} ({code})",
                    code=code, retryable=safe, where=Location(tenant=self.tenant.name),
                    hint="it was retried" if safe else "the request may have taken effect: look it up "
                                                      "before sending it again") from None
            status = stats[2] = response.status_code
            if status < 400:
                return response
            if status == 429:
                owner._count("throttled", self.tenant.name, self.api)
                reader = self.spec.error_body
                wait = retry_after(response, reader=reader)
                if wait is None:
                    wait = policy.delay(throttled + 1) * 2
                cap = (policy.max_quota_reset if quota_reset(response, self.spec) is not None
                       else policy.max_retry_after)
                if throttled < policy.throttled and wait <= cap:
                    throttled += 1
                    stats[0] = throttled
                    stats[1] += wait
                    self.bucket.pause(wait)
                    log.info("429 from %s for %s: waiting %.1fs", self.api, self.tenant.name, wait)
                    await owner._sleep(wait)
                    continue
            elif status >= 500 and safe and sends < policy.attempts:
                await owner._backoff(sends, self.tenant.name, self.api, f"HTTP {status}")
                continue
            raise api_error(response, tenant=self.tenant.name, api=self.api, idempotent=safe, spec=self.spec,
                            consent_url=owner._consent(self.tenant.name) if status == 403 and self.entra else None)

    async def get(self, path: str, params: Mapping[str, Any] | None = None, *,
                  segments: Mapping[str, Any] | None = None) -> Any:
        """GET and decode JSON."""
        return _json(await self.request("GET", path, params=params, segments=segments))

    async def post(self, path: str, json: Any = None, *, idempotent: bool = False, timeout: float | None = None,
                   headers: Mapping[str, str] | None = None, segments: Mapping[str, Any] | None = None) -> Any:
        return _json(await self.request("POST", path, json=json, idempotent=idempotent, timeout=timeout,
                                        headers=headers, segments=segments))

    async def patch(self, path: str, json: Any, *, segments: Mapping[str, Any] | None = None) -> Any:
        return _json(await self.request("PATCH", path, json=json, segments=segments))

    async def delete(self, path: str, *, segments: Mapping[str, Any] | None = None) -> Any:
        return _json(await self.request("DELETE", path, segments=segments))

    async def list(self, path: str, params: Mapping[str, Any] | None = None, *, page_size: int = 100,
                   max_items: int | None = 10_000, segments: Mapping[str, Any] | None = None) -> list:
        """All items of an OData collection: follows ``@odata.nextLink`` when the API gives one,
        else pages with ``$top``/``$skip`` until a short page; stops at ``max_items``."""
        items: list = []
        base = dict(params or {})
        url: str = path
        query: dict | None = {**base, "$top": page_size, "$skip": 0}
        followed = False
        while True:
            body = await self.get(url, query, segments=None if followed else segments)
            page = body.get("value", []) if isinstance(body, dict) else list(body or [])
            items.extend(page)
            if max_items is not None and len(items) >= max_items:
                return items[:max_items]
            link = body.get("@odata.nextLink") if isinstance(body, dict) else None
            if link:
                url, query, followed = link, None, True
                continue
            if followed or len(page) < page_size or not page:
                return items
            query = {**base, "$top": page_size, "$skip": len(items)}


def _json(response: httpx.Response) -> Any:
    content = response.content
    if not content:
        return None
    try:
        return loads(content)
    except ValueError:
        return {"text": response.text}

