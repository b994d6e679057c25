"""Console session cookies: sealed (encrypted and authenticated), never holding a token.

A signed-in browser carries one cookie, ``soar_session`` (``__Host-soar_session`` when it is
``Secure``), whose value is a Fernet token over the :class:`Session` — name, object id, roles,
expiry and the session's CSRF token: nothing in it is readable or changeable without the key,
and no Entra ID token is ever kept (the ID token is checked once at sign-in and dropped). While a
sign-in is under way a second cookie, ``soar_signin``, holds msal's flow (state, nonce, PKCE
verifier) and where to go afterwards, sealed with another key, for ten minutes.

Cookies are ``HttpOnly``, ``SameSite=Lax``, ``Path=/`` and ``Secure`` unless the console is
reached on a loopback name over plain HTTP. The key comes from ``console.session_key`` (any
secret; a SHA-256 based derivation gives each purpose its own key) or is made per process.
Signing out revokes the session in this process (until it would have expired anyway).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable

from cryptography.fernet import Fernet, InvalidToken

__all__ = ["FLOW_LIFETIME", "Session", "Sealer", "cookie_header", "cookie_name", "read_cookie"]

FLOW_LIFETIME = 600
SESSION = "soar_session"
FLOW = "soar_signin"


@dataclass(frozen=True)
class Session:
    """One signed-in user (``name``: the sign-in name, e.g. ``alice@contoso.com``)."""

    name: str
    display: str
    oid: str
    tid: str
    roles: tuple[str, ...]
    expires: float
    csrf: str
    sid: str

    @classmethod
    def start(cls, *, name: str, display: str, oid: str, tid: str, roles: tuple[str, ...],
              lifetime: float, now: float) -> "Session":
        return cls(name, display, oid, tid, tuple(roles), now + lifetime, secrets.token_urlsafe(32),
                   secrets.token_urlsafe(12))


class Sealer:
    """Seals and opens cookie payloads: one Fernet key per purpose, derived from ``key``
    (``None``: a random key for this process)."""

    def __init__(self, key: bytes | None = None, *, clock: Callable[[], float] = time.time) -> None:
        root = key if key is not None else secrets.token_bytes(32)
        self._fernets = {purpose: Fernet(base64.urlsafe_b64encode(
            hmac.new(root, f"soar console {purpose}".encode(), hashlib.sha256).digest()))
            for purpose in (SESSION, FLOW)}
        self._clock = clock
        self._revoked: dict[str, float] = {}  # sid -> when it would expire
        self._lock = threading.Lock()

    def now(self) -> float:
        return self._clock()

    def seal(self, purpose: str, payload: dict) -> str:
        raw = json.dumps(payload, separators=(",", ":")).encode()
        return self._fernets[purpose].encrypt_at_time(raw, int(self._clock())).decode("ascii")

    def open(self, purpose: str, value: str | None, max_age: float) -> dict | None:
        if not value:
            return None
        try:
            raw = self._fernets[purpose].decrypt_at_time(value.encode("ascii"), int(max_age) + 1,
                                                         int(self._clock()))
            data = json.loads(raw)
        except (InvalidToken, ValueError, UnicodeEncodeError):
            return None
        return data if isinstance(data, dict) else None

    # ---- sessions ----------------------------------------------------------------------------

    def seal_session(self, session: Session) -> str:
        return self.seal(SESSION, asdict(session))

    def open_session(self, value: str | None, max_age: float) -> Session | None:
        data = self.open(SESSION, value, max_age)
        if data is None:
            return None
        try:
            session = Session(**{**data, "roles": tuple(data["roles"])})
        except (TypeError, KeyError):
            return None
        if session.expires <= self._clock() or session.sid in self._revoked:
            return None
        return session

    def revoke(self, session: Session) -> None:
        now = self._clock()
        with self._lock:
            self._revoked = {sid: exp for sid, exp in self._revoked.items() if exp > now}
            self._revoked[session.sid] = session.expires


def cookie_name(base: str, secure: bool) -> str:
    return f"__Host-{base}" if secure else base


def read_cookie(headers: Any, base: str, secure: bool) -> str | None:
    """The value of cookie ``base`` as it is named on this connection (see :func:`cookie_name`)."""
    from http.cookies import SimpleCookie

    wanted = cookie_name(base, secure)
    for header in headers.getlist("cookie"):
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(header)
        except Exception:  # noqa: BLE001 - a malformed Cookie header is no cookie of ours
            continue
        if wanted in jar:
            return jar[wanted].value
    return None


def cookie_header(base: str, value: str, *, secure: bool, max_age: int) -> str:
    """A ``Set-Cookie`` value: HttpOnly, SameSite=Lax, Path=/, Secure unless ``secure`` is false;
    ``max_age`` 0 deletes the cookie."""
    parts = [f"{cookie_name(base, secure)}={value}", "Path=/", "HttpOnly", "SameSite=Lax", f"Max-Age={max_age}"]
    if secure:
        parts.append("Secure")
    return "; ".join(parts)
