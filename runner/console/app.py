"""``build_console(service)``: the Starlette app ``soar serve`` mounts at ``/`` (after its own
routes, which keep their paths): HTML pages (:mod:`runner.console.pages`), the JSON API under
``/api/v1`` (:mod:`runner.console.api`) and the static files under ``/static``.

Every answer carries a Content-Security-Policy that allows only this origin's own scripts and
styles and no framing (an approve button cannot be clickjacked), ``X-Content-Type-Options``
and a same-origin referrer policy; its text passes once more through the secret masking
(defence in depth: the store masked what is shown when it was recorded). Refusals are HTML
pages for browsers and ``{"error": ...}`` under ``/api/v1``; nothing answers a traceback.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from runner.console import identity

log = logging.getLogger("soar.console")
HERE = Path(__file__).parent
SECURITY_HEADERS = {
    "content-security-policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
}


class _Harden:
    """Security headers on every answer, and its text masked once more (known secret values)."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from runner.secrets import redact, redact_json

        start: dict | None = None
        chunks: list[bytes] = []

        async def wrapped(message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            headers = [(k, v) for k, v in start.get("headers", []) if k.decode().lower() not in SECURITY_HEADERS]
            headers += [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
            body = b"".join(chunks)
            kind = dict((k.decode().lower(), v.decode()) for k, v in headers).get("content-type", "")
            if body and kind.startswith(("text/html", "application/json")):
                text = body.decode("utf-8", "replace")
                safe = redact_json(text) if kind.startswith("application/json") else redact(text)
                if safe != text:  # a known secret value was in it: masked, and the length changes
                    body = safe.encode("utf-8")
                    headers = [(k, v) for k, v in headers if k.decode().lower() != "content-length"]
                    headers.append((b"content-length", str(len(body)).encode()))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, wrapped)


def wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def build_console(service: Any, *, auth: list | None = None) -> Starlette:
    """The console of ``service`` (a ServeService). ``auth``: the Starlette middleware that
    authenticates requests (default :func:`runner.console.identity.middleware`)."""
    from starlette.middleware import Middleware

    from runner.console import api, pages

    templates = pages.make_templates(HERE / "templates")

    async def refused(request: Request, exc: HTTPException) -> Response:
        if wants_json(request):
            return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)
        return pages.error_page(templates, request, exc.status_code, str(exc.detail), headers=exc.headers)

    async def crashed(request: Request, exc: Exception) -> Response:
        log.exception("%s %s: internal error", request.method, request.url.path)
        if wants_json(request):
            return JSONResponse({"error": "internal error; see the soar serve log"}, status_code=500)
        return pages.error_page(templates, request, 500, "internal error; see the soar serve log")

    middleware = [Middleware(_Harden), *(auth if auth is not None else identity.middleware(service))]
    routes = [*api.routes(service), Mount("/static", app=StaticFiles(directory=HERE / "static"), name="static"),
              *pages.routes(service, templates)]
    return Starlette(routes=routes, middleware=middleware,
                     exception_handlers={HTTPException: refused, Exception: crashed})
