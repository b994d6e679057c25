"""API clients for Defender (MDE), Defender XDR and Graph: quotas, retries, errors, paging.

:class:`ApiClients` is built once per process (``ApiClients.for_services(services)``) and
hands out an :class:`ApiClient` per (tenant, api, roles)::

    client = ctx.services.apis.client(ctx.tenant, "mde", ("Machine.Read.All",))
    machines = await client.list("/api/machines", params={"$filter": "riskScore eq 'High'"})

What every request gets, in this order:

1. **Quota** — it waits (FIFO, no busy loop) for budget in its (tenant, bucket) quota bucket,
   preloaded with the documented limits (:data:`DEFAULT_QUOTAS`) and overridable with
   ``config.quotas``. A request never fails for lack of budget; it queues.
2. **Auth** — a bearer token for (tenant, api) from the token provider; on a 401 the token
   is refreshed and the request retried once (:class:`runner.auth.provider.BearerAuth`).
3. **429** — ``Retry-After`` (seconds or a date) or, for XDR, the reset time stated in the
   body is honoured: the whole bucket pauses, then the request is sent again. A 429 means the
   request was not processed, so this is safe for every method.
4. **5xx, timeouts** — retried with exponential backoff and jitter, but only for requests
   safe to repeat: GET/HEAD/PUT/DELETE, PATCH, and POSTs the caller marks ``idempotent``.
   Connection failures (the request never left) are retried for every method. A POST whose
   outcome is unknown raises :class:`TransientApiError` with ``retryable = False`` so the
   caller can look up what happened instead of sending it twice (see :func:`outcome_unknown`).
5. **Errors** — ``{"error": {"code", "message", "target"}}`` bodies become our errors
   (:func:`api_error`): 403 Forbidden → :class:`PermissionMissing` with the role the API named
   and the consent link, 404 → ``ApiError(status=404)`` "not found", 400 → ``ApiError`` with
   the API's message, 429/5xx after the budget → :class:`RateLimited` / :class:`TransientApiError`.

The pooled ``httpx.AsyncClient`` per (tenant, api) comes from the process's
:class:`~runner.http.Network` (real, simulated or refused) — one per event loop, because an
httpx pool belongs to the loop it was first used on.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import re
import time
import weakref
from collections import Counter, deque
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Mapping

import httpx

from runner.auth import clouds
from runner.errors import (ApiError, AuthError, ConfigError, Location, PermissionMissing, RateLimited,
                           TransientApiError)

log = logging.getLogger("soar.apis")

# Documented limits (shared/defender-api.md section 5). Graph's security API documents no
# call-count limit for incidents, so it has none unless configured.
DEFAULT_QUOTAS: dict[str, dict[str, int]] = {
    "mde": {"per_minute": 100, "per_hour": 1500},
    "xdr": {"per_minute": 50, "per_hour": 1500},
    "hunting": {"per_minute": 45, "per_hour": 1500},
    "live_response": {"per_minute": 10},
    "graph": {},
}
WINDOWS = {"per_second": 1.0, "per_minute": 60.0, "per_hour": 3600.0, "per_day": 86400.0}
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "PATCH"})


def _is_off(value: Any) -> bool:
    """``off`` in YAML is ``False``; also accept ``null``, "off", "none", "unlimited"."""
    return value is False or value is None or (
        isinstance(value, str) and value.strip().lower() in ("off", "none", "unlimited"))


@dataclass(frozen=True)
class RetryPolicy:
    """How hard a request is tried. ``attempts`` counts sends for 5xx/timeouts/connect errors;
    ``throttled`` bounds how many 429s one request absorbs; ``max_retry_after`` caps a single
    wait (seconds) — a longer one raises :class:`RateLimited` instead of stalling the run —
    except for a hunting CPU-quota 429 (:func:`cpu_quota`), whose body names a reset up to 15
    minutes away: that wait is capped by ``max_quota_reset`` instead."""

    attempts: int = 4
    backoff: float = 0.5
    max_backoff: float = 30.0
    throttled: int = 6
    max_retry_after: float = 300.0
    max_quota_reset: float = 960.0

    def delay(self, n: int) -> float:
        """Backoff before retry ``n`` (1-based): exponential, capped, with full jitter in [½, 1]."""
        return min(self.max_backoff, self.backoff * 2 ** (n - 1)) * random.uniform(0.5, 1.0)


class QuotaBucket:
    """Sliding-window call budget: several (limit, window) pairs, all must have room.

    :meth:`acquire` waits in FIFO order (``asyncio.Lock`` is fair): the head of the queue
    sleeps exactly until the oldest call leaves the window, the others wait on the lock.
    :meth:`pause` (a 429's ``Retry-After``) holds every caller until the given time.

    A call is first counted from when it was sent; :meth:`answered` moves its stamp to when
    the answer arrived. The service counted the call somewhere in between, so our window never
    frees a slot before the service's does: running at the limit does not earn a 429 from
    latency alone (and each 429 costs a whole ``Retry-After``).
    """

    def __init__(self, name: str, limits: list[tuple[int, float]], clock: Callable[[], float] = time.monotonic):
        self.name = name
        self.limits = [(int(n), float(w)) for n, w in limits if n]
        self.clock = clock
        self._stamps = [deque() for _ in self.limits]
        self._paused_until = 0.0
        self._locks: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self.waits = 0
        self.waited = 0.0

    def _lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            lock = self._locks[loop] = asyncio.Lock()
        return lock

    def _delay(self, now: float, paused: bool = True) -> float:
        wait = self._paused_until - now if paused else 0.0
        for (limit, window), stamps in zip(self.limits, self._stamps):
            while stamps and stamps[0][0] <= now - window:
                stamps.popleft()
            if len(stamps) >= limit:
                wait = max(wait, stamps[0][0] + window - now)
        return wait

    async def acquire(self, *, after_pause: bool = False, receipt: list | None = None) -> float:
        """Wait for budget and spend one call; returns the seconds waited. ``after_pause``: the
        caller already sat out the pause it reported (its own 429), so only the limits apply.
        ``receipt``: a list that gets the call's stamp, for :meth:`answered`."""
        if not self.limits and (after_pause or self._paused_until <= self.clock()):
            return 0.0
        waited = 0.0
        async with self._lock():
            while True:
                now = self.clock()
                wait = self._delay(now, paused=not after_pause)
                if wait <= 0:
                    stamp = [now]  # one cell shared by every window's deque
                    for stamps in self._stamps:
                        stamps.append(stamp)
                    if receipt is not None:
                        receipt.append(stamp)
                    break
                waited += wait
                await asyncio.sleep(wait)
        if waited:
            self.waits += 1
            self.waited += waited
        return waited

    def answered(self, receipt: list) -> None:
        """The call of ``receipt`` got its answer: count it from now."""
        if not receipt:
            return
        now = self.clock()
        for stamp in receipt:
            stamp[0] = max(stamp[0], now)

    def pause(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, self.clock() + seconds)



def quota_limits(quotas: Any, time_scale: float = 1.0) -> dict[str, list[tuple[int, float]]]:
    """Bucket name → [(limit, window seconds)] from :data:`DEFAULT_QUOTAS` and ``quotas``.

    ``quotas`` (``config.quotas``): ``off`` / ``{enabled: false}`` disables every bucket;
    ``{mde: {per_minute: 100, per_hour: 1500}}`` replaces one bucket's limits;
    ``{mde: off}`` disables one; unknown bucket names add buckets. ``retry`` is not a bucket.
    ``time_scale`` multiplies every window (tests: 0.01 makes a minute 0.6 s).
    """
    if quotas is None:
        quotas = {}
    if _is_off(quotas) or (isinstance(quotas, Mapping) and (
            quotas.get("enabled") is False or _is_off(quotas.get("all", True)))):
        return {}
    table: dict[str, Any] = {k: dict(v) for k, v in DEFAULT_QUOTAS.items()}
    for name, spec in (quotas or {}).items():
        if name in ("enabled", "all", "retry"):
            continue
        if _is_off(spec):
            table[name] = {}
        elif isinstance(spec, Mapping):
            unknown = set(spec) - set(WINDOWS)
            if unknown:
                raise ConfigError(f"quotas.{name}: unknown key(s) {', '.join(sorted(unknown))}",
                                  hint=f"use {', '.join(WINDOWS)} (calls per window), or `off`")
            table[name] = dict(spec)
        else:
            raise ConfigError(f"quotas.{name} must be a mapping like {{per_minute: 100}} or `off`")
    return {name: [(int(n), WINDOWS[k] * time_scale) for k, n in spec.items() if n]
            for name, spec in table.items()}


# ---- errors ------------------------------------------------------------------------------------

_ROLES_RE = re.compile(r"required roles?:\s*(.+?)(?:\.?\s*$|\.\s)", re.IGNORECASE)


def _error_body(response: httpx.Response) -> tuple[str | None, str, str | None]:
    try:
        body = response.json()
    except ValueError:
        return None, response.text[:300].strip(), None
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, dict):
        return err.get("code"), str(err.get("message") or ""), err.get("target")
    if isinstance(err, str):  # some gateways: {"error": "...", "error_description": "..."}
        return err, str(body.get("error_description") or body.get("message") or ""), None
    if isinstance(body, dict) and body.get("message"):
        return body.get("code"), str(body["message"]), None
    return None, response.text[:300].strip(), None


