"""API clients for every registered API (``register_apis``): quotas, auth, retries, errors, paging.

:class:`ApiClients` is built once per process (``ApiClients.for_services(services)``) and
hands out an :class:`ApiClient` per (tenant, api, roles); an action gets one with ``ctx.api``::

    client = ctx.api("acme", quota="acme_search")
    hits = await client.get("/v2/search", params={"q": "host:web01"})

What every request gets, in this order:

1. **Quota** — it waits (FIFO, no busy loop) for budget in its (tenant, bucket) quota bucket,
   preloaded with the default limits the registered APIs declare (``ApiSpec.quotas``,
   :func:`runner.apis.registry.default_quotas`) and overridable with ``config.quotas``. A
   request never fails for lack of budget; it queues.
2. **Auth** — as the API registered it: a bearer token for (tenant, api) from the token
   provider, refreshed once on a 401 (:class:`runner.auth.bearer.BearerAuth`); or the API's
   key / bearer / basic secret from ``credentials.<api>`` (:mod:`runner.apis.secret_auth`);
   or nothing.
3. **429** — ``Retry-After`` (seconds or a date) or the reset time stated in the body is
   honoured: the whole bucket pauses, then the request is sent again. A 429 means the
   request was not processed, so this is safe for every method.
4. **5xx, timeouts** — retried with exponential backoff and jitter, but only for requests
   safe to repeat: GET/HEAD/PUT/DELETE, PATCH, and POSTs the caller marks ``idempotent``.
   Connection failures (the request never left) are retried for every method. A POST whose
   outcome is unknown raises :class:`TransientApiError` with ``retryable = False`` so the
   caller can look up what happened instead of sending it twice (see :func:`outcome_unknown`).
5. **Errors** — error bodies (read by the API's ``ApiSpec.error_body``, else the common
   ``{"error": {"code", "message", "target"}}`` form) become our errors
   (:func:`api_error`): 403 Forbidden → :class:`PermissionMissing` with the role the API named
   and the consent link, 404 → ``ApiError(status=404)`` "not found", 400 → ``ApiError`` with
   the API's message, 429/5xx after the budget → :class:`RateLimited` / :class:`TransientApiError`.

Requests are sent by a :class:`~runner.http.Sender` per (tenant, api): straight to the
transport (connection pool) of the process's :class:`~runner.http.Network` (real, simulated,
loopback or refused), without ``httpx.AsyncClient``'s cookie, auth-flow and redirect layers
(measured in docs/benchmarks.md, fan-out) — one per event loop, because an httpx pool belongs
to the loop it was first used on.
"""

from __future__ import annotations

from runner.lazy import lazy_exports

__all__ = ["SAFE_METHODS", "WINDOWS", "ApiClient", "ApiClients", "ApiSpec", "EntraResource",
           "ErrorBody", "QuotaBucket", "QuotaReset", "RetryPolicy", "SecretAuth", "api_error", "choose_api", "quota_reset",
           "outcome_unknown", "quota_limits", "retry_after"]

_WHERE = {
    "SAFE_METHODS": "runner.apis.client", "ApiClient": "runner.apis.client", "RetryPolicy": "runner.apis.client",
    "ApiClients": "runner.apis.factory",
    "WINDOWS": "runner.apis.quotas", "QuotaBucket": "runner.apis.quotas",
    "quota_limits": "runner.apis.quotas",
    "api_error": "runner.apis.responses", "quota_reset": "runner.apis.responses",
    "outcome_unknown": "runner.apis.responses", "retry_after": "runner.apis.responses",
    "ApiSpec": "runner.apis.spec", "EntraResource": "runner.apis.spec", "ErrorBody": "runner.apis.spec", "QuotaReset": "runner.apis.spec",
    "SecretAuth": "runner.apis.spec", "choose_api": "runner.apis.choice",
}

__getattr__, __dir__ = lazy_exports(__name__, __all__, _WHERE)
