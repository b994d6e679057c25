"""Entra ID token errors → :class:`runner.errors.AuthError` with a message that says what to do.

We branch on ``error_codes`` (the AADSTS numbers) and ``error``, never on the description
text, as Microsoft asks. The table is documented in ``docs/auth.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from runner.auth import clouds
from runner.errors import AuthError, Location


@dataclass(frozen=True)
class RequestFacts:
    """What we asked for, to word the message (no secret values here, only references)."""

    tenant: str
    tenant_id: str
    cloud: str
    client_id: str
    api: str
    resource: str
    credential: str  # e.g. "client secret env:SOAR_CLIENT_SECRET" or "certificate A1B2..."
    consent_url: str
    title: str = ""  # the API's title (ApiSpec.title); "" when no API is in view (metadata)
    resource_names: tuple[str, ...] = ()  # what `app.resources.<api>` may name besides a URI


def _other_cloud(cloud: str) -> str:
    return "commercial or gcc" if clouds.CLOUD_FAMILY[cloud] == "usgov" else "gcc_high or dod"


def _messages(code: int, f: RequestFacts) -> tuple[str, str] | None:
    host = clouds.cloud(f.cloud).authority_host
    title = f.title or f.api or "the API"
    names = ", ".join(f"`{n}`" for n in f.resource_names or ("default",))
    table: dict[int, tuple[str, str]] = {
        7000215: (
            f"Entra ID rejected the {f.credential} of app {f.client_id} (invalid client secret)",
            "this is usually the secret's *ID* instead of its *value*: in the app registration, "
            "Certificates & secrets, create a new secret, copy its Value (shown once) and store "
            "that where the reference points",
        ),
        7000222: (
            f"the {f.credential} of app {f.client_id} has expired",
            "create a new client secret in the app registration (Certificates & secrets) and "
            "store its value where the reference points; then delete the expired one",
        ),
        700016: (
            f"app {f.client_id} is not present in tenant '{f.tenant}' ({f.tenant_id}): no admin "
            f"there has consented to it yet (or the tenant id or client id is wrong)",
            f"ask an admin of '{f.tenant}' to open {f.consent_url} and accept; "
            f"check `tenants.{f.tenant}.id` and `app.client_id`",
        ),
        65001: (
            f"tenant '{f.tenant}' has not consented to app {f.client_id}",
            f"ask an admin of '{f.tenant}' to open {f.consent_url} and accept",
        ),
        90002: (
            f"tenant {f.tenant_id} ('{f.tenant}') was not found on {host} (the {f.cloud} cloud)",
            f"check `tenants.{f.tenant}.id`; if the tenant lives in another national cloud, set "
            f"`tenants.{f.tenant}.cloud` ({_other_cloud(f.cloud)})",
        ),
        90038: (
            f"tenant '{f.tenant}' ({f.tenant_id}) belongs to another national cloud than {host}",
            f"set `tenants.{f.tenant}.cloud` to its cloud ({_other_cloud(f.cloud)}); "
            "GCC High and DoD tenants sign in at login.microsoftonline.us",
        ),
        500011: (
            f"{title} ({f.resource}) is not provisioned in tenant '{f.tenant}'",
            f"the tenant must have {title} turned on (an admin opens its portal once), and the app "
            f"must be consented again; or check `app.resources.{f.api}`",
        ),
        650052: (
            f"tenant '{f.tenant}' has not subscribed to or enabled {title}",
            "the tenant needs a licence for the service (or pick another API in "
            f"`tenants.{f.tenant}.apis`)",
        ),
        53003: (
            f"a Conditional Access policy in tenant '{f.tenant}' blocked the token request",
            "an admin of the tenant must exclude this app's service principal from the policy "
            "(Entra admin center > Protection > Conditional Access, sign-in logs show which one)",
        ),
        700022: (
            f"the token request for {f.api} named more than one resource ({f.resource})",
            f"set `app.resources.{f.api}` to a single resource URI (or remove it to use the default)",
        ),
        70011: (
            f"Entra ID rejected the scope for {f.api} ({f.resource}/.default)",
            f"set `app.resources.{f.api}` to {names} or one resource URI",
        ),
        700027: (
            f"Entra ID could not verify the client assertion signed with the {f.credential}",
            "upload the certificate (public part) to the app registration, and check that "
            "`app.certificate` names the matching private key and thumbprint",
        ),
        7000112: (
            f"app {f.client_id} is disabled in tenant '{f.tenant}'",
            "an admin of the tenant must enable the app's enterprise application",
        ),
        50196: (
            "Entra ID detected a request loop (too many identical token requests)",
            "tokens must be cached: check that the token cache path is writable",
        ),
        9001023: (
            "a client-credentials token must be requested from a tenant-specific authority",
            f"set `tenants.{f.tenant}.id` to the tenant's GUID",
        ),
    }
    return table.get(code)


def entra_error(body: Any, f: RequestFacts, *, status: int | None = None) -> AuthError:
    """Turn an Entra error answer into an :class:`AuthError` located at the tenant."""
    body = body if isinstance(body, dict) else {}
    codes = [c for c in body.get("error_codes") or [] if isinstance(c, int)]
    error = str(body.get("error") or (f"HTTP {status}" if status else "unknown_error"))
    where = Location(tenant=f.tenant)
    ids = _trace(body)
    for code in codes:
        found = _messages(code, f)
        if found:
            message, hint = found
            return AuthError(f"{message} [AADSTS{code}, {error}{ids}]", where=where, hint=hint)
    if error == "invalid_client":
        return AuthError(f"Entra ID rejected the credentials of app {f.client_id} [{error}{ids}]",
                         where=where, hint=f"check `app.client_id` and the {f.credential}")
    if error in ("unauthorized_client", "consent_required"):
        return AuthError(f"app {f.client_id} is not authorized in tenant '{f.tenant}' [{error}{ids}]",
                         where=where, hint=f"ask an admin of '{f.tenant}' to open {f.consent_url}")
    first_line = str(body.get("error_description") or "").splitlines()[0:1]
    detail = f": {first_line[0][:200]}" if first_line else ""
    code_text = f"AADSTS{codes[0]}, " if codes else ""
    what = f"the token request for {f.api}" if f.api else "the request"
    return AuthError(f"Entra ID refused {what}{detail} [{code_text}{error}{ids}]",
                     where=where,
                     hint="look the AADSTS code up at https://login.microsoftonline.com/error")


def unreachable(host: str, exc: BaseException, *, tenant: str | None = None, relay: str | None = None,
                what: str = "the login host") -> AuthError:
    """A request to Entra ID that got no answer at all (name resolution, connection refused, TLS,
    proxy, timeout). Consent is not the problem then — nothing answered — so the message names the
    host and the error, and the hint what to check. ``relay``: the ``--sim-url`` the request went
    through (``soar sim serve``), if any. The error is ``retryable`` and carries ``unreachable``
    (the host) for callers that word their advice by it (``soar tenants check``)."""
    detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    via = f" through the simulated cloud at {relay}" if relay else ""
    for_tenant = f" for tenant '{tenant}'" if tenant else ""
    if relay:
        hint = (f"is `soar sim serve` running at {relay}? Start it, or pass the URL it printed as "
                "--sim-url (or SOAR_SIM_URL)")
    else:
        hint = (f"check this machine's network: name resolution of {host}, the proxy (HTTPS_PROXY, NO_PROXY) "
                "and the firewall; to rehearse against `soar sim serve` instead, pass --sim-url")
    err = AuthError(f"could not reach {what} {host}{via}{for_tenant}: {detail}",
                    where=Location(tenant=tenant) if tenant else None, hint=hint)
    err.retryable = True
    err.unreachable = host  # type: ignore[attr-defined]
    return err


def _trace(body: dict) -> str:
    trace = body.get("trace_id")
    corr = body.get("correlation_id")
    parts = []
    if trace:
        parts.append(f"trace id {trace}")
    if corr:
        parts.append(f"correlation id {corr}")
    return (", " + ", ".join(parts)) if parts else ""