def api_error(response: httpx.Response, *, tenant: str | None, api: str, consent_url: str | None = None,
              idempotent: bool = True) -> ApiError | AuthError:
    """The error to raise for an API answer that is not a success."""
    status = response.status_code
    code, message, target = _error_body(response)
    request = response.request
    what = f"{request.method} {request.url.path}"
    title = clouds.API_TITLES.get(api, api)
    where = Location(tenant=tenant)
    said = f"{code}: {message}" if code and message else (message or code or f"HTTP {status}")
    track = f" (tracking id {target})" if target else ""
    consent = f"; an admin of the tenant must consent again: {consent_url}" if consent_url else ""
    if status == 401:
        return AuthError(f"{title} rejected the token for {what} even after a refresh: {said}{track}",
                         where=where, hint="check that the app is consented in this tenant and the resource "
                                           f"(`app.resources.{api}`) is right; `soar tenants check` tells more")
    if status == 403 and (code in (None, "Forbidden", "Unauthorized") or "role" in message.lower()):
        m = _ROLES_RE.search(message)
        roles = m.group(1).strip().rstrip(".") if m else None
        need = f"the application role {roles}" if roles else "an application role it did not name"
        err = PermissionMissing(f"{title} refused {what}: the app lacks {need} ({said}){track}", where=where,
                                hint=f"add the {title} application permission {roles or '(see the message)'} "
                                     f"to the app registration{consent or ', then have an admin consent again'}")
        return err
    if status == 404:
        return ApiError(f"not found: {what} on {title} ({said}){track}", status=404, code=code or "NotFound",
                        where=where, hint="check the id; it may belong to another tenant or be gone")
    if status == 429 and cpu_quota(response):
        return RateLimited(f"{title} refused {what}: the tenant's advanced-hunting CPU quota is used up ({said})",
                           status=429, code=code or "TooManyRequests", retryable=True, where=where,
                           hint="the CPU quota resets every 15 minutes; run the query later, or make it cheaper "
                                "(filter on Timestamp first, project fewer columns, summarize)")
    if status == 429:
        return RateLimited(f"{title} is still throttling {what} after retries ({said})", status=429,
                           code=code or "TooManyRequests", retryable=True, where=where,
                           hint="lower the step's concurrency or the `quotas:` in soar.yaml, or retry later")
    if status >= 500:
        return TransientApiError(
            f"{title} failed {what} with HTTP {status} ({said}){track}", status=status, code=code, where=where,
            retryable=idempotent,
            hint="the service had a problem; it was retried" if idempotent
            else "this request is not safe to repeat blindly: check whether it took effect before retrying")
    hint = "check the step's inputs against the API's rules (body parameter names are case-sensitive)"
    if status == 403:
        hint = "the feature is disabled or the operation not allowed in this tenant (Defender settings)"
    return ApiError(f"{title} rejected {what} with HTTP {status}: {said}{track}", status=status, code=code,
                    where=where, hint=hint)


