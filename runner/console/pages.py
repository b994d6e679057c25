"""The console's HTML pages (server-rendered with Jinja2; no script is needed to use them).

    GET  /                                   → /runs
    GET  /runs                               runs, filtered, newest first, paged by keyset
    GET  /runs/{id}                          one run: tenant runs, step timeline, approvals, audit
    POST /runs/{id}                          action=cancel|rerun (Responder)
    GET  /approvals/                         the approval queue (``/approvals`` without the slash is
                                             serve's bearer-token JSON endpoint, docs/serve.md)
    GET  /approvals/{run}/{step}             one gate (notifications link here)
    POST /approvals/{run}/{step}/decision    decision=approve|deny, reason (Responder)
    GET  /playbooks                          served playbooks, triggers, rejected files
    POST /playbooks/{name}/run               run it now, with its inputs' defaults (Responder)
    GET  /tenants                            configured tenants and the roles playbooks need

Every POST form carries the CSRF token; every decision is made as the signed-in user. After a
POST the browser is redirected (303) to the page that shows the outcome; a refusal (not an
approver, decided already) is shown on the page it came from, with its status code.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlencode

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from runner.console import control, identity, tenantview, views
from runner.console.runlist import facets, list_page, parse_filter
from runner.errors import SoarError

UTC = timezone.utc
TRIGGERS = ("manual", "webhook", "schedule", "poll", "playbook")
SHOWN_CHARS = 20_000  # a value longer than this is shortened on the page (the API has it whole)
NOTICES = {"approved": "Approved.", "denied": "Denied.", "cancelled": "Cancel requested.",
           "rerun": "Rerun started: this is the new run.", "started": "Run started: this is the new run."}


# ---- template helpers ---------------------------------------------------------------------------

def _when(value: Any) -> str:
    if not value:
        return "-"
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _duration(seconds: Any) -> str:
    if seconds is None:
        return "-"
    seconds = float(seconds)
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes // 60}h {minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m {rest:02d}s"


def _pretty(value: Any) -> str:
    text = json.dumps(value, indent=2, ensure_ascii=False, default=str, sort_keys=False)
    if len(text) > SHOWN_CHARS:
        return text[:SHOWN_CHARS] + f"\n… shortened ({len(text)} characters; the API gives it whole)"
    return text


def _error_text(error: Any) -> str:
    if not error:
        return ""
    if isinstance(error, dict):
        return str(error.get("message", error))
    return str(error)


def make_templates(directory: Path) -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(directory))
    env = templates.env
    env.autoescape = True
    env.filters.update(when=_when, duration=_duration, pretty=_pretty, error_text=_error_text,
                       urlquote=lambda s: quote(str(s), safe=""))
    env.globals.update(csrf_token=identity.csrf_token, current_user=identity.current_user)
    return templates


def _render(templates: Jinja2Templates, request: Request, name: str, context: dict, *,
            status: int = 200, headers: dict | None = None) -> Response:
    user = identity.current_user(request)
    note = getattr(request.state, "signin_note", None)
    if note is None and user is not None and user.via == "loopback":
        note = "sign-in not configured: loopback only"
    base = {"request": request, "user": user, "signin_note": note, "notice": NOTICES.get(request.query_params.get("done", "")),
            "can_respond": bool(user and user.can("Responder"))}
    return templates.TemplateResponse(request, name, {**base, **context}, status_code=status,
                                      headers={"Cache-Control": "no-store", **(headers or {})})


def error_page(templates: Jinja2Templates, request: Request, status: int, message: str, *,
               headers: dict | None = None) -> Response:
    titles = {401: "Sign in", 403: "Forbidden", 404: "Not found", 409: "Conflict", 500: "Internal error"}
    return _render(templates, request, "error.html", {"title": titles.get(status, f"Error {status}"),
                                                      "message": message, "status": status},
                   status=status, headers=headers)


async def form_fields(request: Request, limit: int = 65536) -> dict[str, str]:
    """A urlencoded form (Starlette's ``request.form()`` needs python-multipart, not a dependency)."""
    body = await request.body()
    if len(body) > limit:
        raise HTTPException(413, f"the form is larger than {limit} bytes")
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        raise HTTPException(415, "send the form as application/x-www-form-urlencoded")
    return {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}


# ---- routes ------------------------------------------------------------------------------------

def routes(service: Any, templates: Jinja2Templates) -> list[Route]:
    limit = getattr(getattr(service, "options", None), "body_limit", 65536)

    def render(request: Request, name: str, context: dict, **kw: Any) -> Response:
        return _render(templates, request, name, context, **kw)

    async def home(request: Request) -> Response:
        identity.require(request, "Viewer")
        return RedirectResponse(request.scope.get("root_path", "") + "/runs", status_code=303)

    async def runs_page(request: Request) -> Response:
        identity.require(request, "Viewer")
        try:
            flt = parse_filter(request.query_params)
            rows, cursor = list_page(service.store, flt, after=request.query_params.get("after") or None,
                                     limit=_int(request.query_params.get("limit"), 50))
        except SoarError as exc:
            return render(request, "runs.html", {"rows": [], "next_url": None, "filter": request.query_params,
                                                 "facets": facets(service.store), "statuses": _statuses(),
                                                 "triggers": TRIGGERS, "problem": exc.to_dict()}, status=400)
        params = flt.as_params()
        if request.query_params.get("limit"):
            params["limit"] = str(_int(request.query_params.get("limit"), 50))
        next_url = "/runs?" + urlencode({**params, "after": cursor}) if cursor else None
        return render(request, "runs.html", {
            "rows": [r.as_doc() for r in rows], "next_url": next_url, "filter": request.query_params,
            "first_url": "/runs?" + urlencode(params) if request.query_params.get("after") else None,
            "live_url": "/api/v1/runs?" + urlencode({k: v for k, v in params.items() if k != "limit"}), "facets": facets(service.store),
            "statuses": _statuses(), "triggers": TRIGGERS, "problem": None})

    async def run_page(request: Request) -> Response:
        identity.require(request, "Viewer")
        try:
            doc = views.run_detail(service, request.path_params["run_id"])
        except SoarError as exc:
            raise HTTPException(control.status_of(exc), exc.message) from None
        return render(request, "run.html", {**doc, "problem": None})

    async def run_action(request: Request) -> Response:
        user = identity.require(request, "Responder")
        await identity.check_csrf(request)
        fields = await form_fields(request, limit)
        run_id = request.path_params["run_id"]
        action = fields.get("action")
        try:
            if action == "cancel":
                done = control.cancel(service, user, run_id, reason=fields.get("reason", ""))
                target, notice = done["run_id"], "cancelled"
            elif action == "rerun":
                done = control.rerun(service, user, run_id)
                target, notice = done["run_id"], "rerun"
            else:
                raise HTTPException(400, "action must be cancel or rerun")
        except SoarError as exc:
            try:
                doc = views.run_detail(service, run_id)
            except SoarError:
                raise HTTPException(control.status_of(exc), exc.message) from None
            return render(request, "run.html", {**doc, "problem": exc.to_dict()}, status=control.status_of(exc))
        return RedirectResponse(f"{request.scope.get('root_path', '')}/runs/{quote(target)}?done={notice}",
                                status_code=303)

    async def approvals_page(request: Request) -> Response:
        identity.require(request, "Viewer")
        return render(request, "approvals.html", {"gates": views.pending_approvals(service)})

    async def approval_page(request: Request) -> Response:
        identity.require(request, "Viewer")
        try:
            doc = views.approval_detail(service, request.path_params["run_id"], request.path_params["step"])
        except SoarError as exc:
            raise HTTPException(control.status_of(exc), exc.message) from None
        return render(request, "approval.html", {**doc, "problem": None})

    async def approval_decide(request: Request) -> Response:
        user = identity.require(request, "Responder")
        await identity.check_csrf(request)
        fields = await form_fields(request, limit)
        run_id, step = request.path_params["run_id"], request.path_params["step"]
        decision = fields.get("decision")
        if decision not in ("approve", "deny"):
            raise HTTPException(400, "decision must be approve or deny")
        try:
            control.decide(service, user, run_id, step, approved=decision == "approve",
                           reason=fields.get("reason", "").strip())
        except SoarError as exc:
            status = control.status_of(exc, deciding=True)
            try:
                doc = views.approval_detail(service, run_id, step)
            except SoarError:
                raise HTTPException(status, exc.message) from None
            return render(request, "approval.html", {**doc, "problem": exc.to_dict()}, status=status)
        done = "approved" if decision == "approve" else "denied"
        return RedirectResponse(f"{request.scope.get('root_path', '')}/approvals/{quote(run_id)}/{quote(step, safe='')}"
                                f"?done={done}", status_code=303)

    async def playbooks_page(request: Request) -> Response:
        identity.require(request, "Viewer")
        return render(request, "playbooks.html", views.playbooks(service, _origin(request)))

    async def playbook_run(request: Request) -> Response:
        user = identity.require(request, "Responder")
        await identity.check_csrf(request)
        await form_fields(request, limit)
        try:
            done = control.start(service, user, request.path_params["name"])
        except SoarError as exc:
            return render(request, "playbooks.html", {**views.playbooks(service, _origin(request)),
                                                      "problem": exc.to_dict()}, status=control.status_of(exc))
        return RedirectResponse(f"{request.scope.get('root_path', '')}/runs/{quote(done['run_id'])}?done=started",
                                status_code=303)

    async def tenants_page(request: Request) -> Response:
        identity.require(request, "Viewer")
        return render(request, "tenants.html", await tenantview.tenants(service))

    return [
        Route("/", home, methods=["GET"]),
        Route("/runs", runs_page, methods=["GET"]),
        Route("/runs/{run_id}", run_page, methods=["GET"]),
        Route("/runs/{run_id}", run_action, methods=["POST"]),
        Route("/approvals/", approvals_page, methods=["GET"]),
        Route("/approvals/{run_id}/{step}", approval_page, methods=["GET"]),
        Route("/approvals/{run_id}/{step}/decision", approval_decide, methods=["POST"]),
        Route("/playbooks", playbooks_page, methods=["GET"]),
        Route("/playbooks/{name}/run", playbook_run, methods=["POST"]),
        Route("/tenants", tenants_page, methods=["GET"]),
    ]


def _statuses() -> list[str]:
    from runner.store.runstore import STATUSES

    return sorted(STATUSES)


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _origin(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}{request.scope.get('root_path', '')}"
