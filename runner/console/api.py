"""The console's JSON API, ``/api/v1`` — the pages' data and decisions, for scripts.

    GET  /api/v1/me                               who is calling: name, roles, csrf_token
    GET  /api/v1/runs                             ?playbook&status&tenant&trigger&since&until&limit&after
    GET  /api/v1/runs/{id}                        run, tenant runs, steps, approvals, audit trail
    POST /api/v1/runs/{id}/cancel                 {"reason"}                       (Responder)
    POST /api/v1/runs/{id}/rerun                  {}                               (Responder)
    GET  /api/v1/approvals                        the pending gates (as GET /approvals)
    GET  /api/v1/approvals/{run}/{step}           one gate, whatever its status
    POST /api/v1/approvals/{run}/{step}           {"decision": "approve"|"deny", "reason"} (Responder)
    GET  /api/v1/playbooks                        served playbooks, triggers, last runs, rejected files
    POST /api/v1/playbooks/{name}/run             {}: run it now, its inputs' defaults    (Responder)
    GET  /api/v1/tenants                          tenants: token health, consented vs needed roles, quota usage
    GET  /api/v1/openapi.json                     the OpenAPI 3.1 document of all of this

Reads need the Viewer role, decisions Responder (enforced here, whatever a page shows). An
unsafe call from a browser session carries the CSRF token (``X-CSRF-Token``); a bearer-token
call needs none. Answers: 200/202, 400 bad request, 401/403, 404 no such run or gate, 409
decided already / expired / finished, 413 body too large; errors are ``{"error", "hint"?}``.
"""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from runner.console import control, identity, tenantview, views
from runner.console.runlist import list_page, parse_filter
from runner.errors import SoarError

PREFIX = "/api/v1"


def _refused(exc: SoarError, status: int) -> JSONResponse:
    return JSONResponse(control.refusal(exc), status_code=status)


async def _body(request: Request, limit: int) -> dict:
    """The JSON object of a POST (empty: ``{}``), within serve's JSON limits."""
    from runner.serve.webhooks import BadPayload, parse_json

    body = await request.body()
    if len(body) > limit:
        raise HTTPException(413, f"the body is larger than {limit} bytes")
    if not body.strip():
        return {}
    try:
        doc = parse_json(body)
    except BadPayload as exc:
        raise HTTPException(400, str(exc)) from None
    if not isinstance(doc, dict):
        raise HTTPException(400, "send a JSON object")
    return doc


def _reason(doc: dict) -> str:
    reason = doc.get("reason", "")
    if reason is None:
        return ""
    if not isinstance(reason, str):
        raise HTTPException(400, "reason must be a string")
    return reason.strip()


def routes(service: Any) -> list[Route]:
    from runner.console.openapi import document

    limit = getattr(getattr(service, "options", None), "body_limit", 1024 * 1024)

    async def me(request: Request) -> Response:
        user = identity.require(request, "Viewer")
        return JSONResponse({"name": user.name, "oid": user.oid, "roles": sorted(user.roles), "via": user.via,
                             "csrf_token": identity.csrf_token(request) or None,
                             "signin_note": getattr(request.state, "signin_note", None)})

    async def posted(request: Request) -> tuple[Any, dict]:
        """A decision's POST: the Responder who sent it (after the CSRF check) and its JSON body."""
        user = identity.require(request, "Responder")
        await identity.check_csrf(request)
        return user, await _body(request, limit)

    async def runs(request: Request) -> Response:
        identity.require(request, "Viewer")
        params = request.query_params
        try:
            limit_n = int(params.get("limit") or 50)
        except ValueError:
            raise HTTPException(400, "limit must be a whole number") from None
        if not 1 <= limit_n <= 200:
            raise HTTPException(400, "limit must be between 1 and 200")
        try:
            rows, cursor = list_page(service.store, parse_filter(params), after=params.get("after") or None,
                                     limit=limit_n)
        except SoarError as exc:
            return _refused(exc, 400)
        return JSONResponse({"runs": [r.as_doc() for r in rows], "next": cursor})

    async def run(request: Request) -> Response:
        identity.require(request, "Viewer")
        try:
            return JSONResponse(views.run_detail(service, request.path_params["run_id"]))
        except SoarError as exc:
            return _refused(exc, control.status_of(exc))

    async def cancel(request: Request) -> Response:
        user, doc = await posted(request)
        try:
            done = control.cancel(service, user, request.path_params["run_id"], reason=_reason(doc))
        except SoarError as exc:
            return _refused(exc, control.status_of(exc))
        return JSONResponse(done, status_code=200 if done["status"] == "cancelled" else 202)

    async def rerun(request: Request) -> Response:
        user, _doc = await posted(request)
        try:
            done = control.rerun(service, user, request.path_params["run_id"])
        except SoarError as exc:
            return _refused(exc, control.status_of(exc))
        return JSONResponse(done, status_code=202)

    async def approvals(request: Request) -> Response:
        identity.require(request, "Viewer")
        return JSONResponse({"approvals": views.pending_approvals(service)})

    async def approval(request: Request) -> Response:
        if request.method == "POST":
            return await decide(request)
        identity.require(request, "Viewer")
        try:
            return JSONResponse(views.approval_detail(service, request.path_params["run_id"],
                                                      request.path_params["step"]))
        except SoarError as exc:
            return _refused(exc, control.status_of(exc, deciding=True))

    async def decide(request: Request) -> Response:
        user, doc = await posted(request)
        decision = doc.get("decision")
        if decision not in ("approve", "deny"):
            raise HTTPException(400, 'send {"decision": "approve" | "deny", "reason": "..."}')
        try:
            decided = control.decide(service, user, request.path_params["run_id"], request.path_params["step"],
                                     approved=decision == "approve", reason=_reason(doc))
        except SoarError as exc:
            return _refused(exc, control.status_of(exc, deciding=True))
        return JSONResponse({"decided": decided})

    async def playbooks(request: Request) -> Response:
        identity.require(request, "Viewer")
        origin = f"{request.url.scheme}://{request.url.netloc}{request.scope.get('root_path', '')}"
        return JSONResponse(views.playbooks(service, origin))

    async def run_now(request: Request) -> Response:
        user, _doc = await posted(request)
        try:
            done = control.start(service, user, request.path_params["name"])
        except SoarError as exc:
            return _refused(exc, control.status_of(exc))
        return JSONResponse(done, status_code=202)

    async def tenants(request: Request) -> Response:
        identity.require(request, "Viewer")
        return JSONResponse(await tenantview.tenants(service))

    async def openapi(request: Request) -> Response:
        identity.require(request, "Viewer")
        return JSONResponse(document())

    p = PREFIX
    return [
        Route(f"{p}/me", me, methods=["GET"]),
        Route(f"{p}/runs", runs, methods=["GET"]),
        Route(f"{p}/runs/{{run_id}}", run, methods=["GET"]),
        Route(f"{p}/runs/{{run_id}}/cancel", cancel, methods=["POST"]),
        Route(f"{p}/runs/{{run_id}}/rerun", rerun, methods=["POST"]),
        Route(f"{p}/approvals", approvals, methods=["GET"]),
        Route(f"{p}/approvals/{{run_id}}/{{step}}", approval, methods=["GET", "POST"]),  # one route: 405 lists both
        Route(f"{p}/playbooks", playbooks, methods=["GET"]),
        Route(f"{p}/playbooks/{{name}}/run", run_now, methods=["POST"]),
        Route(f"{p}/tenants", tenants, methods=["GET"]),
        Route(f"{p}/openapi.json", openapi, methods=["GET"]),
    ]
