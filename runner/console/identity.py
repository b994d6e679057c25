"""Who is calling the console (STUB until sign-in with Entra ID lands; the sign-in helper owns
and replaces this module — keep the names and signatures below).

Contract (docs: the console's pages and /api/v1 use only these):

- :class:`User` ``(name, oid, roles, via)``; ``via`` is ``"session"``, ``"bearer"`` or
  ``"loopback"``. Roles: ``Viewer`` (read), ``Responder`` (approve/deny/cancel/rerun),
  ``Admin`` (everything); ``User.can(role)``: Admin ⊇ Responder ⊇ Viewer.
- :func:`current_user` — ``request.state.user`` (set by the middleware :func:`middleware`
  returns), or None.
- :func:`require` — the user, or ``HTTPException(401/403)``; the console answers it as an HTML
  page for a browser and as JSON ``{"error": ...}`` under ``/api/v1``.
- :func:`csrf_token` for templates (hidden input ``csrf_token``; header ``X-CSRF-Token``) and
  :func:`check_csrf` (may be a coroutine function) on every unsafe method.
- :func:`middleware` — the Starlette middleware that authenticates requests.

This stub knows no sign-in: every request is the local administrator, as serve is when no
sign-in is configured (it then listens on loopback only).
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from starlette.exceptions import HTTPException
from starlette.middleware import Middleware

RANKS = {"Viewer": 1, "Responder": 2, "Admin": 3}


@dataclass(frozen=True)
class User:
    name: str
    oid: str
    roles: frozenset[str]
    via: str  # "session" | "bearer" | "loopback"

    def can(self, role: str) -> bool:
        """Whether one of the user's roles includes ``role`` (Admin ⊇ Responder ⊇ Viewer)."""
        need = RANKS.get(role)
        return need is not None and any(RANKS.get(r, 0) >= need for r in self.roles)


LOCAL = User("local", "local", frozenset({"Admin"}), "loopback")
_SECRET = secrets.token_bytes(32)  # per process: a token from another serve is worthless here


def current_user(request: Any) -> User | None:
    return getattr(request.state, "user", None)


def require(request: Any, role: str) -> User:
    user = current_user(request)
    if user is None:
        raise HTTPException(401, "sign in first")
    if not user.can(role):
        raise HTTPException(403, f"{user.name} may not do this: it needs the {role} role")
    return user


def csrf_token(request: Any) -> str:
    return hmac.new(_SECRET, b"csrf", "sha256").hexdigest()


async def check_csrf(request: Any) -> None:
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    sent = request.headers.get("x-csrf-token")
    if sent is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        sent = (await request.form()).get("csrf_token")
    if not sent or not hmac.compare_digest(str(sent), csrf_token(request)):
        raise HTTPException(403, "missing or wrong CSRF token; reload the page and try again")


class _Local:
    """Every request is the local administrator (no sign-in configured)."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            scope.setdefault("state", {}).setdefault("user", LOCAL)
        await self.app(scope, receive, send)


def middleware(service: Any = None) -> list[Middleware]:
    return [Middleware(_Local)]
