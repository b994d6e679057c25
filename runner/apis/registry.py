"""The registered APIs (``register_apis``) as the runtime reads them: the one place an API name
becomes its :class:`~runner.apis.spec.ApiSpec`, with the error for a name no plugin registered.

Components that need the registry take it explicitly (``registry: Mapping[str, ApiSpec] |
None``); ``None`` means the process's plugins (:func:`runner.plugins.load_plugins`), loaded on
first use. This module imports nothing heavy.
"""

from __future__ import annotations

from typing import Any, Mapping

from runner.apis.spec import ApiSpec, EntraResource, SecretAuth
from runner.errors import ConfigError

__all__ = ["Registry", "auth_kind", "base_url", "default_quotas", "entra_apis", "regions", "registered", "spec_for", "title_of",
           "unknown_api"]

Registry = Mapping[str, ApiSpec]


def registered(registry: Registry | None = None) -> Registry:
    """``registry``, or the process's registered APIs when it is ``None``."""
    if registry is not None:
        return registry
    from runner.plugins import load_plugins

    return load_plugins().apis


def unknown_api(name: Any, registry: Registry, *, where: str | None = None) -> ConfigError:
    """The error for an API name no installed plugin registered (``where``: the config key)."""
    known = ", ".join(sorted(registry)) or "(none)"
    at = f"{where}: " if where else ""
    return ConfigError(f"{at}unknown API '{name}'; the registered APIs are: {known}",
                       hint="install (or enable) the plugin that provides it — `soar plugins list` shows what each "
                            "installed plugin registers — or use one of the registered names")


def spec_for(name: str, registry: Registry | None = None) -> ApiSpec:
    """The :class:`ApiSpec` registered as ``name``; :class:`ConfigError` when none is."""
    apis = registered(registry)
    spec = apis.get(name)
    if spec is None:
        raise unknown_api(name, apis)
    return spec


def title_of(name: str, registry: Registry | None = None) -> str:
    """The API's title for people (its name when it is not registered)."""
    spec = registered(registry).get(name)
    return spec.title if spec is not None else name


def entra_apis(registry: Registry | None = None) -> list[str]:
    """The registered APIs that take Entra ID tokens, in registration order."""
    return [name for name, spec in registered(registry).items() if isinstance(spec.auth, EntraResource)]


def regions(registry: Registry | None = None) -> tuple[str, ...]:
    """Every region a registered API knows (``ApiSpec.regions``), in first-seen order."""
    seen: dict[str, None] = {}
    for spec in registered(registry).values():
        for region in spec.regions:
            seen.setdefault(region.lower(), None)
    return tuple(seen)


def base_url(spec: ApiSpec, cloud: str, region: str | None = None) -> str:
    """``spec``'s base URL in ``cloud``, on ``region``'s host when the API has that region
    (``ApiSpec.regions``); a region the API does not list is not its concern: its global host.
    ``ValueError`` when the API is not in ``cloud``."""
    if region and region.lower() not in {r.lower() for r in spec.regions}:
        region = None
    return spec.url_for(cloud, region)


def default_quotas(registry: Registry | None = None) -> dict[str, dict[str, int]]:
    """The default call budgets: every registered API's ``quotas``, bucket name → limits. When
    two APIs give the same bucket, each window keeps the lower limit (the safer budget)."""
    table: dict[str, dict[str, int]] = {}
    for spec in registered(registry).values():
        for bucket, limits in spec.quotas.items():
            merged = table.setdefault(bucket, {})
            for window, n in limits.items():
                merged[window] = min(merged[window], n) if window in merged else n
    return table


def auth_kind(spec: ApiSpec) -> str:
    """How ``spec`` authenticates, for people: ``entra``, ``api_key``, ``bearer``, ``basic`` or ``none``."""
    if isinstance(spec.auth, EntraResource):
        return "entra"
    if isinstance(spec.auth, SecretAuth):
        return spec.auth.scheme
    return "none"