def outcome_unknown(err: BaseException) -> bool:
    """True when a non-idempotent request may or may not have taken effect (timeout, 5xx)."""
    return isinstance(err, TransientApiError) and not err.retryable


def cpu_quota(response: httpx.Response) -> bool:
    """A hunting 429 that speaks of the CPU quota (not the call count): it names its reset."""
    _code, message, _t = _error_body(response)
    return response.status_code == 429 and re.search(r"\bCPU\b", message or "", re.IGNORECASE) is not None


def retry_after(response: httpx.Response, now: float | None = None) -> float | None:
    """Seconds to wait from ``Retry-After`` (seconds or HTTP date) or an XDR-style body
    ("... try again in 23 seconds", or a reset timestamp); ``None`` when neither says."""
    value = response.headers.get("retry-after")
    if value:
        value = value.strip()
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(value).timestamp()
                return max(0.0, when - (now if now is not None else time.time()))
            except (TypeError, ValueError):
                pass
    _code, message, _t = _error_body(response)
    message = message or ""
    # Most explicit first: "try again in N seconds", then a reset timestamp, then "in N seconds".
    # A bare number is never taken: "Maximum allowed 50 per 60 s" names the window, not the wait.
    m = _AFTER.search(message)
    if m:
        return _seconds(m)
    m = re.search(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)?)", message)
    if m:
        import datetime as dt

        stamp = dt.datetime.fromisoformat(m.group(1).replace("Z", "+00:00"))
        if stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=dt.timezone.utc)
        return max(0.0, stamp.timestamp() - (now if now is not None else time.time()))
    m = _IN.search(message)
    return _seconds(m) if m else None


