"""The access token handed to actions."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal

from runner.secrets import MASK, Secret, register_value


@dataclass(frozen=True)
class AccessToken:
    """A validated access token for one (tenant, API).

    ``value`` is a :class:`~runner.secrets.Secret` (printing it shows ``***``); ``claims`` are
    the decoded claims (never the signature); ``roles`` the application roles it carries;
    ``expires_on`` epoch seconds; ``source`` tells whether it came from the cache or from
    Entra ID just now.
    """

    value: Secret
    tenant: str
    tenant_id: str
    api: str
    resource: str
    expires_on: float
    roles: tuple[str, ...] = ()
    claims: dict[str, Any] = field(default_factory=dict, compare=False)
    source: Literal["cache", "identity_provider"] = "identity_provider"
    issued_at: float | None = None
    verified_signature: bool = False

    def __repr__(self) -> str:  # compact, and never the value
        return (f"AccessToken(tenant={self.tenant!r}, api={self.api!r}, expires_on={int(self.expires_on)}, "
                f"roles={len(self.roles)}, source={self.source!r}, value=***)")

    def authorization_header(self) -> Secret:
        """``Bearer <token>`` as a Secret, for the ``Authorization`` header. Not registered for
        redaction itself: the token inside it is, which masks it as ``Bearer ***`` in any text."""
        raw = self.value.reveal()
        register_value(raw)  # (already known when the token came through the provider)
        return Secret(f"Bearer {raw}", name="authorization", shown=MASK)

    def expires_in(self, now: float | None = None) -> float:
        return self.expires_on - (time.time() if now is None else now)

    def has_role(self, *roles: str) -> bool:
        """True when the token holds any of ``roles`` (or when none are asked for)."""
        return not roles or any(r in self.roles for r in roles)

    def summary(self, now: float | None = None) -> dict[str, Any]:
        """Safe to print or store: no token value."""
        return {
            "tenant": self.tenant, "tenant_id": self.tenant_id, "api": self.api,
            "resource": self.resource, "audience": self.claims.get("aud"),
            "roles": list(self.roles), "expires_on": int(self.expires_on),
            "expires_in": int(self.expires_in(now)), "source": self.source,
            "version": self.claims.get("ver"), "app_id": self.claims.get("appid") or self.claims.get("azp"),
            "signature_verified": self.verified_signature,
        }


def token_from(raw: str, claims: dict[str, Any], *, tenant: str, tenant_id: str, api: str, resource: str,
               roles_claim: str, source: str, verified: bool, expires_in: Any, now: float) -> AccessToken:
    """The :class:`AccessToken` for a token endpoint's answer: ``raw`` with its decoded
    ``claims`` (roles from ``roles_claim``, a list or a space-separated string); its expiry from
    ``exp``, else ``expires_in`` (a string in v1 answers) from ``now``."""
    expires_on = float(claims["exp"]) if "exp" in claims else now + float(expires_in or 0)
    roles = claims.get(roles_claim) or ()
    if isinstance(roles, str):  # a space-separated claim (like `scp`)
        roles = roles.split()
    return AccessToken(
        value=Secret(raw, name="access_token"), tenant=tenant, tenant_id=tenant_id, api=api, resource=resource,
        expires_on=expires_on, roles=tuple(r for r in roles if isinstance(r, str)) if isinstance(roles, list) else (),
        claims=claims, source=source,  # type: ignore[arg-type]
        issued_at=float(claims["iat"]) if "iat" in claims else None, verified_signature=verified)
