"""The console's door when sign-in is configured: sessions, bearer tokens and the sign-in routes.

``GET /signin?next=/path`` starts the flow (:class:`runner.console.signin.EntraSignIn`) and keeps
it in the sealed ``soar_signin`` cookie; Entra ID posts the answer to the callback
(``/auth/callback``, or the path of ``console.redirect_uri``), which opens a session
(:mod:`runner.console.sessions`) and goes on to ``next``. A cross-site form post carries no
``SameSite=Lax`` cookie: when the sign-in cookie is missing, the callback answers a page that
posts the same fields again from the console's own origin. ``POST /signout`` (CSRF-checked)
ends the session; ``GET /signout`` says so.
"""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from runner.console import csrf
from runner.errors import AuthError
from runner.console.identity import (PUBLIC_PATHS, PUBLIC_PREFIXES, UNSAFE, User, loopback_name, new_token, page,
                                     refusal, route_path, wants_json)
from runner.console.sessions import FLOW, FLOW_LIFETIME, SESSION, Sealer, Session, cookie_header, read_cookie
from runner.console.signin import SIM_LOGIN_PREFIX, EntraSignIn, SignInFailed

log = logging.getLogger("soar.console")

CALLBACK = "/auth/callback"
_RELAY_FIELD = "soar_relay"
SUBMIT_PATH = "/auth/submit.js"  # posts the relay page's form (a script of this origin: the CSP allows no other)
SUBMIT_JS = b"document.forms[0].submit();\n"


@dataclass
class Settings:
    signin: EntraSignIn | None = None
    sealer: Sealer = field(default_factory=Sealer)
    lifetime: float = 8 * 3600.0
    redirect_uri: str | None = None
    callback_paths: tuple[str, ...] = (CALLBACK,)
    body_limit: int = 1024 * 1024
    loopback_token: str = field(default_factory=new_token)


def settings_for(service: Any) -> Settings:
    """The :class:`Settings` of a ServeService's console (``None``: no sign-in)."""
    from runner.secrets import resolve

    services = getattr(service, "services", None)
    config = getattr(services, "config", None)
    console = getattr(config, "console", None)
    limit = getattr(getattr(service, "options", None), "body_limit", 1024 * 1024)
    if console is None:
        return Settings(body_limit=limit)
    secret = resolve(console.client_secret, name="console.client_secret")
    key = resolve(console.session_key, name="console.session_key").reveal().encode() if console.session_key else None
    signin = EntraSignIn(console, services.network, secret)
    paths = [CALLBACK]
    if console.redirect_uri:
        paths.append(urlsplit(console.redirect_uri).path or "/")
    if key is None:
        log.info("console: sessions are sealed with a key made for this process (a restart signs everyone out; "
                 "set console.session_key when several processes serve the console)")
    log.info("console: sign-in with Entra ID, tenant %s, app %s", console.tenant, console.client_id)
    return Settings(signin=signin, sealer=Sealer(key), lifetime=float(console.session_lifetime),
                    redirect_uri=console.redirect_uri, callback_paths=tuple(dict.fromkeys(paths)), body_limit=limit)


def exposure_note(host: str, config: Any) -> str | None:
    """What ``soar serve --host HOST`` says when it listens beyond loopback with no sign-in."""
    if getattr(config, "console", None) is not None or loopback_name(host):
        return None
    return (f"soar serve: sign-in is not configured (no console: in soar.yaml), so the console answers only "
            f"requests from this machine; other machines reaching {host} get 403 there (webhooks, /healthz, "
            "/metrics and /approvals answer as before). docs/console.md, Sign-in, says how to configure it.")


def _secure(request: Request) -> bool:
    """Cookies are ``Secure`` unless the console is reached over plain HTTP on a loopback name."""
    return request.url.scheme == "https" or not loopback_name(request.headers.get("host", ""))


def _origin(request: Request) -> str:
    return f"{request.url.scheme}://{request.headers.get('host') or request.url.netloc}"


