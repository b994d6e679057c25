"""The HTTP side of ``soar serve`` (Starlette): webhooks, health, metrics, approvals.

    POST /hooks/<path>                  start a playbook (202 + run id; see docs/serve.md)
    GET  /healthz                       200 {"status": "ok", ...}; 503 while stopping
    GET  /metrics                       Prometheus text format
    GET  /approvals                     pending approvals            (bearer --api-token)
    POST /approvals/<run id>/<step>     {"decision": "approve"|"deny", "actor", "reason"}

Webhook answers, in the order they are checked: 404 unknown path, 413 body over the limit,
401 bad or missing signature/token (nothing else is said), 400 not JSON, 200 duplicate (the first
event's ids), 202 accepted. The event is committed to the inbox before the 202 is sent.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from runner.errors import RunNotFound, SoarError, UsageError
from runner.serve.webhooks import BadPayload, dedup_key, parse_json

log = logging.getLogger("soar.serve.http")


async def _read_limited(request: Request, limit: int) -> bytes | None:
    """The body, or None when it is longer than ``limit`` bytes (read no further than that)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def build_app(service: Any) -> Starlette:
    """The ASGI app for a :class:`~runner.serve.service.ServeService`."""
    metrics = service.metrics

    def refuse(status: int, message: str, **extra) -> JSONResponse:
        metrics.rejected.labels(str(status)).inc()
        return JSONResponse({"error": message, **extra}, status_code=status)

    async def hook(request: Request) -> Response:
        if service.stopping:
            return JSONResponse({"error": "stopping; send again later"}, status_code=503,
                                headers={"Retry-After": "5"})
        path = "/" + request.path_params["path"].strip("/")
        found = service.catalog.hooks.get("/hooks" + (path if path != "/" else ""))
        if found is None:
            return refuse(404, f"no webhook at /hooks{path}")
        body = await _read_limited(request, service.options.body_limit)
        if body is None:
            return refuse(413, f"the body is larger than {service.options.body_limit} bytes")
        if not found.auth.check(body, request.headers):
            return refuse(401, "bad or missing signature / token")
        try:
            payload = parse_json(body)
        except BadPayload as exc:
            return refuse(400, str(exc))
        key = dedup_key(found.spec.dedup_key, request.headers, payload)
        try:
            accepted = service.accept(found.playbook, "webhook", payload, trigger_key=found.url_path,
                                      dedup_key=key, dedup_window=found.spec.dedup_window)
        except SoarError as exc:
            log.error("webhook %s: cannot record the event: %s", found.url_path, exc)
            return JSONResponse({"error": "the event could not be recorded; send it again"}, status_code=503)
        if accepted.duplicate:
            return JSONResponse({"status": "duplicate", "event_id": accepted.event_id,
                                 "run_id": accepted.run_id}, status_code=200)
        return JSONResponse({"status": "accepted", "event_id": accepted.event_id,
                             "run_id": accepted.run_id}, status_code=202)

    async def healthz(_request: Request) -> Response:
        doc = service.health()
        return JSONResponse(doc, status_code=503 if doc["status"] != "ok" else 200)

    async def metrics_endpoint(_request: Request) -> Response:
        from runner.serve.metrics import CONTENT_TYPE

        return Response(metrics.render(), media_type=CONTENT_TYPE)

    def authorized(request: Request) -> Response | None:
        token = service.options.api_token
        if token is None:
            return JSONResponse({"error": "approvals over HTTP are disabled",
                                 "hint": "start soar serve with --api-token env:NAME"}, status_code=403)
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.reveal().encode(), given.strip().encode()):
            return refuse(401, "bad or missing bearer token")
        return None

    async def approvals_list(request: Request) -> Response:
        denied = authorized(request)
        if denied is not None:
            return denied
        return JSONResponse(service.approvals.pending())

    async def approvals_decide(request: Request) -> Response:
        denied = authorized(request)
        if denied is not None:
            return denied
        try:
            doc = parse_json(await request.body())
        except BadPayload as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        decision = doc.get("decision") if isinstance(doc, dict) else None
        if decision not in ("approve", "deny"):
            return JSONResponse({"error": 'send {"decision": "approve" | "deny", "actor": "...", "reason": "..."}'},
                                status_code=400)
        actor = str(doc.get("actor") or "http")
        try:
            decided = service.approvals.decide(request.path_params["run_id"], request.path_params["step"],
                                               approved=decision == "approve", actor=actor,
                                               reason=str(doc.get("reason") or ""))
        except SoarError as exc:
            unknown = isinstance(exc, (RunNotFound, UsageError))  # else: decided already, or expired
            return JSONResponse(exc.to_dict(), status_code=404 if unknown else 409)
        return JSONResponse({"decided": decided})

    return Starlette(routes=[
        Route("/hooks/{path:path}", hook, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        Route("/approvals", approvals_list, methods=["GET"]),
        Route("/approvals/{run_id}/{step}", approvals_decide, methods=["POST"]),
    ])
