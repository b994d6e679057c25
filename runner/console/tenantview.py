"""The console's tenants page (``/tenants``, ``GET /api/v1/tenants``): per configured tenant, its
settings (never a credential), the health of its tokens, the roles its admin consented to against
the roles the served playbooks need, and the API budgets spent — all read from this serve's own
state (the token provider, the API clients' quota buckets): nothing asks Entra ID for a token.

Per tenant:

- ``tokens`` — for each API the tenant uses (the APIs its served playbooks' actions would pick,
  those it was called on, those a token was asked for): whether a token is cached (this
  process's memory, or the token cache it shares) and until when, the roles of the last token
  validated (its ``roles`` claim) and the last token error (:mod:`runner.auth.health`).
- ``roles_needed`` — each served playbook's action with roles: the API the pre-flight would pick
  on this tenant and whether the last token of that API holds one of the roles it needs
  (``ok``, ``missing``, or ``unknown`` until a token was seen).
- ``quotas`` — each budget bucket of those APIs: per window, calls counted now against the limit
  (a shared budget counts every process's calls), seconds left of a 429's pause.
- ``calls``, ``throttled``, ``retries`` — this serve's API call counters, per API.
"""

from __future__ import annotations

from typing import Any

from runner.console.views import roles_needed
from runner.errors import SoarError

TOKEN_NOTE = ("read from this serve's token provider and API clients — nothing asks Entra ID for a token; "
              "`soar tenants check PLAYBOOK_DIR` asks for each tenant's token and compares its roles")


async def tenants(service: Any) -> dict:
    """``{tenants: [...], token_check}`` (the module docstring says what each tenant has)."""
    services = service.services
    config, apis, provider = services.config, services.apis, services.auth
    stats = apis.stats() if apis is not None and hasattr(apis, "stats") else {}
    needs = roles_needed(service)
    actions = services.plugins.actions
    rows = []
    for name in (config.tenant_names() if config is not None else []):
        t = config.tenant(name)
        calls = stats.get("calls", {}).get(name, {})
        checked = [{**need, **_check(provider, name, need, actions)} for need in needs.get(name, [])]
        used = sorted({c["api"] for c in checked if c.get("api")} | set(calls) | _asked(provider, name))
        rows.append({"name": name, "tenant_id": t.id, "cloud": t.cloud, "region": t.region,
                     "apis": dict(t.apis), "roles_needed": checked,
                     "tokens": [await _token(provider, name, api) for api in used],
                     "quotas": await _quotas(apis, name, used),
                     "calls": calls, "throttled": stats.get("throttled", {}).get(name, {}),
                     "retries": stats.get("retries", {}).get(name, {})})
    return {"tenants": rows, "token_check": TOKEN_NOTE}


def _check(provider: Any, tenant: str, need: dict, actions: Any) -> dict:
    """The roles pre-flight of ``need``'s action on ``tenant`` (runner.auth.health.check_need)."""
    if provider is None:  # no app registration: no tokens, nothing to compare
        return {"api": None, "any_of": [], "status": "unknown"}
    from runner.auth.health import check_need

    action = actions.get(need["action"])
    return check_need(provider, tenant, need["roles"], choice=getattr(action, "api_choice", None))


def _asked(provider: Any, tenant: str) -> set[str]:
    """APIs a token was obtained or refused for on ``tenant`` in this process."""
    if provider is None:
        return set()
    apis = {token.api for (name, _resource), token in list(provider._memo.items()) if name == tenant}
    return apis | {api for (name, api) in list(provider.errors) if name == tenant}


async def _token(provider: Any, tenant: str, api: str) -> dict:
    if provider is None:
        return {"api": api, "auth": "unknown", "cached": False, "source": None, "expires_at": None,
                "expires_in_s": None, "roles": None, "last_error": None}
    from runner.auth.health import token_health

    return await token_health(provider, tenant, api)


async def _quotas(apis: Any, tenant: str, used: list[str]) -> list[dict]:
    """The budget buckets of the APIs in ``used`` (each API's own, as its registration names
    them), with what is spent of each window now; a bucket without limits is left out."""
    if apis is None:
        return []
    out = []
    for api in used:
        spec = apis.registry.get(api)
        for bucket in (spec.quotas if spec is not None else {}) or {}:
            if not apis.limits.get(bucket):
                continue
            made = apis.bucket(tenant, bucket)  # made on first use, as a call would make it
            error = None
            try:
                spent = await made.usage()
            except SoarError as exc:  # a shared budget's database is out of reach: say so, show the rest
                spent, error = [(limit, window, None) for limit, window in made.limits], exc.message
            out.append({"api": api, "bucket": bucket, "shared": apis.shared_quotas is not None,
                        "windows": [{"window_s": window, "limit": limit, "used": used_now}
                                    for limit, window, used_now in spent],
                        "paused_s": round(made.paused_for(), 3), "waits": made.waits,
                        "waited_s": round(made.waited, 3), "error": error})
    return out
