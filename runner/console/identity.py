"""Who is calling the console, and what they may do (docs/console.md, "Sign-in").

The console's pages and ``/api/v1`` use only these names:

- :class:`User` ``(name, oid, roles, via, display)``; ``via`` is ``"session"`` (signed in with
  Entra ID), ``"bearer"`` (a script's access token) or ``"loopback"``. Roles: ``Viewer`` (read),
  ``Responder`` (approve/deny/cancel/rerun), ``Admin`` (everything); ``User.can(role)``:
  Admin ⊇ Responder ⊇ Viewer. ``name`` is the sign-in name (``alice@contoso.com``; an app:
  ``app:<client id>``), what decisions record with ``oid``.
- :func:`current_user` — ``request.state.user``, set by the middleware :func:`middleware` returns.
- :func:`require` — the user, or ``HTTPException(401)`` / ``HTTPException(403)`` with a message
  saying which role is missing; the console answers it as a page or as JSON under ``/api/v1``.
- :func:`csrf_token` for templates (hidden input ``csrf_token``; htmx sends header
  ``X-CSRF-Token``) and :func:`check_csrf`. The middleware already refuses (403) every unsafe
  method of a cookie session without the right token; ``check_csrf`` re-checks (cheaply).
- ``request.state.signin_configured`` (bool), ``request.state.signin_note`` (the header's
  "sign-in not configured: loopback only", or None) and, with sign-in, ``signout_path``: a
  sign-out button is a form posting ``csrf_token`` there.

With ``console:`` in soar.yaml (:class:`runner.config.ConsoleConfig`) the middleware serves
``GET /signin`` (start), ``POST|GET /auth/callback`` (or the path of ``console.redirect_uri``),
``GET|POST /signout``, and under simulation ``/_sim/login/...`` (:mod:`runner.console.signin`).
Every other request needs a session cookie (:mod:`runner.console.sessions`) or an
``Authorization: Bearer`` token: a page redirects to ``/signin``, the API answers 401.

Without it, the console answers only requests from loopback, addressed to a loopback name
(``localhost``, ``127.0.0.1``, ``[::1]``: no DNS rebinding) and not forwarded by a proxy; each is
the local administrator. An unsafe method from a browser (it sends ``Origin`` or
``Sec-Fetch-Site``) must come from the console's own origin and carry the CSRF token.
"""

from __future__ import annotations

import hmac
import html
import ipaddress
import logging
import secrets
from dataclasses import dataclass
from typing import Any

from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from runner.console import csrf

log = logging.getLogger("soar.console")

__all__ = ["LOCAL", "LOOPBACK_NOTE", "RANKS", "User", "check_csrf", "csrf_token", "current_user", "middleware",
           "require"]

RANKS = {"Viewer": 1, "Responder": 2, "Admin": 3}
LOOPBACK_NOTE = "sign-in not configured: loopback only"
UNSAFE = csrf.UNSAFE
PUBLIC_PREFIXES = ("/static/",)
PUBLIC_PATHS = ("/favicon.ico",)


@dataclass(frozen=True)
class User:
    name: str
    oid: str
    roles: frozenset[str]
    via: str  # "session" | "bearer" | "loopback"
    display: str = ""

    def can(self, role: str) -> bool:
        """Whether one of the user's roles includes ``role`` (Admin ⊇ Responder ⊇ Viewer)."""
        need = RANKS.get(role)
        return need is not None and any(RANKS.get(r, 0) >= need for r in self.roles)

    @property
    def label(self) -> str:
        return self.display or self.name


LOCAL = User("local", "local", frozenset({"Admin"}), "loopback", "local administrator")


def current_user(request: Any) -> User | None:
    return getattr(request.state, "user", None)


def require(request: Any, role: str) -> User:
    """The user if they hold ``role`` (or one above it); else 401 (nobody) or 403."""
    if role not in RANKS:
        raise ValueError(f"unknown console role {role!r}")
    user = current_user(request)
    if user is None:
        raise HTTPException(401, "sign in first")
    if not user.can(role):
        held = ", ".join(sorted(user.roles)) or "no console role"
        raise HTTPException(403, f"{user.label} may not do this: it needs the {role} role "
                                 f"(held: {held}); ask an administrator to assign it to you in Entra ID")
    return user


def csrf_token(request: Any) -> str:
    """The token forms carry (``csrf_token``) and htmx sends (``X-CSRF-Token``); "" for a bearer call."""
    return getattr(request.state, "csrf_token", "") or ""


async def check_csrf(request: Any) -> None:
    """403 unless an unsafe request carries this session's CSRF token (a bearer call needs none)."""
    if request.method not in UNSAFE or getattr(request.state, "csrf_checked", False):
        return
    user = current_user(request)
    if user is not None and user.via == "bearer":
        return
    expected = csrf_token(request)
    sent = request.headers.get("x-csrf-token") or csrf.form_token(
        request.headers.get("content-type"), await request.body())
    if not expected or not sent or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise HTTPException(403, csrf.REFUSED)


