"""Serving the simulated cloud on loopback (``soar sim serve``).

Paths are Entra's (``/{tenant}/oauth2/token`` ...), whatever the host. A mounted service (one a
plugin registered with ``register_sim_services``) is reached as ``/_host/{host}/{path}``, e.g.
``http://127.0.0.1:8765/_host/api.example.com/v1/items`` for ``https://api.example.com/v1/items``.
A host no simulated service serves is answered 421 Misdirected Request with an
``X-Soar-Unserved-Host`` header naming it: a client relaying through
:meth:`runner.http.Network.loopback` raises :class:`~runner.errors.UnservedHostError` for it.
``GET /_sim/stats`` gives the counters a benchmark or test checks from outside the process
(:func:`sim_stats`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from runner.errors import UnservedHostError
from runner.http import UNSERVED_HEADER

if TYPE_CHECKING:  # pragma: no cover
    from runner.sim.cloud import SimulatedCloud

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
HOP_BY_HOP = {"content-length", "transfer-encoding", "connection", "content-encoding"}


def build_asgi_app(cloud: "SimulatedCloud") -> Any:
    async def endpoint(request: Request) -> Response:
        body = await request.body()
        # the path as sent, escapes kept (the simulator routes on it, as a real API front end does)
        raw = request.scope.get("raw_path")
        path = raw.decode("ascii").partition("?")[0] if raw else request.url.path
        query = request.url.query
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in ("host", "content-length")]
        if path.startswith("/_host/"):
            host, _, rest = path[len("/_host/"):].partition("/")
            url = f"https://{host}/{rest}" + (f"?{query}" if query else "")
            try:
                answer = cloud.handler(httpx.Request(request.method, url, headers=headers, content=body))
            except UnservedHostError as exc:
                return JSONResponse({"error": {"code": "UnservedHost", "message": exc.message, "host": exc.host}},
                                    status_code=421, headers={UNSERVED_HEADER: exc.host})
        else:
            url = f"{request.url.scheme}://{request.url.netloc}{path}" + (f"?{query}" if query else "")
            answer = cloud.entra.handle(httpx.Request(request.method, url, headers=headers, content=body), None)
        out_headers = {k: v for k, v in answer.headers.items() if k.lower() not in HOP_BY_HOP}
        return Response(answer.content, status_code=answer.status_code, headers=out_headers)

    async def stats(request: Request) -> Response:
        return JSONResponse(sim_stats(cloud))

    return Starlette(routes=[Route("/_sim/stats", stats, methods=["GET"]),
                             Route("/{path:path}", endpoint, methods=METHODS)])


def sim_stats(cloud: "SimulatedCloud") -> dict:
    """``token_requests`` per tenant; per simulated service that logs its requests (a
    ``requests()`` method returning dicts with ``method`` and ``path``), ``services.<name>``:
    ``requests`` (how many) and ``calls`` (how many per ``METHOD path``); ``requests`` and
    ``calls`` at the top sum them over the services."""
    services: dict[str, dict] = {}
    total: dict[str, int] = {}
    for name, service in cloud.services.items():
        log = getattr(service, "requests", None)
        if not callable(log):
            continue
        entries = log()
        calls: dict[str, int] = {}
        for entry in entries:
            key = f"{entry['method']} {entry['path']}"
            calls[key] = calls.get(key, 0) + 1
            total[key] = total.get(key, 0) + 1
        services[name] = {"requests": len(entries), "calls": calls}
    return {"token_requests": dict(cloud.token_requests), "requests": sum(s["requests"] for s in services.values()),
            "calls": total, "services": services}
