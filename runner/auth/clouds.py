"""Where each Microsoft cloud signs in: the Entra ID facts every Microsoft plugin needs.

One :class:`Cloud` per national cloud (commercial, GCC, GCC High, DoD): its token authority
host and the other login hosts of the same Entra ID. Which APIs live in each cloud, their hosts,
regions and token resources are not here: each plugin registers its APIs with their per-cloud
base URLs and Entra ID resources (:class:`runner.apis.spec.ApiSpec`,
:mod:`runner.auth.resources`). This module imports nothing heavy: :mod:`runner.config` uses it
to validate ``cloud:``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["CLOUDS", "CLOUD_FAMILY", "CLOUD_TABLE", "Cloud", "LOGIN_HOSTS", "cloud", "issuers"]

CLOUDS: tuple[str, ...] = ("commercial", "gcc", "gcc_high", "dod")


@dataclass(frozen=True)
class Cloud:
    """One national cloud: its name, title and Entra ID authority host."""

    name: str
    title: str
    authority_host: str
    aliases: tuple[str, ...] = field(default=())  # other login hosts of the same cloud

    @property
    def authority_url(self) -> str:
        return f"https://{self.authority_host}"

    def authority(self, tenant_id: str) -> str:
        return f"https://{self.authority_host}/{tenant_id}"


CLOUD_TABLE: dict[str, Cloud] = {
    "commercial": Cloud("commercial", "Commercial (worldwide)", "login.microsoftonline.com",
                        aliases=("login.windows.net", "login.microsoft.com", "sts.windows.net")),
    # GCC (moderate) tenants live in the worldwide Entra ID
    "gcc": Cloud("gcc", "US Government Community Cloud (GCC)", "login.microsoftonline.com",
                 aliases=("login.windows.net", "login.microsoft.com")),
    "gcc_high": Cloud("gcc_high", "US Government GCC High", "login.microsoftonline.us"),
    "dod": Cloud("dod", "US Government DoD", "login.microsoftonline.us"),
}

# Login hosts and the cloud family they serve (GCC shares the worldwide Entra ID).
LOGIN_HOSTS: dict[str, str] = {
    "login.microsoftonline.com": "worldwide",
    "login.windows.net": "worldwide",
    "login.microsoft.com": "worldwide",
    "login.microsoftonline.us": "usgov",
}
CLOUD_FAMILY: dict[str, str] = {
    "commercial": "worldwide", "gcc": "worldwide", "gcc_high": "usgov", "dod": "usgov",
}


def cloud(name: str) -> Cloud:
    """The :class:`Cloud` called ``name``; ``KeyError`` for an unknown one."""
    return CLOUD_TABLE[name]


def issuers(tenant_id: str, authority_host: str) -> tuple[str, str]:
    """Default v1 and v2 issuer forms (used when the metadata document gives none)."""
    return (f"https://sts.windows.net/{tenant_id}/", f"https://{authority_host}/{tenant_id}/v2.0")


# ---- transitional --------------------------------------------------------------------------------
# ``resource_app_for`` and ``RESOURCE_APPS`` answer from the registered APIs until the simulated
# Entra ID (runner.sim) calls runner.auth.resources.resource_api itself; then they go.

@dataclass(frozen=True)
class _ResourceApp:
    api: str
    app_id: str
    display_name: str
    identifier_uris: tuple[str, ...]


def _resource_app(api: str) -> _ResourceApp:
    from runner.auth.resources import entra_resource

    auth = entra_resource(api)
    uris = tuple(dict.fromkeys([*auth.resources.values(), *auth.identifier_uris]))
    return _ResourceApp(api, auth.app_id, auth.display_name, uris)


def resource_app_for(resource: str) -> _ResourceApp | None:
    from runner.auth.resources import resource_api

    api = resource_api(resource)
    return _resource_app(api) if api is not None else None


def __getattr__(name: str) -> Any:
    if name == "RESOURCE_APPS":
        from runner.apis.registry import entra_apis

        return {api: _resource_app(api) for api in entra_apis()}
    raise AttributeError(f"module 'runner.auth.clouds' has no attribute {name!r}")
