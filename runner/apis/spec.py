"""What a plugin says about an API it registers (``register_apis``): where it lives in each
cloud, how a request is authenticated, its default call budgets and how its error bodies read.

The core knows no API by name. Every API — Microsoft's or anyone's — is an :class:`ApiSpec`
registered by a plugin, and the token provider, quotas, retries, polling and pre-flight role
checks work the same way for each.

Two ways to authenticate:

- :class:`EntraResource` — app-only tokens from Entra ID (client credentials), requested for the
  API's resource in the tenant's cloud; the token's ``roles`` claim (or ``roles_claim``) carries
  the application permissions an action asks for.
- :class:`SecretAuth` — an API key (a header or query parameter), a bearer secret or basic
  credentials, taken from a secret reference (``env:``, ``file:``, ``keyvault:`` or a scheme a
  plugin registered). The reference comes from ``soar.yaml`` (``credentials.<api>``, per tenant
  or for all) or else the spec's ``default_ref``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Mapping, Union

__all__ = ["ApiSpec", "EntraResource", "ErrorBody", "SecretAuth"]


@dataclass(frozen=True)
class EntraResource:
    """An API that takes Entra ID app-only tokens.

    ``app_id``: the resource app's id (a token's ``aud`` may carry it). ``resources``: cloud name →
    the resource URI tokens are requested for (``<resource>/.default`` in the v2 flow).
    ``identifier_uris``: every other URI the resource app answers to (accepted in ``aud``).
    ``resource_forms``: named alternatives a user may pick with ``app.resources.<api>: <form>``
    in soar.yaml — form name → cloud → URI. ``roles_claim``: the claim holding the granted
    application permissions.
    """

    app_id: str
    display_name: str
    resources: Mapping[str, str]
    identifier_uris: tuple[str, ...] = ()
    resource_forms: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    roles_claim: str = "roles"


@dataclass(frozen=True)
class SecretAuth:
    """An API that takes a secret: ``scheme`` ``api_key`` (sent in ``header``, or in the query
    parameter ``query`` when set), ``bearer`` (``Authorization: Bearer <secret>``) or ``basic``
    (the secret is ``user:password``). ``default_ref``: the secret reference used when soar.yaml
    names none (e.g. ``env:ACME_API_KEY``)."""

    scheme: Literal["api_key", "bearer", "basic"] = "api_key"
    header: str = "X-Api-Key"
    query: str | None = None
    default_ref: str | None = None


@dataclass(frozen=True)
class ErrorBody:
    """What an API's error body says: a code and a message (either may be ``None``)."""

    code: str | None = None
    message: str | None = None


@dataclass(frozen=True)
class QuotaReset:
    """How an API says a 429 is a resource quota used up (not its call count), whose reset the
    answer names further away than a call-count window: the client then waits for that reset (up
    to ``retry.max_quota_reset``) instead of the usual cap, and the error says which quota it is.

    ``pattern``: a regular expression searched, case-insensitively, in the 429's error message.
    ``what``: the quota, for people ("the tenant's CPU quota").
    ``hint``: what to do besides waiting ("make the query cheaper ...").
    """

    pattern: str
    what: str
    hint: str = ""


#: ``base_url(cloud, region) -> URL`` — raise ``ValueError`` for a region the API does not have.
BaseUrl = Callable[[str, Union[str, None]], str]


@dataclass(frozen=True)
class ApiSpec:
    """One API a plugin registers.

    ``name``: how actions, quotas and soar.yaml refer to it (``[a-z][a-z0-9_]*``).
    ``title``: for people (errors, ``soar tenants check``).
    ``base_url``: one URL, a mapping cloud name → URL, or a callable ``(cloud, region) -> URL``.
    ``auth``: :class:`EntraResource`, :class:`SecretAuth`, or ``None`` (no authentication).
    ``quotas``: default call budgets, bucket name → ``{per_second|per_minute|per_hour|per_day: n}``;
    a bucket named like the API is the one its calls draw on unless an action names another;
    soar.yaml's ``quotas:`` overrides any of them.
    ``error_body``: reads an error answer's decoded JSON (or ``None``) into an :class:`ErrorBody`;
    ``None``: the common ``{"error": {"code", "message"}}`` form.
    ``regions``: the region names ``base_url`` accepts (for ``soar validate`` and error hints).
    ``quota_reset``: how its 429s say a resource quota (not the call count) is used up
    (:class:`QuotaReset`), or ``None``.
    """

    name: str
    title: str
    base_url: str | Mapping[str, str] | BaseUrl
    auth: EntraResource | SecretAuth | None = None
    quotas: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    error_body: Callable[[Any], ErrorBody] | None = None
    regions: tuple[str, ...] = ()
    quota_reset: QuotaReset | None = None

    def url_for(self, cloud: str, region: str | None = None) -> str:
        """The base URL of this API for a tenant in ``cloud`` (and ``region``)."""
        base = self.base_url
        if callable(base):
            return base(cloud, region)
        if isinstance(base, str):
            return base
        if cloud in base:
            return base[cloud]
        raise ValueError(f"{self.title} is not available in the {cloud} cloud "
                         f"(it is in: {', '.join(base)})")
