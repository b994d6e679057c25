"""Access-token validation with pyjwt.

Checks, in order: the token is a JWT signed with RS256 by a key in the tenant's JWKS
(fetched through our own httpx client, cached for a day, refetched once when an unknown
``kid`` shows up); ``aud`` is one of the identifier URIs of the API's resource app (its
registered :class:`~runner.apis.spec.EntraResource`, :mod:`runner.auth.resources`); ``iss``
is the tenant's v1 or v2 issuer; ``tid`` is the configured tenant and the GUID in ``iss``;
``exp``/``nbf`` hold with ``leeway`` seconds on our clock.

Tokens whose header carries a ``nonce`` (Microsoft Graph access tokens) cannot be verified
by signature outside Graph: Entra signs them over a hashed nonce and documents them as
opaque to clients. For those we still require RS256 and a ``kid`` from the tenant's JWKS,
and run every claim check; ``AccessToken.verified_signature`` is then ``False``.
"""

from __future__ import annotations

import base64
import json
import logging
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

import httpx
import jwt

from runner.apis.registry import Registry, registered
from runner.apis.spec import ApiSpec
from runner.auth import clouds
from runner.auth.resources import accepted_audiences
from runner.errors import AuthError, Location

log = logging.getLogger("soar.auth")

DAY = 86400.0

MetadataFn = Callable[[str, str, str], Awaitable[dict]]  # (authority_host, tenant_id, version)


@dataclass(frozen=True)
class Validated:
    claims: dict[str, Any]
    verified_signature: bool


