"""The API client factory (:class:`ApiClients`): one per process, holding the quota buckets,
the retry policy, the pooled senders (connection pools) per event loop and the call counters —
for every registered API (``register_apis``) alike."""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections import Counter
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Mapping

from runner.apis.client import ApiClient, RetryPolicy
from runner.apis.quotas import QuotaBucket, quota_limits, scale_setting
from runner.apis.registry import Registry, registered, unknown_api
from runner.apis.registry import base_url as spec_base_url
from runner.apis.secret_auth import SecretCredential
from runner.apis.spec import ApiSpec, EntraResource, SecretAuth
from runner.errors import ConfigError
from runner.http import Sender

if TYPE_CHECKING:  # pragma: no cover
    from runner.auth.bearer import BearerAuth

log = logging.getLogger("soar.apis")


class ApiClients:
    """The API client factory: one per process, shared by every action, step, run and tenant.

    ``network``: :class:`runner.http.Network`; ``auth``: the token provider (``None``: no
    token on Entra ID APIs, for tests with mock handlers); ``config``: the
    :class:`~runner.config.SoarConfig` (its ``quotas`` and ``credentials``). ``quotas`` overrides
    ``config.quotas``. ``time_scale`` shrinks quota windows (tests); ``sleep`` is how retries
    wait (tests record it). ``registry``: the registered APIs, name → :class:`ApiSpec`
    (``None``: the process's plugins) — their base URLs, authentication, default quota buckets
    and error bodies.

    How a request is authenticated follows its API's ``auth``: an Entra ID token from ``auth``
    (:class:`~runner.apis.spec.EntraResource`), the secret of ``credentials.<api>``
    (:class:`~runner.apis.spec.SecretAuth`, :mod:`runner.apis.secret_auth`), or nothing.
    """

    def __init__(self, network: Any, auth: Any = None, config: Any = None, *, quotas: Any = None,
                 retry: RetryPolicy | None = None, time_scale: float = 1.0,
                 sleep: Callable[[float], Awaitable[Any]] | None = None,
                 registry: Registry | None = None) -> None:
        self.network = network
        self.auth = auth
        self.config = config
        self.registry = registered(registry)
        raw = quotas if quotas is not None else (getattr(config, "quotas", None) or {})
        self.quotas_config = raw
        scale = scale_setting(raw)
        if scale != 1 and getattr(network, "real", False):
            raise ConfigError("quotas.time_scale only applies to a simulated cloud (--simulate, --sim-url)",
                              hint="remove it: against real tenants the windows are the provider's own")
        self.limits = quota_limits(raw, time_scale * scale, self.registry)
        self.shared_quotas: Any = None  # runner.apis.shared_quotas.SharedQuotas: see share_quotas
        retry_cfg = raw.get("retry") if isinstance(raw, Mapping) else None
        self.retry = retry or (RetryPolicy(**retry_cfg) if retry_cfg else RetryPolicy())
        self._sleep = sleep or asyncio.sleep
        self._buckets: dict[tuple[str, str], QuotaBucket] = {}
        self._api_clients: dict[tuple, ApiClient] = {}
        self._clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self.counters: dict[str, Counter] = {"calls": Counter(), "throttled": Counter(), "retries": Counter()}

    @classmethod
    def for_services(cls, services: Any) -> "ApiClients":
        """The process's factory: ``services.apis``, made (and stored there) on first use."""
        apis = getattr(services, "apis", None)
        if apis is None:
            from runner.compose import build_api_clients

            apis = services.apis = build_api_clients(services)
        return apis

    # ---- building blocks ------------------------------------------------------------------------

    def spec(self, api: str) -> ApiSpec:
        """The registration of ``api``; :class:`ConfigError` (listing the registered APIs) when
        no installed plugin registers it."""
        spec = self.registry.get(api)
        if spec is None:
            raise unknown_api(api, self.registry)
        return spec

    def base_url(self, tenant: Any, api: str) -> str:
        """The tenant's base URL for ``api`` (cloud and region from the config, else the TenantInfo)."""
        cfg = self.config
        if cfg is not None and tenant.name in getattr(cfg, "tenants", {}):
            return cfg.tenant(tenant.name).api_base(api, self.registry)
        spec = self.spec(api)
        cloud = getattr(tenant, "cloud", None) or "commercial"
        try:
            return spec_base_url(spec, cloud, getattr(tenant, "region", None))
        except ValueError as exc:
            raise ConfigError(f"tenant '{tenant.name}': no base URL for {spec.title}: {exc}",
                              hint="check the tenant's cloud and region") from None

    def bucket(self, tenant: str, name: str) -> QuotaBucket:
        key = (tenant, name)
        b = self._buckets.get(key)
        if b is None:
            limits, shared = self.limits.get(name, []), self.shared_quotas
            b = self._buckets[key] = (shared.bucket(tenant, name, limits) if shared is not None and limits
                                      else QuotaBucket(name, limits))
        return b

    def share_quotas(self, store: Any, *, role: str | None = None) -> bool:
        """Draw on budgets shared by every process on ``store``'s PostgreSQL database, as
        soar.yaml's ``quotas.shared`` says (``auto``: when ``role`` is "front" or "worker");
        :func:`runner.apis.shared_quotas.share_quotas`. Returns whether they are shared."""
        from runner.apis.shared_quotas import share_quotas

        return share_quotas(self, store, role=role)

    def client(self, tenant: Any, api: str, roles: tuple[str, ...] = (), *, quota: str | None = None) -> ApiClient:
        """A client for the registered API ``api`` on ``tenant`` (a TenantInfo), drawing on the
        (tenant, ``quota`` or ``api``) bucket and, for an Entra ID API, asking for a token holding
        one of ``roles``."""
        key: tuple | None = (tenant, api, roles, quota)
        try:
            made = self._api_clients.get(key)  # actions ask for the same few on every call
        except TypeError:  # an unhashable tenant or roles: build one each time
            key, made = None, None
        if made is None:
            made = ApiClient(self, tenant, api, tuple(roles), self.bucket(tenant.name, quota or api), self.spec(api))
            if key is not None:
                self._api_clients[key] = made
        return made

    def _http(self, tenant: str, api: str, base_url: str) -> Sender:
        loop = asyncio.get_running_loop()
        pools = self._clients.get(loop)
        if pools is None:
            pools = self._clients[loop] = {}
        sender = pools.get((tenant, api))
        if sender is None:
            sender = pools[(tenant, api)] = self.network.sender(base_url, headers={"Accept": "application/json"})
        return sender

    def _auth(self, tenant: str, api: str, roles: tuple[str, ...]) -> "BearerAuth | SecretCredential | None":
        """What authenticates a request to ``api``: a bearer token, the API's secret, or nothing."""
        auth = self.spec(api).auth
        if isinstance(auth, EntraResource):
            return self.auth.auth(tenant, api, roles) if self.auth is not None else None
        if isinstance(auth, SecretAuth):
            return SecretCredential(self.config, tenant, self.spec(api))
        return None

    def _consent(self, tenant: str) -> str | None:
        try:
            return self.auth.consent_url(tenant) if self.auth is not None else None
        except Exception:  # noqa: BLE001 - a hint must never hide the real error
            return None

    def _count(self, kind: str, tenant: str, api: str) -> None:
        self.counters[kind][(tenant, api)] += 1

    async def _backoff(self, n: int, tenant: str, api: str, why: str) -> None:
        self._count("retries", tenant, api)
        delay = self.retry.delay(n)
        log.info("%s from %s for %s: retry %d in %.2fs", why, api, tenant, n, delay)
        await self._sleep(delay)

    async def aclose(self) -> None:
        """Close this event loop's connection pools (and the shared quotas' database connections)."""
        pools = self._clients.pop(asyncio.get_running_loop(), {})
        for client in pools.values():
            await client.aclose()
        if self.shared_quotas is not None:
            await self.shared_quotas.aclose()

    def stats(self) -> dict[str, Any]:
        """Counters for the demo summary: calls, 429s absorbed, retries per tenant/api; quota waits."""
        def table(c: Counter) -> dict:
            out: dict[str, dict[str, int]] = {}
            for (tenant, api), n in sorted(c.items()):
                out.setdefault(tenant, {})[api] = n
            return out

        return {
            "calls": table(self.counters["calls"]),
            "throttled": table(self.counters["throttled"]),
            "retries": table(self.counters["retries"]),
            "total_calls": sum(self.counters["calls"].values()),
            "total_throttled": sum(self.counters["throttled"].values()),
            "total_retries": sum(self.counters["retries"].values()),
            "quota_waits": {f"{t}/{b}": round(q.waited, 3) for (t, b), q in self._buckets.items() if q.waits},
        }
