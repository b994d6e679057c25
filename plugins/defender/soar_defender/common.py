"""What every Defender action shares: the API client for the step's tenant, role sets, helpers.

Only soar-runner's plugin surface (:mod:`runner.plugin`) is used; the API clients come from
``ctx.api(name, roles)`` for the APIs this plugin registers (:mod:`soar_defender.apis`).
"""

from __future__ import annotations

from typing import Any, Mapping

from pydantic import BaseModel, ConfigDict

from runner.plugin import Location, errors, odata
from runner.plugin import tenant_preference as plugin_tenant_preference

# The `filter` inputs: author text, joined as is (runner.odata.raw); a value from a trigger pasted
# into it could widen the query, so the description says where such values go instead.
RAW_FILTER = ("Extra OData $filter, ANDed in: the playbook author's own text, sent as written; values from "
              "triggers or steps go in the typed inputs, never in here")

# Roles (the "Permissions" section of each API reference page): any one of each tuple suffices.
MACHINE_READ = ("Machine.Read.All", "Machine.ReadWrite.All")
ALERT_READ = ("Alert.Read.All", "Alert.ReadWrite.All")
ALERT_WRITE = ("Alert.ReadWrite.All",)
INCIDENT_READ = {"xdr": ("Incident.Read.All", "Incident.ReadWrite.All"),
                 "graph": ("SecurityIncident.Read.All", "SecurityIncident.ReadWrite.All")}
INCIDENT_WRITE = {"xdr": ("Incident.ReadWrite.All",), "graph": ("SecurityIncident.ReadWrite.All",)}
TI_WRITE = ("Ti.ReadWrite", "Ti.ReadWrite.All")
TI_READ = ("Ti.ReadWrite", "Ti.ReadWrite.All")


class Inputs(BaseModel):
    """Base of every input model: unknown inputs are an error, not silently dropped.

    ``defer_build``: pydantic builds a model's validator on first use, not at import, so a
    process that validates one playbook does not pay for every Defender model (start-up).
    """

    model_config = ConfigDict(extra="forbid", defer_build=True)


class Loose(BaseModel):
    """Base of output models: API fields we do not name are kept, not dropped (validator built
    on first use, like :class:`Inputs`)."""

    model_config = ConfigDict(extra="allow", defer_build=True)


def tenant_of(ctx: Any) -> Any:
    if ctx.tenant is None:
        raise errors.ConfigError("this action acts on a tenant, but the step runs on none",
                                 hint="set `tenants:` on the playbook, or pass --tenant")
    return ctx.tenant


def client(ctx: Any, api: str, roles: tuple[str, ...] = (), quota: str | None = None) -> Any:
    """An API client for ``api`` on the step's tenant, asking for a token with one of ``roles``."""
    tenant_of(ctx)
    return ctx.api(api, roles, quota=quota)


def mde(ctx: Any, roles: tuple[str, ...] = (), quota: str = "mde") -> Any:
    return client(ctx, "mde", roles, quota)


def is_not_found(err: BaseException) -> bool:
    return isinstance(err, errors.ApiError) and err.status == 404


def tenant_preference(ctx: Any, key: str) -> str | None:
    """The tenant's ``apis.<key>`` preference from soar.yaml, if any (the runner's one reading
    of it, :func:`runner.plugin.tenant_preference`)."""
    return plugin_tenant_preference(ctx.services.config, ctx.tenant.name if ctx.tenant is not None else None, key)


async def choose_api(ctx: Any, wanted: str, *, preference: str, roles: Mapping[str, tuple[str, ...]],
                     titles: Mapping[str, str], what: str) -> tuple[str, str]:
    """(api, why) for an action that can use several APIs; ``roles`` is in order of preference.

    The step's ``api`` when not ``auto`` (why: ``input``); else the tenant's ``apis.<preference>``
    from soar.yaml (``tenant config``); else the first API whose role (any one of its tuple) the
    app's token holds — ``default`` for the first API, ``roles`` for a later one. Without a token
    provider (mock transports) the first API is the default. Only tokens are fetched here, no API
    call: when the app holds none of the roles, a :class:`PermissionMissing` names all of them."""
    if wanted != "auto":
        return wanted, "input"
    pref = tenant_preference(ctx, preference)
    if pref in roles:
        return pref, "tenant config"
    order = list(roles)
    if ctx.services.auth is None:
        return order[0], "default"
    failures: list[errors.AuthError] = []
    for api in order:
        try:
            await ctx.token(api, tuple(roles[api]))
        except errors.AuthError as err:
            failures.append(err)
            continue
        return api, "default" if api == order[0] else "roles"
    missing = [f for f in failures if isinstance(f, errors.PermissionMissing)]
    if not missing:
        raise failures[0]
    name = tenant_of(ctx).name
    needs = [f"{' or '.join(roles[api])} ({titles.get(api, api)})" for api in order]
    needs_text = needs[0] if len(needs) == 1 else ", ".join(needs[:-1]) + ", or " + needs[-1]
    raise errors.PermissionMissing(f"the app holds no {what} role in tenant '{name}': it needs {needs_text}; "
                                   "no API call was made", where=Location(tenant=name), hint=missing[0].hint)


def iso_time(value: Any) -> str | None:
    """An ISO 8601 time input, parsed and written anew as ``YYYY-MM-DDTHH:MM:SSZ`` (UTC; a time
    without an offset is UTC); empty is none. For a field validator: text that is not a time is
    that input's error, before any call — it goes into an OData filter."""
    if value is None or value == "":
        return None
    try:
        return str(odata.datetime(value))
    except errors.InvalidValue:
        raise errors.InvalidValue("must be an ISO 8601 date-time, e.g. 2026-01-31T08:00:00Z") from None


def update_applied(current: Mapping[str, Any], comment: str, values: Mapping[str, Any]) -> bool:
    """After a crash: does ``current`` (an incident or alert as read now) already carry
    ``comment`` and every value of ``values`` that was asked for (not ``None``)? Then the update
    took effect, and sending it again would add the comment twice."""
    if not any(isinstance(c, dict) and c.get("comment") == comment for c in current.get("comments") or []):
        return False
    for key, value in values.items():
        have = current.get(key)
        if value is None:
            continue
        if isinstance(value, list):
            if sorted(have or []) != sorted(value):
                return False
        elif have != value:
            return False
    return True
