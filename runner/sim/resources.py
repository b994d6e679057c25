"""The resource apps the simulated Entra ID issues tokens for.

Every registered API that takes Entra ID tokens (an :class:`~runner.apis.spec.ApiSpec` whose
``auth`` is an :class:`~runner.apis.spec.EntraResource`) is one, under its API name; a token
request names it by any of its resource URIs, identifier URIs or its app id. Azure Key Vault is
one too (for ``keyvault:`` secret references in tests and demos), unless a plugin registers
an API of that name.
"""

from __future__ import annotations

from typing import Mapping

from runner.apis.spec import ApiSpec, EntraResource
from runner.auth.resources import ResourceIndex

__all__ = ["KEYVAULT", "ResourceDirectory"]

VAULT_COMMERCIAL = "https://vault.azure.net"
VAULT_USGOV = "https://vault.usgovcloudapi.net"
KEYVAULT = EntraResource(
    app_id="cfa8b339-82a2-471a-a3c9-0fc0be7a4093", display_name="Azure Key Vault",
    resources={"commercial": VAULT_COMMERCIAL, "gcc": VAULT_COMMERCIAL,
               "gcc_high": VAULT_USGOV, "dod": VAULT_USGOV},
    identifier_uris=(VAULT_COMMERCIAL, VAULT_USGOV),
)
CORE_RESOURCES: dict[str, EntraResource] = {"keyvault": KEYVAULT}


class ResourceDirectory:
    """API name ↔ resource app, for the APIs of a registry (plus the core's Key Vault)."""

    def __init__(self, apis: Mapping[str, ApiSpec]) -> None:
        resources = {name: spec.auth for name, spec in apis.items() if isinstance(spec.auth, EntraResource)}
        for name, resource in CORE_RESOURCES.items():
            resources.setdefault(name, resource)
        self._index = ResourceIndex(resources)
        self.resources: dict[str, EntraResource] = self._index.resources

    def api_for(self, resource: str) -> str | None:
        """The API a resource names (:meth:`runner.auth.resources.ResourceIndex.api_for`)."""
        return self._index.api_for(resource)

    def audience(self, api: str, cloud: str) -> str:
        """The ``aud`` of a token requested for ``api`` by its default resource in ``cloud``."""
        resource = self.resources[api]
        if cloud in resource.resources:
            return resource.resources[cloud].rstrip("/")
        return next(iter(resource.resources.values()), None) or resource.identifier_uris[0]

    def roles_claim(self, api: str) -> str:
        """The claim that carries the application permissions granted on ``api``."""
        resource = self.resources.get(api)
        return resource.roles_claim if resource is not None else "roles"