class TokenValidator:
    """Validates tokens for many tenants; keeps their JWKS. ``registry``: the registered APIs
    (``None``: the process's plugins, read on first use) — their resource apps say which
    audiences a token may carry."""

    def __init__(self, network: Any, metadata: MetadataFn, *, clock: Callable[[], float],
                 leeway: float = 60.0, jwks_ttl: float = DAY, min_refetch: float = 60.0,
                 registry: Registry | None = None) -> None:
        self.network = network
        self.registry = registry
        self.metadata = metadata
        self.clock = clock
        self.leeway = leeway
        self.jwks_ttl = jwks_ttl
        self.min_refetch = min_refetch
        self._jwks: dict[tuple[str, str], tuple[float, dict[str, jwt.PyJWK]]] = {}
        self.fetches = 0

    # ---- keys -----------------------------------------------------------------------------

    async def _fetch_jwks(self, host: str, tenant_id: str) -> dict[str, jwt.PyJWK]:
        meta = await self.metadata(host, tenant_id, "2.0")
        uri = meta.get("jwks_uri") or f"https://{host}/{tenant_id}/discovery/v2.0/keys"
        try:
            client = await self.network.pooled_async_client()  # one pool per loop, not a client per tenant
            resp = await client.get(uri)
        except httpx.HTTPError as exc:
            from runner.auth.entra_errors import unreachable

            raise unreachable(host, exc, relay=getattr(self.network, "relay", None),
                              what=f"the signing keys of tenant {tenant_id} at") from None
        if resp.status_code != 200:
            raise AuthError(f"{host} answered HTTP {resp.status_code} for the signing keys of tenant {tenant_id}")
        keys: dict[str, jwt.PyJWK] = {}
        for data in resp.json().get("keys", []):
            try:
                keys[data["kid"]] = jwt.PyJWK(data)
            except (KeyError, jwt.PyJWKError, jwt.InvalidKeyError):
                continue  # keys we cannot use (other kty/alg) are skipped, as PyJWKSet does
        self.fetches += 1
        self._jwks[(host, tenant_id)] = (self.clock(), keys)
        return keys

    async def key(self, host: str, tenant_id: str, kid: str) -> jwt.PyJWK | None:
        """The key ``kid`` of the tenant; refetches the JWKS when ``kid`` is unknown."""
        cached = self._jwks.get((host, tenant_id))
        now = self.clock()
        if cached is None or now - cached[0] > self.jwks_ttl:
            keys = await self._fetch_jwks(host, tenant_id)
        else:
            keys = cached[1]
            if kid not in keys and now - cached[0] >= self.min_refetch:
                log.info("unknown signing key %s for tenant %s: fetching the JWKS again", kid, tenant_id)
                keys = await self._fetch_jwks(host, tenant_id)
        return keys.get(kid)

    # ---- validation -----------------------------------------------------------------------

    async def validate(self, raw: str, *, tenant: str, tenant_id: str, authority_host: str,
                       api: str, resource: str, spec: ApiSpec | None = None) -> Validated:
        """Validate ``raw`` for (tenant, api). Raises :class:`AuthError` naming the reason.
        ``spec``: the API's registration (default: looked up in the registry)."""
        if spec is None:
            if self.registry is None:
                self.registry = registered(None)
            spec = self.registry.get(api)
        def reject(reason: str) -> AuthError:
            return AuthError(f"the {api} token for tenant '{tenant}' failed validation: {reason}",
                             where=Location(tenant=tenant),
                             hint="no API call was made; if this persists, check the tenant id and "
                                  "cloud in soar.yaml (or report a bug with this message)")

        header = _peek_header(raw)  # which key to check against; jwt.decode below parses it all, strictly
        if header is None:
            raise reject("it is not a JSON Web Token")
        if header.get("alg") != "RS256":
            raise reject(f"unexpected signing algorithm {header.get('alg')!r} (expected RS256)")
        kid = header.get("kid")
        if not kid:
            raise reject("its header names no signing key (kid)")
        key = await self.key(authority_host, tenant_id, kid)
        if key is None:
            raise reject(f"it is signed with key {kid!r}, which is not among the tenant's signing keys")
        options = {"verify_aud": False, "verify_iss": False, "verify_exp": False,
                   "verify_nbf": False, "verify_iat": False}
        verified = "nonce" not in header
        try:
            if verified:
                claims = jwt.decode(raw, key=key.key, algorithms=["RS256"], options=options)
            else:
                claims = jwt.decode(raw, options={**options, "verify_signature": False})
        except jwt.InvalidSignatureError:
            raise reject("its signature does not match the tenant's key") from None
        except jwt.InvalidTokenError as exc:
            raise reject(f"it cannot be decoded ({type(exc).__name__})") from None
        await self._check_claims(claims, reject, tenant_id=tenant_id, host=authority_host,
                                 spec=spec, resource=resource)
        return Validated(claims, verified)

    async def _check_claims(self, claims: dict, reject, *, tenant_id: str, host: str,
                            spec: ApiSpec | None, resource: str) -> None:
        for name in ("aud", "iss", "tid", "exp"):
            if name not in claims:
                raise reject(f"the `{name}` claim is missing")
        aud = claims["aud"]
        auds = aud if isinstance(aud, list) else [aud]
        if spec is None:
            raise reject("its API is not registered, so no audience can be accepted")
        accepted = accepted_audiences(spec, resource)
        if not any(isinstance(a, str) and a in accepted for a in auds):
            raise reject(f"its audience {aud!r} is not {spec.title}")
        tid = str(claims["tid"]).lower()
        if tid != tenant_id.lower():
            raise reject(f"it was issued for tenant {tid}, not {tenant_id}")
        # the documented forms need no metadata; any other issuer must be the tenant's own
        # metadata's (sovereign clouds, new forms): only then is it fetched
        if claims["iss"] not in clouds.issuers(tenant_id, host) and \
                claims["iss"] not in await self.issuers(host, tenant_id, str(claims.get("ver") or "")):
            raise reject(f"its issuer {claims['iss']!r} is not tenant {tenant_id}'s")
        now = self.clock()
        try:
            exp = float(claims["exp"])
            nbf = float(claims.get("nbf", claims.get("iat", 0)))
        except (TypeError, ValueError):
            raise reject("`exp`/`nbf` are not numbers") from None
        if exp + self.leeway <= now:
            raise reject(f"it expired {int(now - exp)}s ago")
        if nbf - self.leeway > now:
            raise reject(f"it is not valid before {int(nbf - now)}s from now (check the clock)")

    async def issuers(self, host: str, tenant_id: str, version: str) -> set[str]:
        """Issuers accepted for the tenant: from the v1/v2 metadata, else the documented forms."""
        v1_default, v2_default = clouds.issuers(tenant_id, host)
        out = {v1_default, v2_default}
        try:
            meta = await self.metadata(host, tenant_id, "1.0" if version == "1.0" else "2.0")
        except AuthError:
            return out
        issuer = meta.get("issuer")
        if isinstance(issuer, str):
            out.add(issuer.replace("{tenantid}", tenant_id))
        return out


def _peek_header(raw: str) -> dict | None:
    """The JOSE header of a compact JWS, or ``None``. Only to choose the key: PyJWT's own parse
    (which ``jwt.decode`` makes of every segment, strictly) costs ~0.5 ms a token, twice over."""
    head, dot, rest = raw.partition(".") if isinstance(raw, str) else ("", "", "")
    if not dot or rest.count(".") != 1:
        return None
    try:
        header = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    except (ValueError, TypeError):
        return None
    return header if isinstance(header, dict) else None


def decode_unverified(raw: str) -> tuple[dict, dict]:
    """(header, claims) without any check, for display only (``soar token --decode``)."""
    try:
        return jwt.get_unverified_header(raw), jwt.decode(raw, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        return {}, {}

