"""One DEBUG line per HTTP request soar makes (``-vv``), on the ``soar.http`` logger.

    DEBUG soar.http: GET api.security.microsoft.com/api/incidents?$filter=***&$top=*** -> 200 in 41.3 ms

The line says the method, the host, the path, the query's parameter *names* (their values may
hold anything: they are masked), the status (a 429 adds its ``Retry-After``) and how long the
answer took; as fields (``runner.logfmt``): ``method``, ``host``, ``path``, ``status``,
``duration_ms`` — and, for a request a step makes, the step's ``run``, ``tenant``, ``step``
(and ``item``), so the text line reads ``DEBUG soar.http run=… tenant=… step=…: GET …``. It
never says a header, a body or a query value. A URL that holds a known secret (a webhook URL
kept as a secret, say) is shown as its host alone.

:mod:`runner.http` calls :func:`answered` / :func:`failed` from ``Sender.send`` (API calls) and
installs :func:`event_hooks` on the httpx clients it builds (token requests, one-off requests)
when :func:`enabled`: with less verbosity an API call pays one level check, a client nothing.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import httpx

from runner.logfmt import with_step

CALLS = logging.getLogger("soar.http")
_STARTED = "soar_started"  # request extension: when the request hook saw it (httpx clients)


def enabled() -> bool:
    """Whether API calls are logged (``-vv``)."""
    return CALLS.isEnabledFor(logging.DEBUG)


def start() -> float | None:
    """The time a request is sent, when calls are logged; else None (nothing to do)."""
    return time.perf_counter() if CALLS.isEnabledFor(logging.DEBUG) else None


def _where(url: httpx.URL) -> tuple[str, str]:
    """(host, path with the query's names and masked values) — or the host alone and ``/***``
    when the URL holds a known secret value."""
    from runner.secrets import redact

    full = str(url)
    if redact(full) != full:
        return url.host, "/***"
    path = url.path
    if url.query:
        path += "?" + "&".join(f"{name}=***" for name in dict.fromkeys(url.params.keys()))
    return url.host, path


def answered(request: httpx.Request, response: httpx.Response, started: float) -> None:
    ms = (time.perf_counter() - started) * 1000
    host, path = _where(request.url)
    status = response.status_code
    wait = response.headers.get("retry-after") if status == 429 else None
    CALLS.debug("%s %s%s -> %d in %.1f ms%s", request.method, host, path, status, ms,
                f" (Retry-After {wait})" if wait else "",
                extra=with_step(method=request.method, host=host, path=path, status=status,
                                duration_ms=round(ms, 1), retry_after=wait))


def failed(request: httpx.Request, error: BaseException, started: float) -> None:
    ms = (time.perf_counter() - started) * 1000
    host, path = _where(request.url)
    CALLS.debug("%s %s%s -> %s after %.1f ms", request.method, host, path, type(error).__name__, ms,
                extra=with_step(method=request.method, host=host, path=path, error=type(error).__name__,
                                duration_ms=round(ms, 1)))


def event_hooks(sync: bool, given: dict | None = None) -> dict:
    """httpx ``event_hooks`` that log each request of a client (added to ``given``)."""

    def on_request(request: httpx.Request) -> None:
        request.extensions[_STARTED] = time.perf_counter()

    def on_response(response: httpx.Response) -> None:
        request = response.request
        answered(request, response, request.extensions.get(_STARTED, time.perf_counter()))

    async def on_request_async(request: httpx.Request) -> None:
        on_request(request)

    async def on_response_async(response: httpx.Response) -> None:
        on_response(response)

    hooks: dict[str, list[Any]] = {k: list(v) for k, v in (given or {}).items()}
    hooks.setdefault("request", []).append(on_request if sync else on_request_async)
    hooks.setdefault("response", []).append(on_response if sync else on_response_async)
    return hooks
