"""How a token for (tenant, API) is obtained: the tenant, the API's Entra ID resource in the
tenant's cloud, and the flow (v2 ``scope=`` through msal, or v1 ``resource=``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from runner.apis.spec import ApiSpec, EntraResource
from runner.auth import clouds

__all__ = ["Route"]


@dataclass(frozen=True)
class Route:
    """How a token for (tenant, api) is obtained."""

    tenant: Any  # TenantConfig
    api: str
    cloud: clouds.Cloud
    resource: str
    flow: str  # "v1" | "v2"
    spec: ApiSpec

    @classmethod
    def of(cls, config: Any, registry: Any, tenant: str, api: str) -> "Route":
        """The route of ``api`` (registered, and an Entra ID API) for ``config``'s ``tenant``."""
        from runner.auth.resources import entra_resource, resource_for

        t = config.tenant(tenant)
        entra_resource(api, registry)  # registered, and an Entra ID API: else a ConfigError
        spec = registry[api]
        resource = resource_for(spec, t.cloud, config.app.resources.get(api))
        return cls(t, api, clouds.cloud(t.cloud), resource, config.app.flow(api), spec)

    @property
    def entra(self) -> EntraResource:
        return self.spec.auth  # type: ignore[return-value]  # route() admits Entra APIs only

    @property
    def scope(self) -> str:
        return f"{self.resource}/.default"

    @property
    def authority(self) -> str:
        return self.cloud.authority(self.tenant.id)

    @property
    def v1_endpoint(self) -> str:
        return f"{self.authority}/oauth2/token"
