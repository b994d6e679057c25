"""The composition root: the one place the token provider, the API client factory and the
:class:`~runner.engine.context.Services` a run needs are put together.

The command line (``runner.cli.common``), the testing kit (``runner.testing.SoarRunner``) and the
benchmarks all call :func:`build_services`, so a run is wired the same way wherever it starts:
the same plugins' API registry for tokens and clients, the same quotas and token cache rules.
Nothing else constructs a ``TokenProvider``, an ``ApiClients`` or a ``Services`` — ``soar
token`` / ``soar tenants`` take the token provider alone (:func:`build_token_provider`), and
``ApiClients.for_services`` the factory alone for services made without a config
(:func:`build_api_clients`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

if TYPE_CHECKING:  # pragma: no cover
    from runner.apis import ApiClients, RetryPolicy
    from runner.auth.cache import CacheStore
    from runner.config import SoarConfig
    from runner.engine.context import Services
    from runner.http import Network
    from runner.plugins import PluginHost
    from runner.store import RunStore

__all__ = ["build_api_clients", "build_services", "build_token_provider", "close_services"]


def build_services(config: "SoarConfig | None", network: "Network", store: "RunStore", plugins: "PluginHost", *,
                   auto_approve: bool = False, token_cache: "str | Path | CacheStore | None" = None,
                   quotas: Any = None, retry: "RetryPolicy | Mapping[str, Any] | None" = None,
                   time_scale: float = 1.0, extras: Mapping[str, Any] | None = None,
                   origin: dict | None = None, role: str | None = None) -> "Services":
    """The services of a process (or a test): ``plugins`` (their API registry is what the token
    provider and the API clients know), ``store``, ``network`` and ``config``, with

    - ``auth``: a :class:`~runner.auth.TokenProvider` when ``config`` has an ``app:``, else
      ``None``. ``token_cache``: where it keeps tokens — ``None``: as ``config.token_cache``
      says; a path (``":memory:"``: not persisted); or a
      :class:`~runner.auth.cache.CacheStore`.
    - ``apis``: the process's :class:`~runner.apis.ApiClients` (quotas, connection pools,
      counters) when there is a ``config`` — with or without an app, since an API may take a
      secret instead of a token. ``quotas`` overrides ``config.quotas`` (``"off"``: none);
      ``retry``: a :class:`~runner.apis.RetryPolicy` or a dict of its fields; ``time_scale``
      shrinks the quota windows (a simulated clock). Without a config nothing is built here:
      no tenant, no API call.
    - ``auto_approve``, ``extras`` (shared with plugins: the simulated cloud, a replay) and
      ``origin`` (how runs of this process are started) as given.
    - ``role``: ``"front"`` or ``"worker"`` for a process of a scaled-out deployment (``soar
      serve --role front``, ``soar worker``; docs/scale-out.md): then ``token_cache.backend:
      auto`` keeps tokens in ``store``'s database and ``quotas.shared: auto`` draws on budgets
      shared through it, when it is PostgreSQL. ``None``: a process of its own.
    """
    from runner.engine.context import Services

    auth = build_token_provider(config, network, plugins, token_cache=token_cache, role=role,
                                store=store) if _has_app(config) else None
    services = Services(plugins=plugins, store=store, network=network, config=config, auth=auth,
                        auto_approve=auto_approve, extras=dict(extras or {}), origin=origin)
    if config is not None:
        services.apis = build_api_clients(services, quotas=quotas, retry=retry, time_scale=time_scale)
        services.apis.share_quotas(store, role=role)  # `quotas.shared: true`, or auto in a front or worker
    return services


def close_services(services: "Services") -> None:
    """Close what :func:`build_services` opened: the run store and the token provider's client.
    The API clients' connection pools belong to an event loop: ``await services.apis.aclose()``
    on that loop before it ends."""
    services.store.close()
    auth = services.auth
    if auth is not None and hasattr(auth, "close"):
        auth.close()


def _has_app(config: Any) -> bool:
    return config is not None and getattr(config, "app", None) is not None


def build_token_provider(config: "SoarConfig", network: "Network", plugins: "PluginHost | None" = None, *,
                         token_cache: "str | Path | CacheStore | None" = None, role: str | None = None,
                         store: "RunStore | None" = None) -> Any:
    """The :class:`~runner.auth.TokenProvider` for ``config``'s app and tenants (``soar token``
    and ``soar tenants`` need nothing else); ``plugins``: whose API registry it serves (default:
    the process's); ``token_cache``, ``role`` as for :func:`build_services` (``store``: the
    process's run store, whose database a front or worker keeps its tokens in)."""
    from runner.auth import TokenProvider

    if token_cache is None:
        cache: dict[str, Any] = {}
    elif isinstance(token_cache, (str, Path)):
        cache = {"cache_path": token_cache}
    else:
        cache = {"cache_store": token_cache}
    if role is not None and store is not None:
        cache["store_url"] = _full_url(store)
    return TokenProvider(config, network, registry=plugins.apis if plugins is not None else None, role=role,
                         **cache)


def _full_url(store: "RunStore") -> str:
    """The store's URL with its password (for the token cache's own connections; never shown)."""
    return store._db.engine.url.render_as_string(hide_password=False)


def build_api_clients(services: "Services", *, quotas: Any = None, retry: Any = None,
                      time_scale: float = 1.0) -> "ApiClients":
    """The API client factory for ``services`` (its network, token provider, config and
    plugins' API registry); the keywords as for :func:`build_services`. Also what
    ``ApiClients.for_services`` builds, on first use, for services made without a config."""
    from runner.apis import ApiClients, RetryPolicy

    if isinstance(retry, Mapping):
        retry = RetryPolicy(**retry)
    plugins = getattr(services, "plugins", None)
    return ApiClients(services.network, services.auth, services.config, quotas=quotas, retry=retry,
                      time_scale=time_scale, registry=getattr(plugins, "apis", None))
