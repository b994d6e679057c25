"""What a :class:`~runner.auth.TokenProvider` knows about a tenant's tokens, without asking Entra
ID for one: for the console's tenants page.

- :func:`token_health` — for (tenant, API): whether a token is cached (in this process's memory,
  or in the token cache it shares) and when it expires, the roles of the last token this process
  validated (its roles claim: what the tenant's admin consented to), and the last error a token
  request for it met. Never the token itself.
- :func:`check_need` — the roles pre-flight of one action on a tenant, on the roles of the last
  token: the API the pre-flight would pick (:meth:`TokenProvider.choose_api`, the action's
  ``api_choice``) and whether that token holds one of the roles it declares there
  (:meth:`AccessToken.has_role`), as the engine's pre-flight and ``soar tenants check`` decide.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import Any, Mapping

from runner.errors import SoarError

__all__ = ["check_need", "last_token", "token_health"]

UTC = timezone.utc


def _iso(epoch: float | None) -> str | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


def last_token(provider: Any, tenant: str, api: str) -> Any:
    """The last token this process validated for (tenant, api), expired or not; None if none."""
    try:
        route = provider.route(tenant, api)
    except SoarError:
        return None
    return provider._memo.get((route.tenant.name, route.resource))


def _cached_expiry(provider: Any, tenant: str, api: str) -> float | None:
    """When the token the shared cache holds for (tenant, api) expires (None: none cached). A
    database cache is read (one row, its times only used); msal's cache is in memory."""
    route = provider.route(tenant, api)
    client_id = provider.config.app.client_id
    target = route.scope if route.flow == "v2" else route.resource
    if provider.shared is not None:
        from runner.auth.dbcache import row_key

        row = provider.shared.read(row_key(client_id, route.tenant.id, target))
        return None if row is None else float(row.expires_on)
    entries = provider.cache.access_tokens(client_id, route.tenant.id, [target])
    times = [float(e["expires_on"]) for e in entries if str(e.get("expires_on", "")).isdigit()]
    return max(times) if times else None


async def token_health(provider: Any, tenant: str, api: str) -> dict:
    """``{api, auth, cached, source, expires_at, expires_in_s, roles, last_error}`` for (tenant,
    api): ``source`` "memory" (this process holds a fresh token) or "cache" (the token cache
    does); ``roles``: the last validated token's roles (None: no token seen yet); ``last_error``:
    ``{message, hint, at}`` of the last failed token request (cleared by a success)."""
    from runner.apis.registry import auth_kind

    spec = provider.registry.get(api)
    out: dict[str, Any] = {"api": api, "auth": auth_kind(spec) if spec is not None else "unknown",
                           "cached": False, "source": None, "expires_at": None, "expires_in_s": None,
                           "roles": None, "last_error": None}
    if out["auth"] != "entra":  # an API key, a secret or nothing: no token to hold
        return out
    now = provider.clock()
    token = last_token(provider, tenant, api)
    expires = None
    if token is not None:
        out["roles"] = list(token.roles)
        if token.expires_on > now:
            out["source"], expires = "memory", token.expires_on
    if expires is None:
        try:
            expires = await asyncio.to_thread(_cached_expiry, provider, tenant, api)
        except SoarError as exc:  # an unreadable cache: say so, as the token's error would
            out["last_error"] = {"message": exc.message, "hint": exc.hint, "at": _iso(now)}
        if expires is not None and expires > now:
            out["source"] = "cache"
        else:
            expires = None
    if expires is not None:
        out.update(cached=True, expires_at=_iso(expires), expires_in_s=int(expires - now))
    failed = provider.errors.get((tenant, api))
    if failed is not None:
        at, exc = failed
        out["last_error"] = {"message": exc.message, "hint": exc.hint, "at": _iso(at)}
    return out


def check_need(provider: Any, tenant: str, roles_by_api: Mapping[str, Any], choice: str | None = None) -> dict:
    """The pre-flight of an action declaring ``roles_by_api`` on ``tenant``, on the last token:
    ``{api, any_of, status}`` — ``status`` "ok" (the last token of ``api`` holds one of
    ``any_of``), "missing" (it holds none), "unknown" (no token of that API seen yet, or one
    whose claims cannot be read: the API decides), or "error" (no API can be picked: ``error``
    says why)."""
    try:
        api = provider.choose_api(tenant, roles_by_api, choice=choice)
    except SoarError as exc:
        return {"api": None, "any_of": [], "status": "error", "error": exc.message}
    any_of = tuple(roles_by_api.get(api) or ())
    token = last_token(provider, tenant, api)
    if token is None or not provider.takes_tokens(api) or (any_of and not token.claims):
        status = "unknown" if provider.takes_tokens(api) else "ok"
    else:
        status = "ok" if token.has_role(*any_of) else "missing"
    return {"api": api, "any_of": list(any_of), "status": status}