def _safe_next(value: str | None) -> str:
    """A path on this console to go to after sign-in (anything else: ``/``)."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")) or any(c in value for c in "\r\n"):
        return "/"
    if value.startswith(("/signin", "/signout", CALLBACK, SIM_LOGIN_PREFIX)):
        return "/"
    return value


async def signed_in(settings: Settings, request: Request, state: dict, receive: Any) -> tuple[Response | None, Any]:
    """(an answer, or None to go on to the console; the receive to go on with)."""
    signin = settings.signin
    assert signin is not None
    path = route_path(request.scope)
    secure = _secure(request)
    state["signout_path"] = "/signout"
    if path.startswith(SIM_LOGIN_PREFIX) and signin.simulated:
        return await _relay(signin, request, path), receive
    if path == SUBMIT_PATH:
        return Response(SUBMIT_JS, media_type="text/javascript", headers={"Cache-Control": "max-age=3600"}), receive
    if path == "/signin" and request.method in ("GET", "HEAD"):
        return await _start(settings, request, secure), receive
    if path in settings.callback_paths:
        return await _callback(settings, request, secure), receive
    session = settings.sealer.open_session(read_cookie(request.headers, SESSION, secure), settings.lifetime)
    if path == "/signout":
        return await _signout(settings, request, session, secure, receive), receive
    authorization = request.headers.get("authorization", "")
    if authorization[:7].lower() == "bearer ":
        try:
            claims = await signin.bearer(authorization[7:].strip())
        except AuthError as exc:
            return refusal(request, 401, f"bearer token refused: {exc.message}",
                           hint="send a client-credentials token of an app assigned a console role, for "
                                f"scope api://{signin.client_id}/.default",
                           headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}), receive
        state["user"] = _bearer_user(claims, signin.roles(claims))
        state["csrf_token"] = ""
        state["csrf_checked"] = True
        return None, receive
    if session is None:
        if path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES):
            return None, receive
        if request.method in ("GET", "HEAD") and not wants_json(request):
            target = path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/signin?next={quote(target, safe='/')}", status_code=303), receive
        return refusal(request, 401, "sign in first (GET /signin), or send Authorization: Bearer <token>",
                       headers={"WWW-Authenticate": "Bearer"}), receive
    state["user"] = User(session.name, session.oid, frozenset(session.roles), "session", session.display)
    state["csrf_token"] = session.csrf
    if request.method in UNSAFE:
        answer, receive = await csrf.verify(request, receive, session.csrf, settings.body_limit)
        if answer is not None:
            return answer, receive
        state["csrf_checked"] = True
    return None, receive


def _bearer_user(claims: dict, roles: tuple[str, ...]) -> User:
    oid = str(claims.get("oid") or claims.get("sub") or "")
    if claims.get("scp"):  # a user's delegated token
        name = str(claims.get("preferred_username") or claims.get("upn") or claims.get("name") or oid)
        return User(name, oid, frozenset(roles), "bearer", str(claims.get("name") or name))
    app = str(claims.get("azp") or claims.get("appid") or oid)
    display = str(claims.get("app_displayname") or f"app {app}")
    return User(f"app:{app}", oid, frozenset(roles), "bearer", display)


# ---- routes ------------------------------------------------------------------------------------


async def _start(settings: Settings, request: Request, secure: bool) -> Response:
    signin = settings.signin
    assert signin is not None
    target = _safe_next(request.query_params.get("next"))
    if settings.sealer.open_session(read_cookie(request.headers, SESSION, secure), settings.lifetime) is not None:
        return RedirectResponse(target, status_code=303)
    origin = _origin(request)
    redirect_uri = settings.redirect_uri or f"{origin}{CALLBACK}"
    try:
        flow = await signin.start(redirect_uri)
    except (SignInFailed, AuthError) as exc:
        log.error("console: sign-in cannot start: %s", exc)
        return page("Sign-in unavailable", f'<p role="alert">Sign-in cannot start: {html.escape(str(exc))}</p>',
                    status=502)
    kept = {k: v for k, v in flow.items() if k != "auth_uri"}
    sealed = settings.sealer.seal(FLOW, {"flow": kept, "next": target})
    response = RedirectResponse(signin.browser_url(flow["auth_uri"], origin), status_code=303)
    response.headers.append("Set-Cookie", cookie_header(FLOW, sealed, secure=secure, max_age=FLOW_LIFETIME))
    response.headers["Cache-Control"] = "no-store"
    return response


async def _callback(settings: Settings, request: Request, secure: bool) -> Response:
    signin = settings.signin
    assert signin is not None
    if request.method == "POST":
        body = await csrf.read_body(request, settings.body_limit)
        if body is None:
            return refusal(request, 413, "the sign-in answer is too large")
        answer = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    elif request.method in ("GET", "HEAD"):
        answer = dict(request.query_params)
    else:
        return refusal(request, 405, "the sign-in callback takes GET or POST")
    if answer.get("error"):  # the user cancelled, or Entra ID refused: no code to redeem
        said = str(answer.get("error_description") or answer["error"]).splitlines()[0]
        log.warning("console: sign-in failed: Entra ID said: %s", said)
        return _failed(f"Entra ID said: {said}", secure)
    kept = settings.sealer.open(FLOW, read_cookie(request.headers, FLOW, secure), FLOW_LIFETIME)
    if kept is None and request.method == "POST" and not answer.get(_RELAY_FIELD):
        return _relay_page(request, answer)  # a cross-site post carried no Lax cookie: post again from here
    if kept is None:
        return _failed("this browser has no sign-in under way (it took over ten minutes, or cookies are blocked)",
                       secure)
    answer.pop(_RELAY_FIELD, None)
    try:
        claims = await signin.finish(kept.get("flow") or {}, answer)
    except (SignInFailed, AuthError) as exc:
        log.warning("console: sign-in failed: %s", exc)
        return _failed(str(exc), secure)
    roles = signin.roles(claims)
    name = str(claims.get("preferred_username") or claims.get("upn") or claims.get("email") or claims["oid"])
    session = Session.start(name=name, display=str(claims.get("name") or name), oid=str(claims["oid"]),
                            tid=str(claims.get("tid", "")), roles=roles, lifetime=settings.lifetime,
                            now=settings.sealer.now())
    log.info("console: %s (oid %s) signed in; roles: %s", name, session.oid, ", ".join(roles) or "none")
    response = RedirectResponse(_safe_next(kept.get("next")), status_code=303)
    response.headers.append("Set-Cookie", cookie_header(SESSION, settings.sealer.seal_session(session),
                                                        secure=secure, max_age=int(settings.lifetime)))
    response.headers.append("Set-Cookie", cookie_header(FLOW, "", secure=secure, max_age=0))
    response.headers["Cache-Control"] = "no-store"
    return response


def _failed(reason: str, secure: bool) -> Response:
    response = page("Sign-in failed", f'<p role="alert">{html.escape(reason)}</p><p><a href="/signin">Sign in '
                                      "again</a></p>", status=400)
    response.headers.append("Set-Cookie", cookie_header(FLOW, "", secure=secure, max_age=0))
    return response


def _relay_page(request: Request, answer: dict) -> Response:
    fields = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                     for k, v in answer.items() if k != _RELAY_FIELD)
    body = (f'<form id="relay" method="post" action="{html.escape(route_path(request.scope))}">{fields}'
            f'<input type="hidden" name="{_RELAY_FIELD}" value="1">'
            '<p>Finishing sign-in… <button type="submit">Continue</button></p></form>'
            f'<script src="{SUBMIT_PATH}"></script>')
    return page("Signing in", body)


async def _signout(settings: Settings, request: Request, session: Session | None, secure: bool,
                   receive: Any) -> Response:
    if request.method == "POST":
        if session is not None:
            answer, _ = await csrf.verify(request, receive, session.csrf, settings.body_limit)
            if answer is not None:
                return answer
            settings.sealer.revoke(session)
            log.info("console: %s signed out", session.name)
        response = RedirectResponse("/signout", status_code=303)
        response.headers.append("Set-Cookie", cookie_header(SESSION, "", secure=secure, max_age=0))
        return response
    if session is not None:
        return page("Sign out", f'<form method="post" action="/signout"><input type="hidden" name="csrf_token" '
                                f'value="{html.escape(session.csrf)}"><p>Signed in as {html.escape(session.name)}. '
                                '<button type="submit">Sign out</button></p></form>')
    return page("Signed out", '<p>You are signed out of the console. <a href="/signin">Sign in</a></p>')


async def _relay(signin: EntraSignIn, request: Request, path: str) -> Response:
    """The simulated sign-in pages (the authorize endpoint and its script), nothing else."""
    from runner.sim.signin import ASSETS

    parts = path[len(SIM_LOGIN_PREFIX):].split("/")
    if len(parts) != 4 or parts[1:3] != ["oauth2", "v2.0"] or parts[3] not in ("authorize", *ASSETS):
        return refusal(request, 404, "only the simulated sign-in pages are relayed here")
    body = await request.body()
    answer = await signin.relay_simulated(request.method, path[len(SIM_LOGIN_PREFIX):], request.url.query, body,
                                          request.headers.get("content-type"))
    headers = {k: v for k, v in answer.headers.items()
               if k.lower() in ("content-type", "location", "cache-control", "content-security-policy")}
    return Response(answer.content, status_code=answer.status_code, headers=headers)
