"""The simulated sign-in: the MSSP's own tenant, its people, and what the console needs of it.

The simulated Entra ID (:mod:`runner.sim.entra`) hands every request for the MSSP tenant
(``mssp``, ``mssp.onmicrosoft.com``) to the :class:`SignInDirectory` of its cloud:

- ``GET /{tenant}/oauth2/v2.0/authorize?client_id=..&redirect_uri=..&code_challenge=..`` — a small
  sign-in page listing the seeded users; ``POST`` of the same URL with ``user=<name>`` signs that
  user in and redirects to ``redirect_uri?code=..&state=..`` (``cancel=1``: ``error=access_denied``).
- ``POST /{tenant}/oauth2/v2.0/token`` with ``grant_type=authorization_code`` — PKCE (S256)
  checked, the code used once, within ten minutes: an ID token (signed by the tenant's key;
  ``name``, ``preferred_username``, ``oid``, ``tid``, ``roles``, ``nonce``, ``aud`` = the client
  id) and an access token; with ``grant_type=client_credentials`` and
  ``scope=api://<console app>/.default``: an app token for a seeded script client whose ``roles``
  are the app roles it was assigned.

The console app is the demo app registration (``SimulatedCloud.app``: same client id and
secret), whose app roles ``Viewer``, ``Responder`` and ``Admin`` are assigned to the seeded users
(:data:`USERS`) and script clients (:data:`CLIENTS`). A script client's id is fixed and its secret
derives from the demo app's (:func:`client_secret`), so both are known wherever the demo app's are.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import os
import secrets as _random
import threading
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode

import httpx
import jwt

from runner.auth import clouds
from runner.secrets import Secret
from runner.sim.identity import SimTenant, b64, signing_key

if TYPE_CHECKING:  # pragma: no cover
    from runner.sim.cloud import SimulatedCloud

__all__ = ["CLIENTS", "MSSP_TENANT", "SignInDirectory", "SimClient", "SimUser", "USERS", "client_id", "client_secret"]

MSSP_TENANT = "mssp"
CODE_LIFETIME = 600.0
SUBMIT_SCRIPT = "submit.js"  # next to the authorize endpoint: it posts the answer page's form
# the pages' files, next to the authorize endpoint (relative links work through a relay too, and
# a page that allows only its own origin's scripts and styles still gets them)
ASSETS: dict[str, tuple[str, bytes]] = {
    SUBMIT_SCRIPT: ("text/javascript", b"document.forms[0].submit();\n"),
    "signin.css": ("text/css", b"body{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;color:#1b1b1b}"
                   b"ul{list-style:none;padding:0}li{margin:.5rem 0}button{font:inherit;padding:.6rem 1rem;"
                   b"width:100%;text-align:left;border:1px solid #555;background:#fff;border-radius:4px;"
                   b"cursor:pointer}button:focus,button:hover{outline:3px solid #0b5cad;background:#eef4fb}"
                   b"button span{display:block;color:#444;font-size:.9em}fieldset{border:0;padding:0}"
                   b"legend{font-weight:600;margin-bottom:.5rem}\n"),
}
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
# name -> (display name, console app roles)
USERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "alice": ("Alice Martin", ("Responder",)),
    "victor": ("Victor Viewer", ("Viewer",)),
    "ada": ("Ada Admin", ("Admin",)),
    "nora": ("Nora Noroles", ()),
}
# name -> console app roles of a script's app registration (client-credentials tokens)
CLIENTS: dict[str, tuple[str, ...]] = {
    "automation": ("Responder",),
    "reporting": ("Viewer",),
    "unassigned": (),
}


@dataclass(frozen=True)
class SimUser:
    name: str          # the account's short name (alice)
    display: str       # Alice Martin
    username: str      # alice@mssp.onmicrosoft.com
    oid: str
    roles: tuple[str, ...]


@dataclass(frozen=True)
class SimClient:
    name: str
    client_id: str
    secret: Secret
    oid: str           # its service principal's object id in the MSSP tenant
    roles: tuple[str, ...]


@dataclass
class _Code:
    client_id: str
    redirect_uri: str
    scope: str
    nonce: str | None
    challenge: str | None
    method: str
    user: SimUser
    expires: float
    used: bool = False


@dataclass
class SignInDirectory:
    """The MSSP tenant of a :class:`SimulatedCloud`: users, script clients, authorization codes."""

    cloud: "SimulatedCloud"
    tenant: SimTenant = field(init=False)
    users: dict[str, SimUser] = field(init=False)
    clients: dict[str, SimClient] = field(init=False)

    def __post_init__(self) -> None:
        from runner.sim.cloud import NS

        tid = str(uuid.uuid5(NS, f"tenant/{MSSP_TENANT}"))
        self.tenant = SimTenant(MSSP_TENANT, tid)
        self.tenant.keys.append(signing_key(f"{tid}-0", self.cloud.state_dir))
        domain = self.tenant.domain
        self.users = {name: SimUser(name, display, f"{name}@{domain}", str(uuid.uuid5(NS, f"user/{name}")), roles)
                      for name, (display, roles) in USERS.items()}
        app_secret = self.cloud.app.secret.reveal()
        self.clients = {name: SimClient(name, client_id(name),
                                        Secret(client_secret(app_secret, name), name=f"sim_{name}_secret"),
                                        str(uuid.uuid5(NS, f"sp/{MSSP_TENANT}/{name}")), roles)
                        for name, roles in CLIENTS.items()}
        self._codes: dict[str, _Code] = {}
        self._lock = threading.Lock()

    # ---- facts -------------------------------------------------------------------------------

    @property
    def console_client_id(self) -> str:
        return self.cloud.app.client_id

    def find_tenant(self, ref: str) -> SimTenant | None:
        return self.tenant if ref.lower() in (self.tenant.id, self.tenant.domain, MSSP_TENANT) else None

    def console_settings(self) -> dict:
        """The ``console:`` section of soar.yaml for this directory (the secret as a ``sim:`` reference)."""
        return {"tenant": self.tenant.id, "client_id": self.console_client_id, "client_secret": f"sim:{self.cloud.id}"}

    def issuer(self) -> str:
        return f"{clouds.cloud(self.tenant.cloud).authority_url}/{self.tenant.id}/v2.0"

    def sign(self, claims: dict) -> str:
        key = self.tenant.keys[-1]
        return jwt.encode(claims, key.private, algorithm="RS256", headers={"typ": "JWT", "kid": key.kid})

    def app_token(self, client: str, *, audience: str | None = None, roles: tuple[str, ...] | None = None,
                  **overrides: Any) -> str:
        """A client-credentials token of script client ``client`` for the console app (tests:
        ``audience`` and ``overrides`` change it)."""
        c = self.clients[client]
        now = int(self.cloud.clock())
        claims: dict[str, Any] = {
            "aud": audience or self.console_client_id, "iss": self.issuer(), "iat": now, "nbf": now,
            "exp": now + self.cloud.token_lifetime, "tid": self.tenant.id, "oid": c.oid, "sub": c.oid,
            "azp": c.client_id, "azpacr": "1", "idtyp": "app", "ver": "2.0", "uti": b64(os.urandom(16)),
            "rh": "0.sim.",
        }
        granted = c.roles if roles is None else roles
        if granted:
            claims["roles"] = list(granted)
        claims.update(overrides)
        return self.sign(claims)

    # ---- the authorize endpoint ----------------------------------------------------------------

    def authorize(self, request: httpx.Request) -> httpx.Response:
        params = dict(request.url.params)
        form = dict(parse_qsl(request.content.decode("utf-8", "replace"))) if request.method == "POST" else {}
        if params.get("client_id") != self.console_client_id:
            return _page("Sign-in failed", f"AADSTS700016: Application with identifier "
                         f"'{params.get('client_id', '')}' was not found in the directory '{self.tenant.domain}'.",
                         status=400)
        redirect = params.get("redirect_uri", "")
        if not redirect.startswith(("https://", "http://")):
            return _page("Sign-in failed", "AADSTS900144: The request body must contain the following "
                         "parameter: 'redirect_uri' (an absolute http(s) URL).", status=400)
        mode = params.get("response_mode", "query")
        if mode not in ("query", "form_post"):
            return _page("Sign-in failed", f"AADSTS900144: unsupported response_mode '{mode}' (the simulated "
                         "Entra ID answers with query or form_post)", status=400)
        state = {"state": params["state"]} if params.get("state") else {}
        if params.get("response_type") != "code":
            return _back(redirect, mode, {"error": "unsupported_response_type",
                                          "error_description": "AADSTS70000: only response_type=code", **state})
        method = params.get("code_challenge_method", "plain" if params.get("code_challenge") else "")
        if method not in ("", "S256", "plain"):
            return _back(redirect, mode, {"error": "invalid_request", "error_description":
                                          f"AADSTS50146: unsupported code_challenge_method {method}", **state})
        if request.method == "GET":
            return self._chooser(params)
        if form.get("cancel"):
            return _back(redirect, mode, {"error": "access_denied", "error_description":
                                          "AADSTS65004: User declined to consent to access the app.", **state})
        user = self.users.get(form.get("user", ""))
        if user is None:
            return self._chooser(params, problem="choose one of the accounts below")
        code = _random.token_urlsafe(32)
        with self._lock:
            now = self.cloud.clock()
            self._codes = {k: c for k, c in self._codes.items() if c.expires > now}  # forget old codes
            self._codes[code] = _Code(params["client_id"], redirect, params.get("scope", ""), params.get("nonce"),
                                      params.get("code_challenge"), method, user, now + CODE_LIFETIME)
        return _back(redirect, mode, {"code": code, **state, "session_state": str(uuid.uuid4())})

    @staticmethod
    def asset(name: str) -> httpx.Response:
        kind, body = ASSETS[name]
        return httpx.Response(200, content=body, headers={"content-type": f"{kind}; charset=utf-8",
                                                          "cache-control": "max-age=3600"})

    def _chooser(self, params: dict, problem: str = "") -> httpx.Response:
        rows = []
        for user in self.users.values():
            roles = ", ".join(user.roles) or "no console role"
            rows.append(f'<li><button type="submit" name="user" value="{html.escape(user.name)}">'
                        f'{html.escape(user.display)} <span>{html.escape(user.username)} ({html.escape(roles)})'
                        f'</span></button></li>')
        note = f'<p role="alert">{html.escape(problem)}</p>' if problem else ""
        body = (f"<p>Simulated Entra ID, tenant <strong>{html.escape(self.tenant.domain)}</strong>. "
                f"No password: pick who signs in.</p>{note}"
                '<form method="post"><fieldset><legend>Pick an account</legend>'
                f'<ul>{"".join(rows)}</ul></fieldset>'
                '<p><button type="submit" name="cancel" value="1">Cancel</button></p></form>')
        return _page("Sign in to your account", body, raw=True)

    # ---- the token endpoint ----------------------------------------------------------------------

    def token(self, form: dict, kind: str) -> httpx.Response:
        from runner.sim.entra import error_response, json_response

        if kind != "token_v2":
            return error_response(70003, grant=f"{form.get('grant_type', '')} (over the v1 endpoint)")
        grant = form.get("grant_type", "")
        client_id = form.get("client_id", "")
        if not client_id:
            return error_response(900144, param="client_id")
        if grant == "authorization_code":
            if client_id != self.console_client_id:
                return error_response(700016, app=client_id, tenant=self.tenant.id)
            app = self.cloud.app
            if form.get("client_secret") != app.secret.reveal():
                return error_response(7000215, app=client_id) if "client_secret" in form else \
                    error_response(900144, param="client_secret")
            return self._redeem(form)
        if grant == "client_credentials":
            client = next((c for c in self.clients.values() if c.client_id == client_id), None)
            if client is None:
                return error_response(700016, app=client_id, tenant=self.tenant.id)
            if form.get("client_secret") != client.secret.reveal():
                return error_response(7000215, app=client_id)
            scope = form.get("scope", "")
            wanted = scope[: -len("/.default")] if scope.endswith("/.default") else ""
            if wanted.rstrip("/") not in (self.console_client_id, f"api://{self.console_client_id}"):
                return error_response(500011, resource=wanted or scope, tenant=self.tenant.id)
            raw = self.app_token(client.name)
            life = self.cloud.token_lifetime
            return json_response({"token_type": "Bearer", "expires_in": life, "ext_expires_in": life,
                                  "access_token": raw})
        if not grant:
            return error_response(900144, param="grant_type")
        return error_response(70003, grant=grant)

    def _redeem(self, form: dict) -> httpx.Response:
        from runner.sim.entra import error_response, json_response

        raw_code = form.get("code", "")
        if not raw_code:
            return error_response(900144, param="code")
        with self._lock:
            code = self._codes.get(raw_code)
            first = code is not None and not code.used
            if code is not None:
                code.used = True
        if code is None:
            return error_response(70000, why="The authorization code is unknown.")
        if not first:
            return error_response(54005)
        if self.cloud.clock() > code.expires:
            return error_response(70008)
        if form.get("redirect_uri") != code.redirect_uri:
            return error_response(70000, why="The redirect_uri differs from the one of the authorization request.")
        if code.challenge is not None:
            verifier = form.get("code_verifier", "")
            if code.method == "S256":
                verifier = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            if not verifier or not _random.compare_digest(verifier, code.challenge):
                return error_response(501481)
        user = code.user
        now = int(self.cloud.clock())
        life = self.cloud.token_lifetime
        claims: dict[str, Any] = {
            "aud": code.client_id, "iss": self.issuer(), "iat": now, "nbf": now, "exp": now + life,
            "name": user.display, "preferred_username": user.username, "oid": user.oid, "tid": self.tenant.id,
            "sub": b64(hashlib.sha256(f"{user.oid}/{code.client_id}".encode()).digest()),
            "ver": "2.0", "uti": b64(os.urandom(16)), "rh": "0.sim.", "aio": b64(os.urandom(24)),
        }
        if code.nonce is not None:
            claims["nonce"] = code.nonce
        if user.roles:
            claims["roles"] = list(user.roles)
        access = self.sign({"aud": GRAPH_APP_ID, "iss": f"https://sts.windows.net/{self.tenant.id}/", "iat": now,
                            "nbf": now, "exp": now + life, "tid": self.tenant.id, "oid": user.oid,
                            "sub": claims["sub"], "appid": code.client_id, "scp": "openid profile email User.Read",
                            "name": user.display, "upn": user.username, "ver": "1.0", "uti": b64(os.urandom(16))})
        info = b64(json.dumps({"uid": user.oid, "utid": self.tenant.id}).encode())
        return json_response({"token_type": "Bearer", "scope": "openid profile email User.Read",
                              "expires_in": life, "ext_expires_in": life, "access_token": access,
                              "id_token": self.sign(claims), "client_info": info})


def _back(redirect: str, mode: str, answer: dict) -> httpx.Response:
    """The answer to the app: a redirect with a query, or (``form_post``) a page that posts it."""
    if mode == "form_post":
        fields = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(str(v))}">'
                         for k, v in answer.items())
        body = (f'<form id="answer" method="post" action="{html.escape(redirect)}">{fields}'
                '<p>Signing you in… <button type="submit">Continue</button></p></form>'
                f'<script src="{SUBMIT_SCRIPT}"></script>')  # relative: also through a relay
        return _page("Working…", body, raw=True)
    sep = "&" if "?" in redirect else "?"
    return httpx.Response(302, headers={"location": f"{redirect}{sep}{urlencode(answer)}",
                                        "cache-control": "no-store"})


def _page(title: str, body: str, *, status: int = 200, raw: bool = False) -> httpx.Response:
    text = body if raw else f'<p role="alert">{html.escape(body)}</p>'
    doc = (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
           '<meta name="viewport" content="width=device-width, initial-scale=1">'
           '<link rel="stylesheet" href="signin.css"></head>'
           f"<body><main><h1>{html.escape(title)}</h1>{text}</main></body></html>")
    return httpx.Response(status, content=doc.encode(), headers={"content-type": "text/html; charset=utf-8",
                                                                  "cache-control": "no-store"})


def client_id(client: str) -> str:
    """The fixed client id of script client ``client`` (the same in every simulated cloud)."""
    from runner.sim.cloud import NS

    return str(uuid.uuid5(NS, f"client/{client}"))


def client_secret(app_secret: str, client: str) -> str:
    """The secret of script client ``client``, derived from the demo app's secret (which ``soar sim
    serve`` prints): whoever holds one can compute the others, as befits a simulator."""
    digest = hmac.new(app_secret.encode(), f"sim script client/{client}".encode(), hashlib.sha256).digest()
    return f"{digest[:2].hex()[:3]}8Q~{b64(digest)}"
