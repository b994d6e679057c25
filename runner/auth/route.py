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
