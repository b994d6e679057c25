"""The HTTP side of ``soar serve`` (Starlette): webhooks, health, metrics, approvals.

    POST /hooks/<path>                  start a playbook (202 + run id; see docs/serve.md)
    GET  /healthz                       200 {"status": "ok", ...}; 503 while stopping
    GET  /metrics                       Prometheus text format
    GET  /approvals                     pending approvals            (bearer: --approver / --api-token)
    POST /approvals/<run id>/<step>     {"decision": "approve"|"deny", "actor", "reason"}
                                        (a --approver token decides as its name; "actor" only with --api-token)
    POST /runs/<run id>/cancel          {"actor", "reason"} (optional; same bearer tokens as /approvals)

Webhook answers, in the order they are checked: 404 unknown path, 413 body over the limit,
408 body not received within ``--read-timeout``, 401 bad or missing signature/token (nothing else
is said), 400 not JSON (or beyond the parser's limits), 200 duplicate (the first event's ids: the
same ``dedup_key``, or without one the same body, inside the window), 202 accepted. The event is
committed to the inbox before the 202 is sent; if it could not be, the answer is 503.

Each refusal (4xx) is counted (``soar_webhook_rejected_total``) and logged at WARNING, at most one
line per route and status every 10 s (:mod:`runner.serve.rejections`).

No answer ever carries a traceback: :class:`_Guard` turns an unexpected exception into a JSON 500
(and logs it), whatever the endpoint.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route

from runner.console.app import build_console
from runner.errors import NotAnApprover, RunNotFound, SoarError, UsageError
from runner.serve.approvals import Caller, identify
from runner.serve.rejections import RejectionLog
from runner.serve.webhooks import BadPayload, body_key, dedup_key, parse_json

log = logging.getLogger("soar.serve.http")


# a body left unread (too big, too slow): close the connection rather than wait for the rest
_CLOSE = {408: {"Connection": "close"}, 413: {"Connection": "close"}}


class BodyTimeout(Exception):
    """The client did not send its body within the read timeout (HTTP 408)."""


async def _read_limited(request: Request, limit: int, timeout: float | None = None) -> bytes | None:
    """The body, or None when it is longer than ``limit`` bytes (read no further than that).
    Raises :class:`BodyTimeout` when it has not all arrived ``timeout`` seconds after the start:
    a client trickling its body must not hold a connection (and a file descriptor) for ever."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return None
    chunks, size = [], 0
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    return None
                chunks.append(chunk)
    except TimeoutError:
        raise BodyTimeout from None
    return b"".join(chunks)