def middleware(service: Any = None) -> list[Middleware]:
    """The console's authentication middleware for ``service`` (a ServeService; ``None``: no
    sign-in). Resolves the ``console:`` secrets now, so a bad reference stops serve at start."""
    from runner.console.gate import settings_for

    return [Middleware(Gate, settings=settings_for(service))]


class Gate:
    """ASGI middleware: sets ``request.state.user`` or answers the request itself."""

    def __init__(self, app: Any, settings: Any) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from runner.console import gate

        state = scope.setdefault("state", {})
        state["signin_configured"] = self.settings.signin is not None
        state["signin_note"] = None if self.settings.signin is not None else LOOPBACK_NOTE
        request = Request(scope, receive)
        if self.settings.signin is None:
            answer, receive = await self._loopback(request, state, receive)
        else:
            answer, receive = await gate.signed_in(self.settings, request, state, receive)
        if answer is not None:
            await answer(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _loopback(self, request: Request, state: dict, receive: Any) -> tuple[Response | None, Any]:
        problem = not_local(request)
        if problem:
            return refusal(request, 403, f"{LOOPBACK_NOTE}: the console answers only on this machine ({problem})",
                           hint="configure sign-in with Entra ID (console: in soar.yaml, docs/console.md) to "
                                "serve it to other machines"), receive
        state["user"] = LOCAL
        state["csrf_token"] = self.settings.loopback_token
        path = route_path(request.scope)
        if path in ("/signin", "/signout") or path in self.settings.callback_paths:
            return page("Sign-in not configured",
                        "<p>Sign-in with Entra ID is not configured: the console answers on this machine only, "
                        "where everyone is the local administrator. <a href=\"/\">Open the console</a>.</p>"), receive
        if request.method not in UNSAFE:
            return None, receive
        browser = "origin" in request.headers or "sec-fetch-site" in request.headers
        if not browser:  # a script on this machine (curl): no ambient credential to forge
            state["csrf_checked"] = True
            return None, receive
        if csrf.cross_origin(request):
            return refusal(request, 403, "refused a request sent from another site"), receive
        answer, receive = await csrf.verify(request, receive, self.settings.loopback_token, self.settings.body_limit)
        state["csrf_checked"] = answer is None
        return answer, receive


# ---- helpers shared with runner.console.gate -----------------------------------------------------


def route_path(scope: dict) -> str:
    path, root = scope.get("path", "/"), scope.get("root_path", "")
    if root and path.startswith(root):
        return path[len(root):] or "/"
    return path


def loopback_name(host: str) -> bool:
    host = host.strip().lower()
    if host.startswith("["):
        host = host[1:].partition("]")[0]
    elif host.count(":") == 1:
        host = host.partition(":")[0]
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def not_local(request: Request) -> str:
    """Why ``request`` is not a local one ("" when it is)."""
    client = request.client.host if request.client else ""
    try:
        local_peer = ipaddress.ip_address(client).is_loopback
    except ValueError:
        local_peer = False
    if not local_peer:
        return f"the request comes from {client or 'an unknown address'}"
    if any(h in request.headers for h in ("forwarded", "x-forwarded-for", "x-real-ip")):
        return "the request was forwarded by a proxy"
    host = request.headers.get("host", "")
    if host and not loopback_name(host):
        return f"it is addressed to {host!r}, not to localhost or a loopback address"
    return ""


def wants_json(request: Request) -> bool:
    """JSON for the API and for clients that do not ask for HTML (scripts); a page for browsers."""
    if route_path(request.scope).startswith("/api/"):
        return True
    return "text/html" not in request.headers.get("accept", "")


def refusal(request: Request, status: int, message: str, *, hint: str = "",
            headers: dict | None = None) -> Response:
    """A 401/403 (or other) answer: JSON ``{"error", "hint"}`` for the API, else a small page."""
    if wants_json(request):
        body = {"error": message, **({"hint": hint} if hint else {})}
        return JSONResponse(body, status_code=status, headers=headers)
    extra = f"<p>{html.escape(hint)}</p>" if hint else ""
    return page({401: "Sign in", 403: "Forbidden", 404: "Not found", 413: "Too large"}.get(status, "Refused"),
                f'<p role="alert">{html.escape(message)}</p>{extra}', status=status, headers=headers)


def page(title: str, body_html: str, *, status: int = 200, headers: dict | None = None) -> HTMLResponse:
    doc = (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)} · soar</title>'
           '<meta name="viewport" content="width=device-width, initial-scale=1"></head>'
           f'<body><main><h1>{html.escape(title)}</h1>{body_html}</main></body></html>')
    return HTMLResponse(doc, status_code=status, headers={"Cache-Control": "no-store", **(headers or {})})


def new_token() -> str:
    return secrets.token_urlsafe(32)
