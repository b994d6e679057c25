"""The token provider: client-credentials tokens for every configured tenant.

One msal ``ConfidentialClientApplication`` per (cloud, tenant) — msal fixes the authority per
app object — all sharing one :class:`~runner.auth.cache.SharedTokenCache`. msal speaks only
the v2 ``scope=`` flow; the v1 ``resource=`` flow of the Defender pages is a plain form POST
here, stored in the same cache.

Concurrency: msal is synchronous and does not merge concurrent requests, so each
(tenant, resource) has an ``asyncio.Lock`` and msal runs in ``asyncio.to_thread`` behind it:
however many steps ask at once, one request reaches Entra ID. A validated token is also kept
in memory until ``refresh_before`` seconds (default 300, at most half its lifetime) before it
expires; after that it is fetched again, so a token is never handed out close to expiry.
With the database cache (:mod:`runner.auth.dbcache`) the request is single-flight across
processes too: a missing or stale row is read again under a lock on it, held until the token
fetched is written.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Mapping

import httpx
import msal

from runner.apis.choice import choose_api as _choose
from runner.apis.registry import Registry, registered, spec_for
from runner.apis.secret_auth import secret_reference
from runner.apis.spec import ApiSpec, EntraResource, SecretAuth
from runner.auth.cache import CacheStore, SharedTokenCache, choose_store
from runner.auth.consent import consent_urls
from runner.auth.dbcache import CachedToken, row_key, token_row
from runner.auth.credentials import AppCredential
from runner.auth.entra_errors import RequestFacts, entra_error, unreachable
from runner.auth.msal_http import MsalHttp
from runner.auth.resources import resource_names
from runner.auth.route import Route
from runner.auth.bearer import BearerAuth
from runner.auth.token import AccessToken, token_from
from runner.auth.validation import TokenValidator
from runner.errors import AuthError, ConfigError, Location, PermissionMissing

log = logging.getLogger("soar.auth")


class TokenProvider:
    """Tokens for ``config``'s tenants, through ``network``.

    ``cache_path``: the token cache file (default ``config.token_cache.path`` or
    ``.soar/token-cache.json``); ``cache_store`` overrides it with any
    :class:`~runner.auth.cache.CacheStore` (``MemoryCacheStore()``: not persisted). Given neither,
    the tokens may be in the store's database (:func:`~runner.auth.cache.choose_store`;
    ``store_url``: the store this process uses, when it is not ``config.store``; ``role``: "front"
    or "worker" in a scaled-out deployment).
    ``refresh_before``: seconds before expiry at which a token is fetched again.
    ``validate``: check signature and claims with pyjwt (keep on; off only for debugging).
    ``clock``: seconds since the epoch (tests move it).
    ``registry``: the registered APIs (``register_apis``), name → :class:`ApiSpec`; ``None``:
    the process's plugins (:func:`runner.plugins.load_plugins`), read on first use. Tokens are
    for the APIs registered with an :class:`EntraResource`; any of them, one code path.
    """

    def __init__(self, config: Any, network: Any, *, cache_path: str | Path | None = None,
                 refresh_before: float | None = None, validate: bool = True,
                 clock: Callable[[], float] = time.time, cache_store: CacheStore | None = None,
                 leeway: float = 60.0, registry: Registry | None = None, store_url: str | None = None,
                 role: str | None = None) -> None:
        if config is None or config.app is None:
            raise ConfigError("no app registration is configured, so no token can be obtained",
                              hint="add `app:` and `tenants:` to soar.yaml (docs/auth.md), or use --simulate")
        self.config = config
        self.network = network
        self._registry = registry
        self.clock = clock
        self.validate = validate
        self.refresh_before = float(refresh_before if refresh_before is not None
                                    else config.token_cache.refresh_before)
        store, self.shared = choose_store(config, cache_path=cache_path, cache_store=cache_store, store_url=store_url,
                                          role=role)
        self.cache = SharedTokenCache(store)
        self.validator = TokenValidator(network, self._metadata, clock=clock, leeway=leeway, registry=registry)
        self._sync_client: httpx.Client | None = None
        self._apps: dict[tuple[str, str], msal.ConfidentialClientApplication] = {}
        self._credential: AppCredential | None = None
        self._documents: dict[str, str] = {}  # metadata URL -> JSON text
        self._metadata_docs: dict[tuple[str, str, str], dict] = {}
        self._memo: dict[tuple[str, str], AccessToken] = {}
        self._rejected: dict[tuple[str, str], AccessToken] = {}  # invalidated (a 401): never handed out again
        # (tenant, api) -> (token as a memory hit returns it, when it stops being fresh)
        self._hot: dict[tuple[str, str], tuple[AccessToken, float]] = {}
        self.errors: dict[tuple[str, str], tuple[float, AuthError]] = {}  # (tenant, api): the last failure, when
        self._locks: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._stats: dict[str, Any] = {"token_requests": {}, "cache_hits": 0, "memory_hits": 0,
                                       "from_identity_provider": 0, "refreshed_ahead": 0, "invalidated": 0}

    # ---- lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        if self._sync_client is not None:
            self._sync_client.close()
            self._sync_client = None
        if self.shared is not None:
            self.shared.close()  # reopened if the provider is used again

    async def aclose(self) -> None:
        self.close()

    def __enter__(self) -> "TokenProvider":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    async def __aenter__(self) -> "TokenProvider":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.close()

    @property
    def stats(self) -> dict[str, Any]:
        """Counters: ``token_requests`` per tenant (what reached Entra ID), cache and memory hits."""
        out = dict(self._stats)
        out["token_requests"] = dict(self._stats["token_requests"])
        out["jwks_fetches"] = self.validator.fetches
        if self.shared is not None:
            out["unreadable_cached_tokens"] = self.shared.unreadable
        return out

    def _count_request(self, tenant: str) -> None:
        reqs = self._stats["token_requests"]
        reqs[tenant] = reqs.get(tenant, 0) + 1

    # ---- public API --------------------------------------------------------------------------

    @property
    def registry(self) -> Registry:
        """The registered APIs this provider serves (given, or the process's plugins')."""
        if self._registry is None:
            self._registry = registered(None)
            self.validator.registry = self._registry
        return self._registry

    def route(self, tenant: str, api: str) -> Route:
        """How a token for ``api`` on ``tenant`` is obtained. :class:`ConfigError` for an API no
        plugin registered, or one that does not take Entra ID tokens."""
        return Route.of(self.config, self.registry, tenant, api)

    def takes_tokens(self, api: str) -> bool:
        """Whether ``api`` is registered with an Entra ID resource (``False`` for an API-key,
        bearer- or basic-secret API, or one without authentication: it has no token nor roles)."""
        return isinstance(spec_for(api, self.registry).auth, EntraResource)

    def consent_url(self, tenant: str) -> str:
        t = self.config.tenant(tenant)
        app = self.config.app
        return consent_urls(app.client_id, tenant_id=t.id, cloud=t.cloud,
                            redirect_uri=app.consent_redirect_uri).admin_consent

    async def get_token(self, tenant: str, api: str, *, roles: tuple[str, ...] = ()) -> AccessToken:
        """A valid token for ``api`` on ``tenant``; with ``roles``, one of them must be held.

        Raises :class:`AuthError` (Entra said no, validation failed) or
        :class:`PermissionMissing` (role absent) — before any API call is made.
        """
        hot = self._hot.get((tenant, api))
        if hot is not None and self.clock() < hot[1]:  # fast path: a memory hit, still fresh
            self._stats["memory_hits"] += 1
            if roles:
                self.check_roles(hot[0], roles)
            return hot[0]
        route = self.route(tenant, api)
        key = (route.tenant.name, route.resource)
        token = self._memo.get(key)
        if token is not None and self._fresh(token):
            self._stats["memory_hits"] += 1
            self.check_roles(token, roles)
            token = token if token.source == "cache" else replace(token, source="cache")
            self._hot[(tenant, api)] = (token, self._refresh_at(token))
            return token
        async with self._lock(key):
            token = self._memo.get(key)
            if token is not None and self._fresh(token):
                self._stats["memory_hits"] += 1
                token = replace(token, source="cache")
            else:
                if token is not None:
                    self._stats["refreshed_ahead"] += 1
                    log.info("token for %s/%s is close to expiry: fetching a new one", tenant, api)
                try:
                    token = await self._acquire(route, stale=token or self._rejected.pop(key, None))
                except AuthError as exc:  # kept for the console's tenants page (runner.auth.health)
                    self.errors[(tenant, api)] = (self.clock(), exc)
                    raise
                self._memo[key] = token
                self.errors.pop((tenant, api), None)
        self.check_roles(token, roles)
        return token

    async def preflight(self, tenant: str, roles_by_api: Mapping[str, tuple[str, ...]],
                        prefer: str | None = None, choice: str | None = None) -> AccessToken | None:
        """Pick the API for an action (``prefer`` if the action supports it, else the tenant's
        ``apis.<choice>`` preference, else the action's first API) and check its roles.

        With ``prefer="auto"`` (any value that is not one of the action's APIs) the action picks
        its API at run time: the check passes when the app can use *any* of them, trying the
        chosen one first; when none works, the chosen API's error (naming its role) is raised.
        An API that takes no Entra ID token has no roles to check: ``None``, nothing asked — but
        one that takes a secret must have one named (:class:`ConfigError` before any call)."""
        api = self.choose_api(tenant, roles_by_api, prefer, choice)
        if not self.takes_tokens(api):
            self._check_secret(tenant, api)
            return None
        try:
            return await self.get_token(tenant, api, roles=tuple(roles_by_api.get(api, ())))
        except AuthError:
            if not prefer or prefer in roles_by_api or len(roles_by_api) < 2:
                raise
            for other in roles_by_api:
                if other != api:
                    if not self.takes_tokens(other):
                        self._check_secret(tenant, other)
                        return None  # the action may use it: no roles to check
                    try:
                        return await self.get_token(tenant, other, roles=tuple(roles_by_api[other]))
                    except AuthError:
                        continue
            raise

    def _check_secret(self, tenant: str, api: str) -> None:
        spec = self.registry[api]
        if isinstance(spec.auth, SecretAuth):
            secret_reference(self.config, tenant, spec)  # names a secret (resolved on the first call)

    def choose_api(self, tenant: str, roles_by_api: Mapping[str, tuple[str, ...]], prefer: str | None = None,
                   choice: str | None = None) -> str:
        """The action's API for ``tenant``: :func:`runner.apis.choice.choose_api` over the action's
        APIs; an action that declares no API gets ``prefer``."""
        if not roles_by_api:
            if prefer:
                return prefer
            raise ConfigError("the action declares no API, so no token can be chosen for it")
        self.config.tenant(tenant)  # an unknown tenant is an error here, not "no preference"
        return _choose(self.config, tenant, list(roles_by_api), choice=choice, prefer=prefer)

    def invalidate(self, tenant: str, api: str) -> None:
        """Forget the token for (tenant, api): after an API answered 401, before the one retry."""
        route = self.route(tenant, api)
        rejected = self._memo.pop((route.tenant.name, route.resource), None)
        if rejected is not None:  # the shared cache may still hold it: the next request skips it
            self._rejected[(route.tenant.name, route.resource)] = rejected
        self._hot.clear()  # rare (after a 401): rebuilt from _memo on the next look-ups
        target = [route.scope] if route.flow == "v2" else [route.resource]
        self._stats["invalidated"] += 1
        if self.cache.remove(self.config.app.client_id, route.tenant.id, target):
            self.cache.persist()

    def auth(self, tenant: str, api: str, roles: tuple[str, ...] = ()) -> BearerAuth:
        """An ``httpx.Auth`` that adds the bearer token and, on a 401, refreshes once and retries."""
        return BearerAuth(self, tenant, api, roles)

    def check_roles(self, token: AccessToken, roles: tuple[str, ...]) -> None:
        if not roles or token.has_role(*roles):
            return
        if not token.claims:  # an opaque token: the API will decide
            log.debug("token for %s/%s cannot be read; role check left to the API", token.tenant, token.api)
            return
        app = self.config.app
        wanted = " or ".join(f"'{r}'" for r in roles)
        spec = self.registry.get(token.api)
        title = spec.title if spec is not None else token.api
        held = ", ".join(token.roles) if token.roles else "no roles at all"
        raise PermissionMissing(
            f"app {app.client_id} lacks the application role {wanted} on {title} in tenant "
            f"'{token.tenant}' (its token holds: {held}); no API call was made",
            where=Location(tenant=token.tenant),
            hint=f"add the {title} application permission {roles[0]} to the app registration, then an "
                 f"admin of '{token.tenant}' must consent again: {self.consent_url(token.tenant)}",
        )

    # ---- acquisition -------------------------------------------------------------------------

    def _lock(self, key: Any) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        locks = self._locks.get(loop)
        if locks is None:
            locks = self._locks[loop] = {}
        lock = locks.get(key)
        if lock is None:
            lock = locks[key] = asyncio.Lock()
        return lock

    def _fresh(self, token: AccessToken) -> bool:
        return self.clock() < self._refresh_at(token)

    def _refresh_at(self, token: AccessToken | CachedToken) -> float:
        """When a token stops being fresh: ``refresh_before`` seconds (at most half its life)
        before it expires."""
        threshold = self.refresh_before
        if token.issued_at:
            threshold = min(threshold, (token.expires_on - token.issued_at) / 2)
        return token.expires_on - threshold

    def _facts(self, route: Route) -> RequestFacts:
        return self._tenant_facts(route.tenant, route.api, route.resource, route.spec)

    def _tenant_facts(self, tenant: Any, api: str = "", resource: str = "", spec: ApiSpec | None = None) -> RequestFacts:
        app = self.config.app
        cred = (f"client secret ({app.client_secret})" if app.client_secret
                else f"certificate ({app.certificate.private_key})")
        return RequestFacts(tenant.name, tenant.id, tenant.cloud, app.client_id, api, resource, cred,
                            self.consent_url(tenant.name), title=spec.title if spec is not None else api,
                            resource_names=resource_names(spec) if spec is not None else ())

    def _credentials(self) -> AppCredential:
        if self._credential is None:
            self._credential = AppCredential.from_config(self.config.app)
        return self._credential

    def _client(self) -> httpx.Client:
        if self._sync_client is None:
            self._sync_client = self.network.sync_client()
        return self._sync_client

    async def _acquire(self, route: Route, stale: AccessToken | None) -> AccessToken:
        await self._metadata(route.cloud.authority_host, route.tenant.id, "2.0", route=route)
        cred = self._credentials()
        target = [route.scope] if route.flow == "v2" else [route.resource]
        avoid = {stale.value.reveal()} if stale is not None else set()  # the database cache skips these
        for attempt in (1, 2):
            if self.shared is not None:
                result, source = await asyncio.to_thread(self._acquire_shared, route, cred, target[0], avoid)
            else:
                result, source = await asyncio.to_thread(self._acquire_sync, route, cred)
            token = await self._build(route, result, source, retry_possible=attempt == 1 and source == "cache")
            if token is None:  # a cached token we must not use: drop it and ask Entra ID
                self.cache.remove(self.config.app.client_id, route.tenant.id, target)
                avoid.add(result["access_token"])
                continue
            if source == "cache" and (not self._fresh(token) or (stale and token.value == stale.value)):
                if attempt == 1:
                    self.cache.remove(self.config.app.client_id, route.tenant.id, target)
                    avoid.add(result["access_token"])
                    continue
            if source == "identity_provider":
                self._stats["from_identity_provider"] += 1
                if token.expires_on <= self.clock():
                    raise AuthError(f"Entra ID issued an already expired token for tenant '{route.tenant.name}'",
                                    where=Location(tenant=route.tenant.name),
                                    hint="check this machine's clock (it must be within a minute of UTC)")
            else:
                self._stats["cache_hits"] += 1
            if self.cache.saves_in_memory:
                self.cache.persist()
            else:
                await asyncio.to_thread(self.cache.persist)
            log.info("token for %s/%s from %s (expires in %ds)", route.tenant.name, route.api,
                     "the cache" if source == "cache" else "Entra ID", token.expires_in(self.clock()))
            return token
        raise AuthError(f"no usable token for tenant '{route.tenant.name}'", where=Location(tenant=route.tenant.name))

    def _acquire_shared(self, route: Route, cred: AppCredential, target: str, avoid: set[str]) -> tuple[dict, str]:
        """The database cache's fresh row for the route (not one of ``avoid``), else a token from
        Entra ID, single-flight across processes (:meth:`DatabaseTokenCache.get_or_fetch`)."""
        assert self.shared is not None
        client_id = self.config.app.client_id

        def usable(row: CachedToken) -> bool:
            return row.value not in avoid and self.clock() < self._refresh_at(row)

        def fetch() -> tuple[CachedToken, tuple[dict, str]]:
            self.cache.remove(client_id, route.tenant.id, [target])  # msal's memory copy: make it ask
            result, source = self._acquire_sync(route, cred)
            return token_row(result, self.clock()), (result, source)

        row, fetched = self.shared.get_or_fetch(row_key(client_id, route.tenant.id, target), usable, fetch)
        if fetched is not None:
            return fetched
        return {"access_token": row.value, "expires_in": max(0, int(row.expires_on - self.clock()))}, "cache"

    def _acquire_sync(self, route: Route, cred: AppCredential) -> tuple[dict, str]:
        try:
            if route.flow == "v1":
                return self._acquire_v1(route, cred)
            app = self._app(route, cred)
            result = app.acquire_token_for_client(scopes=[route.scope])
        except httpx.HTTPError as exc:
            raise unreachable(route.cloud.authority_host, exc, tenant=route.tenant.name,
                              relay=getattr(self.network, "relay", None)) from None
        except ValueError as exc:  # msal: unusable credential or authority
            raise AuthError(f"msal refused the request for tenant '{route.tenant.name}': {exc}",
                            where=Location(tenant=route.tenant.name),
                            hint="check `app.certificate` / `app.client_secret` and the tenant id") from None
        if "access_token" not in result:
            raise entra_error(result, self._facts(route))
        return result, result.get("token_source", "identity_provider")

    def _app(self, route: Route, cred: AppCredential) -> msal.ConfidentialClientApplication:
        key = (route.cloud.name, route.tenant.id)
        app = self._apps.get(key)
        if app is None:
            app = msal.ConfidentialClientApplication(
                self.config.app.client_id, client_credential=cred.for_msal(), authority=route.authority,
                http_client=MsalHttp(self._client(), documents=self._documents,
                                     on_token_request=lambda: self._count_request(route.tenant.name)),
                token_cache=self.cache.msal)
            self._apps[key] = app
        return app

    def _acquire_v1(self, route: Route, cred: AppCredential) -> tuple[dict, str]:
        client_id = self.config.app.client_id
        now = time.time()
        for entry in self.cache.access_tokens(client_id, route.tenant.id, [route.resource]):
            if int(entry["expires_on"]) - now > 0:
                return {"access_token": entry["secret"], "expires_in": int(entry["expires_on"]) - now}, "cache"
        form = {"grant_type": "client_credentials", "client_id": client_id, "resource": route.resource,
                **cred.form_fields(client_id, route.v1_endpoint)}
        self._count_request(route.tenant.name)
        resp = self._client().post(route.v1_endpoint, data=form)
        try:
            body = resp.json()
        except ValueError:
            body = {}
        if resp.status_code != 200 or "access_token" not in body:
            raise entra_error(body, self._facts(route), status=resp.status_code)
        self.cache.add_v1(client_id=client_id, token_endpoint=route.v1_endpoint, resource=route.resource,
                          response=body)
        return body, "identity_provider"

    async def _build(self, route: Route, result: dict, source: str, *, retry_possible: bool) -> AccessToken | None:
        raw = result["access_token"]
        t = route.tenant
        claims: dict = {}
        verified = False
        if self.validate:
            try:
                checked = await self.validator.validate(raw, tenant=t.name, tenant_id=t.id,
                                                        authority_host=route.cloud.authority_host,
                                                        api=route.api, resource=route.resource, spec=route.spec)
            except AuthError:
                if retry_possible:
                    log.info("cached token for %s/%s failed validation: fetching a new one", t.name, route.api)
                    return None
                raise
            claims, verified = checked.claims, checked.verified_signature
        else:
            from runner.auth.validation import decode_unverified

            claims = decode_unverified(raw)[1]
        return token_from(raw, claims, tenant=t.name, tenant_id=t.id, api=route.api, resource=route.resource,
                          roles_claim=route.entra.roles_claim, source=source, verified=verified,
                          expires_in=result.get("expires_in"), now=self.clock())

    # ---- metadata ----------------------------------------------------------------------------

    async def _metadata(self, host: str, tenant_id: str, version: str, route: Route | None = None) -> dict:
        """The tenant's openid-configuration (v1 or v2), fetched once; Entra errors mapped."""
        key = (host, tenant_id, version)
        doc = self._metadata_docs.get(key)
        if doc is not None:
            return doc
        async with self._lock(("metadata",) + key):
            doc = self._metadata_docs.get(key)
            if doc is not None:
                return doc
            path = "v2.0/.well-known/openid-configuration" if version == "2.0" else ".well-known/openid-configuration"
            url = f"https://{host}/{tenant_id}/{path}"
            try:
                client = await self.network.pooled_async_client()  # one pool per loop, not a client per tenant
                resp = await client.get(url)
            except httpx.HTTPError as exc:
                raise unreachable(host, exc, tenant=route.tenant.name if route is not None else None,
                                  relay=getattr(self.network, "relay", None)) from None
            try:
                body = resp.json()
            except ValueError:
                body = {}
            if resp.status_code != 200 or "token_endpoint" not in body:
                facts = self._facts(route) if route is not None else self._facts_for(tenant_id)
                if facts is not None:
                    raise entra_error(body, facts, status=resp.status_code)
                raise AuthError(f"{host} answered HTTP {resp.status_code} for tenant {tenant_id}'s metadata")
            self._documents[url] = resp.text
            self._metadata_docs[key] = body
            return body

    def _facts_for(self, tenant_id: str) -> RequestFacts | None:
        """What we asked for, when a metadata request (no API in view) failed for ``tenant_id``."""
        for t in self.config.tenants.values():
            if t.id == tenant_id:
                return self._tenant_facts(t)
        return None
