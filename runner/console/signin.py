"""Sign-in to the console with Entra ID: OpenID Connect authorization code flow with PKCE
through msal, against the MSSP's own tenant (soar.yaml ``console:``), and bearer tokens for
scripts.

- :meth:`EntraSignIn.start` — msal's ``initiate_auth_code_flow`` (state, nonce, PKCE S256,
  ``response_mode=form_post``): the URL to send the browser to, and the flow to keep (sealed in
  a cookie by :mod:`runner.console.identity`).
- :meth:`EntraSignIn.finish` — msal's ``acquire_token_by_auth_code_flow`` (state, code, PKCE
  verifier, nonce), then the ID token is validated like any Entra ID token
  (:class:`runner.auth.validation.TokenValidator`: RS256 signature by a key of the tenant's JWKS,
  issuer, tenant, expiry) with the console's client id as its audience. Only the claims the
  session needs are kept; the tokens are dropped.
- :meth:`EntraSignIn.bearer` — an ``Authorization: Bearer`` access token (an app's
  client-credentials token for the console app): the same validation with the console app
  (client id or ``api://<client id>``) as audience; an ID token is refused.

Roles come from the ``roles_claim`` (default ``roles``: the app roles assigned to the user or
the app); only ``Viewer``, ``Responder`` and ``Admin`` mean something to the console.

Under simulation (``--simulate``, ``--sim-url``) the browser cannot reach the simulated
``login.microsoftonline.com``: :meth:`EntraSignIn.browser_url` points it at
``/_sim/login/...`` on the console itself, which :meth:`EntraSignIn.relay_simulated` forwards
through the process's simulated network. That route exists only on a simulated network.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from typing import Any, Callable

import httpx
import msal

from runner.apis.spec import ApiSpec, EntraResource
from runner.auth import clouds
from runner.auth.msal_http import MsalHttp
from runner.auth.validation import TokenValidator
from runner.errors import AuthError

log = logging.getLogger("soar.console")

__all__ = ["CONSOLE_ROLES", "EntraSignIn", "SignInFailed", "SIM_LOGIN_PREFIX"]

CONSOLE_ROLES = ("Viewer", "Responder", "Admin")
SIM_LOGIN_PREFIX = "/_sim/login/"
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


class SignInFailed(Exception):
    """Sign-in did not complete; ``str()`` is safe to show (it names no token or secret)."""


class _NoTokenCache(msal.TokenCache):
    """The console keeps no user's tokens: msal's cache is given nothing."""

    def add(self, event: dict, **_: Any) -> None:  # type: ignore[override]
        return None


class EntraSignIn:
    """The console's side of Entra ID, for one ``console:`` section (``config``), through
    ``network`` (a :class:`runner.http.Network`). ``secret``: the resolved client secret."""

    def __init__(self, config: Any, network: Any, secret: Any, *, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.network = network
        self._secret = secret
        self.clock = clock
        self.host = clouds.cloud(config.cloud).authority_host
        self.authority = f"https://{self.host}/{config.tenant}"
        self.client_id = config.client_id
        self.tenant_id: str | None = config.tenant.lower() if _GUID.match(config.tenant) else None
        self.spec = ApiSpec(name="console", title="the soar console", base_url="https://localhost",
                            auth=EntraResource(app_id=config.client_id, display_name="soar console",
                                               resources={config.cloud: f"api://{config.client_id}"},
                                               identifier_uris=(f"api://{config.client_id}",),
                                               roles_claim=config.roles_claim))
        self.validator = TokenValidator(network, self._metadata, clock=clock)
        self._documents: dict[tuple[str, str, str], dict] = {}
        self._app: msal.ConfidentialClientApplication | None = None
        self._client: httpx.Client | None = None

    @property
    def simulated(self) -> bool:
        """Whether the network is a simulated cloud (in-process or ``soar sim serve``)."""
        return not self.network.real and self.network.name in ("simulated", "loopback")

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # ---- msal ----------------------------------------------------------------------------------

    def _msal(self) -> msal.ConfidentialClientApplication:
        """msal's app (built on first use, in a worker thread: it fetches the tenant's metadata)."""
        if self._app is None:
            self._client = self.network.sync_client()
            try:
                self._app = msal.ConfidentialClientApplication(
                    self.client_id, client_credential=self._secret.reveal(), authority=self.authority,
                    http_client=MsalHttp(self._client), token_cache=_NoTokenCache())
            except ValueError as exc:  # msal: the authority's metadata could not be read
                raise SignInFailed(f"Entra ID does not know tenant '{self.config.tenant}' ({exc}); "
                                   "check console.tenant in soar.yaml") from None
        return self._app

    async def start(self, redirect_uri: str) -> dict:
        """A new flow (msal's dict; ``auth_uri`` is where the browser goes)."""
        def initiate() -> dict:
            return self._msal().initiate_auth_code_flow([], redirect_uri=redirect_uri, response_mode="form_post")

        try:
            return await asyncio.to_thread(initiate)
        except httpx.HTTPError as exc:
            raise SignInFailed(f"Entra ID ({self.host}) cannot be reached: {type(exc).__name__}") from None

    async def finish(self, flow: dict, response: dict) -> dict:
        """The validated claims of the ID token the callback's ``response`` leads to."""
        if response.get("error"):
            raise SignInFailed(f"Entra ID said: {response.get('error_description') or response['error']}")

        def redeem() -> dict:
            return self._msal().acquire_token_by_auth_code_flow(flow, response)

        try:
            result = await asyncio.to_thread(redeem)
        except ValueError as exc:  # state mismatch, or a response that is not for this flow
            raise SignInFailed(f"the sign-in response does not belong to this browser's sign-in ({exc})") from None
        except RuntimeError as exc:  # msal: the ID token's nonce is not this flow's
            raise SignInFailed(f"the ID token does not answer this sign-in ({exc})") from None
        except httpx.HTTPError as exc:
            raise SignInFailed(f"Entra ID ({self.host}) cannot be reached: {type(exc).__name__}") from None
        if "error" in result:
            first = str(result.get("error_description") or result["error"]).splitlines()[0]
            raise SignInFailed(f"Entra ID refused the sign-in: {first}")
        raw = result.get("id_token")
        if not raw:
            raise SignInFailed("Entra ID sent no ID token")
        claims = await self._validate(raw, "ID token")
        if "oid" not in claims:
            raise SignInFailed("the ID token carries no object id (oid)")
        return claims

    # ---- validation ------------------------------------------------------------------------------

    async def bearer(self, raw: str) -> dict:
        """The claims of a valid access token for the console app, else :class:`AuthError`."""
        claims = await self._validate(raw, "bearer token")
        if "nonce" in claims or not (claims.get("azp") or claims.get("appid")):
            raise AuthError("the bearer token is an ID token, not an access token for the console app")
        return claims

    async def _validate(self, raw: str, what: str) -> dict:
        tenant_id = await self.resolve_tenant()
        try:
            done = await self.validator.validate(raw, tenant="console", tenant_id=tenant_id, authority_host=self.host,
                                                 api="console", resource=self.client_id, spec=self.spec)
        except AuthError as exc:
            message = exc.message.replace("the console token for tenant 'console'", f"the {what}")
            raise (SignInFailed(message) if what == "ID token" else AuthError(message)) from None
        if not done.verified_signature:
            raise (SignInFailed if what == "ID token" else AuthError)(f"the {what}'s signature cannot be verified")
        return done.claims

    def roles(self, claims: dict) -> tuple[str, ...]:
        granted = claims.get(self.config.roles_claim) or ()
        if isinstance(granted, str):
            granted = [granted]
        return tuple(r for r in CONSOLE_ROLES if r in granted)

    async def resolve_tenant(self) -> str:
        """The tenant's GUID (from its metadata's issuer when soar.yaml names it by domain)."""
        if self.tenant_id is None:
            meta = await self._metadata(self.host, self.config.tenant, "2.0")
            found = re.search(r"/([0-9a-fA-F-]{36})/", str(meta.get("issuer", "")))
            if found is None:
                raise AuthError(f"the metadata of tenant '{self.config.tenant}' names no tenant id")
            self.tenant_id = found.group(1).lower()
        return self.tenant_id

    async def _metadata(self, host: str, tenant: str, version: str) -> dict:
        key = (host, tenant, version)
        doc = self._documents.get(key)
        if doc is None:
            path = "v2.0/.well-known/openid-configuration" if version == "2.0" else ".well-known/openid-configuration"
            try:
                client = await self.network.pooled_async_client()
                resp = await client.get(f"https://{host}/{tenant}/{path}")
                doc = resp.json() if resp.status_code == 200 else None
            except (httpx.HTTPError, ValueError) as exc:
                raise AuthError(f"the metadata of tenant '{tenant}' cannot be read from {host} "
                                f"({type(exc).__name__})") from None
            if not isinstance(doc, dict):
                raise AuthError(f"{host} answered HTTP {resp.status_code} for the metadata of tenant '{tenant}'")
            self._documents[key] = doc
        return doc

    # ---- the simulated login page ----------------------------------------------------------------

    def browser_url(self, auth_uri: str, origin: str) -> str:
        """Where the browser goes to sign in: ``auth_uri``, or under simulation the same path on
        the console's ``/_sim/login/`` relay."""
        prefix = f"https://{self.host}/"
        if self.simulated and auth_uri.startswith(prefix):
            return f"{origin}{SIM_LOGIN_PREFIX}{auth_uri[len(prefix):]}"
        return auth_uri

    async def relay_simulated(self, method: str, rest: str, query: str, body: bytes,
                              content_type: str | None) -> httpx.Response:
        """Forward a browser's request under ``/_sim/login/`` to the simulated Entra ID."""
        url = f"https://{self.host}/{rest}" + (f"?{query}" if query else "")
        headers = {"content-type": content_type} if content_type else {}
        client = await self.network.pooled_async_client()
        return await client.request(method, url, content=body, headers=headers)