class _Guard:
    """Outermost ASGI layer: an exception no handler expected becomes a JSON 500 naming no
    internals (the traceback goes to the log), instead of a traceback or a dropped connection."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception:  # noqa: BLE001 - the last line of defence of the HTTP surface
            log.exception("%s %s: internal error", scope.get("method"), scope.get("path"))
            if not started:
                await JSONResponse({"error": "internal error; see the soar serve log"},
                                   status_code=500)(scope, receive, send)


def build_app(service: Any) -> Any:
    """The ASGI app for a :class:`~runner.serve.service.ServeService`."""
    return _Guard(_routes(service))


def _routes(service: Any) -> Starlette:
    metrics = service.metrics
    options = service.options
    read_timeout = options.read_timeout
    rejections = RejectionLog()

    def refuse(request: Request, route: str, status: int, message: str, reason: str | None = None) -> JSONResponse:
        """The answer refusing ``request``, counted and logged (``reason``: what the log says,
        when it knows more than the answer does; never the body or a credential)."""
        metrics.rejected.labels(str(status)).inc()
        rejections.refused(route=route, method=request.method, path=request.url.path, status=status,
                           reason=reason or message, client=request.client.host if request.client else None)
        return JSONResponse({"error": message}, status_code=status, headers=_CLOSE.get(status))

    async def json_body(request: Request, *, empty: Any) -> Any:
        """The JSON body of an API request (``empty``: what an empty body means; None: it is
        parsed like any other), or the answer refusing it (408, 413, 400)."""
        try:
            body = await _read_limited(request, options.body_limit, read_timeout)
        except BodyTimeout:
            return JSONResponse({"error": f"the body did not arrive within {read_timeout:g}s"}, status_code=408,
                                headers=_CLOSE[408])
        if body is None:
            return JSONResponse({"error": f"the body is larger than {options.body_limit} bytes"}, status_code=413,
                                headers=_CLOSE[413])
        if empty is not None and not body.strip():
            return empty
        try:
            return parse_json(body)
        except BadPayload as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)

    async def hook(request: Request) -> Response:
        if service.stopping:
            return JSONResponse({"error": "stopping; send again later"}, status_code=503,
                                headers={"Retry-After": "5"})
        path = "/" + request.path_params["path"].strip("/")
        found = service.catalog.hooks.get("/hooks" + (path if path != "/" else ""))
        if found is None:  # one route for every unknown path: a scan of random paths logs one line
            return refuse(request, "/hooks/*", 404, f"no webhook at /hooks{path}", "no webhook at this path")
        route = found.url_path
        try:
            body = await _read_limited(request, options.body_limit, read_timeout)
        except BodyTimeout:
            return refuse(request, route, 408, f"the body did not arrive within {read_timeout:g}s")
        if body is None:
            return refuse(request, route, 413, f"the body is larger than {options.body_limit} bytes")
        refusal = found.auth.refusal(body, request.headers)
        if refusal is not None:  # the caller learns nothing more; the log says which credential
            return refuse(request, route, 401, "bad or missing signature / token", refusal)
        try:
            payload = parse_json(body)
        except BadPayload as exc:  # its message may quote the body: not for the log
            return refuse(request, route, 400, str(exc), "the body is not JSON soar accepts")
        window = found.spec.dedup_window
        key = None
        if window > 0:  # 0 turns deduplication off for this webhook
            if found.spec.dedup_key:
                key = dedup_key(found.spec.dedup_key, request.headers, payload)
            else:  # a replayed (or re-sent) delivery carries the same body
                key = body_key(found.url_path, body)
        try:
            accepted = service.accept(found.playbook, "webhook", payload, trigger_key=found.url_path,
                                      dedup_key=key, dedup_window=window)
        except SoarError as exc:
            log.error("webhook %s: cannot record the event: %s", found.url_path, exc)
            return JSONResponse({"error": "the event could not be recorded; send it again"}, status_code=503)
        if accepted.duplicate:
            return JSONResponse({"status": "duplicate", "duplicate": True, "event_id": accepted.event_id,
                                 "run_id": accepted.run_id}, status_code=200)
        return JSONResponse({"status": "accepted", "duplicate": False, "event_id": accepted.event_id,
                             "run_id": accepted.run_id}, status_code=202)

    async def healthz(_request: Request) -> Response:
        doc = service.health()
        return JSONResponse(doc, status_code=503 if doc["status"] != "ok" else 200)

    async def metrics_endpoint(_request: Request) -> Response:
        from runner.serve.metrics import CONTENT_TYPE

        return Response(metrics.render(), media_type=CONTENT_TYPE)

    def authorized(request: Request) -> Response | Caller:
        """The caller (runner.serve.approvals.identify), or the answer refusing the request."""
        options = service.options
        if options.api_token is None and not options.approver_tokens:
            return JSONResponse({"error": "approvals over HTTP are disabled",
                                 "hint": "start soar serve with --approver NAME=env:VAR (or --api-token env:NAME)"},
                                status_code=403)
        caller = identify(request.headers.get("authorization", ""), options.api_token, options.approver_tokens)
        if caller is not None:
            return caller
        route = "/approvals" if request.url.path.startswith("/approvals") else "/runs/*/cancel"
        return refuse(request, route, 401, "bad or missing bearer token")

    async def approvals_list(request: Request) -> Response:
        if "authorization" not in request.headers and "text/html" in request.headers.get("accept", ""):
            # a browser typed /approvals: the console's queue page (the JSON list needs a bearer token)
            return RedirectResponse("/approvals/", status_code=303)
        caller = authorized(request)
        if isinstance(caller, Response):
            return caller
        return JSONResponse(service.approvals.pending())

    async def approvals_decide(request: Request) -> Response:
        caller = authorized(request)
        if isinstance(caller, Response):
            return caller
        doc = await json_body(request, empty=None)
        if isinstance(doc, Response):
            return doc
        decision = doc.get("decision") if isinstance(doc, dict) else None
        if decision not in ("approve", "deny"):
            return JSONResponse({"error": 'send {"decision": "approve" | "deny", "actor": "...", "reason": "..."}'},
                                status_code=400)
        # a personal token decides as its approver; the shared token as the actor the body names
        actor = caller.name if caller.name is not None else str(doc.get("actor") or "http")
        try:
            decided = service.approvals.decide(request.path_params["run_id"], request.path_params["step"],
                                               approved=decision == "approve", actor=actor,
                                               reason=str(doc.get("reason") or ""))
        except SoarError as exc:
            unknown = isinstance(exc, (RunNotFound, UsageError))  # else: decided already, or expired
            refused = isinstance(exc, NotAnApprover)  # the gate's approvers do not name the decider
            return JSONResponse(exc.to_dict(), status_code=403 if refused else 404 if unknown else 409)
        return JSONResponse({"decided": decided})

    async def run_cancel(request: Request) -> Response:
        """Cancel a run (with its tenant runs): one waiting for an approval at once, one being
        executed before its next step or item (runner.store.runcontrol)."""
        from runner.store.runcontrol import request_cancel

        caller = authorized(request)
        if isinstance(caller, Response):
            return caller
        doc = await json_body(request, empty={})
        if isinstance(doc, Response):
            return doc
        doc = doc if isinstance(doc, dict) else {}
        actor = caller.name if caller.name is not None else str(doc.get("actor") or "http")
        store = service.store
        try:
            run = store.get_run(request.path_params["run_id"])
            if run.parent_id is not None:  # a run is cancelled as a whole
                run = store.get_run(run.parent_id)
            done = request_cancel(store, run.id, actor=actor, reason=str(doc.get("reason") or ""))
        except SoarError as exc:
            return JSONResponse(exc.to_dict(), status_code=404 if isinstance(exc, RunNotFound) else 409)
        status = store.get_run(run.id).status
        return JSONResponse({"run_id": run.id, "status": status, "cancelled": done.cancelled,
                             "requested": done.requested,
                             "approvals_closed": [{"run_id": r, "step": s} for r, s in done.approvals]},
                            status_code=200 if status == "cancelled" else 202)

    async def internal_error(request: Request, _exc: Exception) -> Response:
        # Starlette's last resort answers this, then re-raises: _Guard logs the traceback
        return JSONResponse({"error": "internal error; see the soar serve log"}, status_code=500)

    async def not_found(request: Request, exc: HTTPException) -> Response:
        # a path no route takes, the console's Mount("/") among them (its pattern stops at a line
        # break): JSON like every other answer of the API, not Starlette's text/plain page
        return JSONResponse({"error": exc.detail or "not found"}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    return Starlette(exception_handlers={Exception: internal_error, HTTPException: not_found}, routes=[
        Route("/hooks/{path:path}", hook, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        Route("/approvals", approvals_list, methods=["GET"]),
        Route("/approvals/{run_id}/{step}", approvals_decide, methods=["POST"]),
        Route("/runs/{run_id}/cancel", run_cancel, methods=["POST"]),
        Mount("/", app=build_console(service)),  # the console: pages, /api/v1 (runner.console)
    ])