_UNIT = r"(\d+(?:\.\d+)?)\s*(seconds?|secs?|s\b|minutes?|mins?)"
_AFTER = re.compile(r"(?:try again|retry)\s+(?:in|after)\s+" + _UNIT, re.IGNORECASE)
_IN = re.compile(r"\b(?:in|after)\s+" + _UNIT, re.IGNORECASE)


def _seconds(m: re.Match) -> float:
    n = float(m.group(1))
    return n * 60 if m.group(2).lower().startswith("m") else n


# ---- clients -----------------------------------------------------------------------------------

class ApiClient:
    """Requests to one API for one tenant, with a given set of roles. Cheap to make."""

    def __init__(self, owner: "ApiClients", tenant: Any, api: str, roles: tuple[str, ...], bucket: QuotaBucket):
        self.owner = owner
        self.tenant = tenant
        self.api = api
        self.roles = tuple(roles)
        self.bucket = bucket
        self.base_url = owner.base_url(tenant, api)

    def url(self, path: str) -> str:
        return path if path.startswith(("https://", "http://")) else self.base_url + "/" + path.lstrip("/")

    async def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                      json: Any = None, idempotent: bool | None = None, timeout: float | None = None,
                      headers: Mapping[str, str] | None = None) -> httpx.Response:
        """Send one request (with quota, auth, retries); return the 2xx response or raise.
        ``timeout``: seconds to wait for the answer, when the endpoint's own limit is not the
        client's default (hunting: 3 min); ``headers``: extra request headers."""
        method = method.upper()
        safe = method in SAFE_METHODS if idempotent is None else idempotent
        owner = self.owner
        policy = owner.retry
        url = self.url(path)
        http = owner._http(self.tenant.name, self.api)
        auth = owner._auth(self.tenant.name, self.api, self.roles)
        sends = throttled = 0
        while True:
            receipt: list = []
            await self.bucket.acquire(after_pause=throttled > 0, receipt=receipt)
            sends += 1
            owner._count("calls", self.tenant.name, self.api)
            try:
                kw: dict[str, Any] = {"params": params, "json": json}
                if timeout is not None:
                    kw["timeout"] = httpx.Timeout(timeout, connect=10.0)
                if headers:
                    kw["headers"] = dict(headers)
                if auth is not None:
                    kw["auth"] = auth
                try:
                    response = await http.request(method, url, **kw)
                finally:
                    self.bucket.answered(receipt)
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
            status = response.status_code
            if status < 400:
                return response
            if status == 429:
                owner._count("throttled", self.tenant.name, self.api)
                wait = retry_after(response)
                if wait is None:
                    wait = policy.delay(throttled + 1) * 2
                cap = policy.max_quota_reset if cpu_quota(response) else policy.max_retry_after
                if throttled < policy.throttled and wait <= cap:
                    throttled += 1
                    self.bucket.pause(wait)
                    log.info("429 from %s for %s: waiting %.1fs", self.api, self.tenant.name, wait)
                    await owner._sleep(wait)
                    continue
            elif status >= 500 and safe and sends < policy.attempts:
                await owner._backoff(sends, self.tenant.name, self.api, f"HTTP {status}")
                continue
            raise api_error(response, tenant=self.tenant.name, api=self.api, idempotent=safe,
                            consent_url=owner._consent(self.tenant.name) if status == 403 else None)

    async def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET and decode JSON."""
        return _json(await self.request("GET", path, params=params))

    async def post(self, path: str, json: Any = None, *, idempotent: bool = False, timeout: float | None = None,
                   headers: Mapping[str, str] | None = None) -> Any:
        return _json(await self.request("POST", path, json=json, idempotent=idempotent, timeout=timeout,
                                        headers=headers))

    async def patch(self, path: str, json: Any) -> Any:
        return _json(await self.request("PATCH", path, json=json))

    async def delete(self, path: str) -> Any:
        return _json(await self.request("DELETE", path))

    async def list(self, path: str, params: Mapping[str, Any] | None = None, *, page_size: int = 100,
                   max_items: int | None = 10_000) -> list:
        """All items of an OData collection: follows ``@odata.nextLink`` when the API gives one,
        else pages with ``$top``/``$skip`` until a short page; stops at ``max_items``."""
        items: list = []
        base = dict(params or {})
        url: str = path
        query: dict | None = {**base, "$top": page_size, "$skip": 0}
        followed = False
        while True:
            body = await self.get(url, query)
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
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return {"text": response.text}


class ApiClients:
    """The API client factory: one per process, shared by every action, step, run and tenant.

    ``network``: :class:`runner.http.Network`; ``auth``: the token provider (``None``: no
    ``Authorization`` header, for tests with mock handlers); ``config``: the
    :class:`~runner.config.SoarConfig` (its ``quotas``). ``quotas`` overrides ``config.quotas``.
    ``time_scale`` shrinks quota windows (tests); ``sleep`` is how retries wait (tests record it).
    """

    def __init__(self, network: Any, auth: Any = None, config: Any = None, *, quotas: Any = None,
                 retry: RetryPolicy | None = None, time_scale: float = 1.0,
                 sleep: Callable[[float], Awaitable[Any]] | None = None) -> None:
        self.network = network
        self.auth = auth
        self.config = config
        raw = quotas if quotas is not None else (getattr(config, "quotas", None) or {})
        self.limits = quota_limits(raw, time_scale)
        retry_cfg = raw.get("retry") if isinstance(raw, Mapping) else None
        self.retry = retry or (RetryPolicy(**retry_cfg) if retry_cfg else RetryPolicy())
        self._sleep = sleep or asyncio.sleep
        self._buckets: dict[tuple[str, str], QuotaBucket] = {}
        self._api_clients: dict[tuple, ApiClient] = {}
        self._clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self.counters: dict[str, Counter] = {"calls": Counter(), "throttled": Counter(), "retries": Counter()}

    @classmethod
    def for_services(cls, services: Any) -> "ApiClients":
        """The process's factory: ``services.apis``, made (and stored there) on first use."""
        apis = getattr(services, "apis", None)
        if apis is None:
            apis = cls(services.network, services.auth, services.config)
            services.apis = apis
        return apis

    # ---- building blocks ------------------------------------------------------------------------

    def base_url(self, tenant: Any, api: str) -> str:
        """The tenant's base URL for ``api`` (cloud and region from the config, else the TenantInfo)."""
        cfg = self.config
        if cfg is not None and tenant.name in getattr(cfg, "tenants", {}):
            return cfg.tenant(tenant.name).api_base(api)
        return clouds.regional_base(getattr(tenant, "cloud", None) or "commercial", api,
                                    getattr(tenant, "region", None))

    def bucket(self, tenant: str, name: str) -> QuotaBucket:
        key = (tenant, name)
        b = self._buckets.get(key)
        if b is None:
            b = self._buckets[key] = QuotaBucket(name, self.limits.get(name, []))
        return b

    def client(self, tenant: Any, api: str, roles: tuple[str, ...] = (), *, quota: str | None = None) -> ApiClient:
        """A client for ``api`` (``mde``/``xdr``/``graph``) on ``tenant`` (a TenantInfo), drawing on
        the (tenant, ``quota`` or ``api``) bucket and asking for a token holding one of ``roles``."""
        key: tuple | None = (tenant, api, roles, quota)
        try:
            made = self._api_clients.get(key)  # actions ask for the same few on every call
        except TypeError:  # an unhashable tenant or roles: build one each time
            key, made = None, None
        if made is None:
            if api not in clouds.APIS:
                raise ConfigError(f"unknown API '{api}'; use one of {', '.join(clouds.APIS)}")
            made = ApiClient(self, tenant, api, tuple(roles), self.bucket(tenant.name, quota or api))
            if key is not None:
                self._api_clients[key] = made
        return made

    def _http(self, tenant: str, api: str) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        pools = self._clients.get(loop)
        if pools is None:
            pools = self._clients[loop] = {}
        client = pools.get((tenant, api))
        if client is None:
            client = pools[(tenant, api)] = self.network.async_client(
                headers={"User-Agent": "soar-runner/0.1", "Accept": "application/json"})
        return client

    def _auth(self, tenant: str, api: str, roles: tuple[str, ...]) -> httpx.Auth | None:
        return self.auth.auth(tenant, api, roles) if self.auth is not None else None

    def _consent(self, tenant: str) -> str | None:
        try:
            return self.auth.consent_url(tenant) if self.auth is not None else None
        except Exception:  # noqa: BLE001 - a hint must never hide the real error
            return None

    def _count(self, kind: str, tenant: str, api: str) -> None:
        self.counters[kind][(tenant, api)] += 1

    async def _backoff(self, n: int, tenant: str, api: str, why: str) -> None:
        self._count("retries", tenant, api)
        delay = self.retry.delay(n)
        log.info("%s from %s for %s: retry %d in %.2fs", why, api, tenant, n, delay)
        await self._sleep(delay)

    async def aclose(self) -> None:
        """Close this event loop's connection pools."""
        pools = self._clients.pop(asyncio.get_running_loop(), {})
        for client in pools.values():
            await client.aclose()

    def stats(self) -> dict[str, Any]:
        """Counters for the demo summary: calls, 429s absorbed, retries per tenant/api; quota waits."""
        def table(c: Counter) -> dict:
            out: dict[str, dict[str, int]] = {}
            for (tenant, api), n in sorted(c.items()):
                out.setdefault(tenant, {})[api] = n
            return out

        return {
            "calls": table(self.counters["calls"]),
            "throttled": table(self.counters["throttled"]),
            "retries": table(self.counters["retries"]),
            "total_calls": sum(self.counters["calls"].values()),
            "total_throttled": sum(self.counters["throttled"].values()),
            "total_retries": sum(self.counters["retries"].values()),
            "quota_waits": {f"{t}/{b}": round(q.waited, 3) for (t, b), q in self._buckets.items() if q.waits},
        }
