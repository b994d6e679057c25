"""The resource apps the simulated Entra ID issues tokens for.

Every registered API that takes Entra ID tokens (an :class:`~runner.apis.spec.ApiSpec` whose
``auth`` is an :class:`~runner.apis.spec.EntraResource`) is one, under its API name; a token
request names it by any of its resource URIs, identifier URIs or its app id. Azure Key Vault is
one too (for ``keyvault:`` secret references in tests and demos), unless a plugin registers
an API of that name.
"""

from __future__ import annotations

from typing import Iterable, Mapping

from runner.apis.spec import ApiSpec, EntraResource

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


def _key(text: str) -> str:
    return text.strip().removesuffix("/.default").rstrip("/").lower()


class ResourceDirectory:
    """API name ↔ resource app, for the APIs of a registry (plus the core's Key Vault)."""

    def __init__(self, apis: Mapping[str, ApiSpec]) -> None:
        self.resources: dict[str, EntraResource] = {
            name: spec.auth for name, spec in apis.items() if isinstance(spec.auth, EntraResource)}
        for name, resource in CORE_RESOURCES.items():
            self.resources.setdefault(name, resource)
        self._index: dict[str, str] = {}
        for name, resource in self.resources.items():
            for uri in _uris(resource):
                self._index.setdefault(_key(uri), name)

    def api_for(self, resource: str) -> str | None:
        """The API a resource names: an API name, a resource or identifier URI (a v2 scope's
        ``/.default`` and a trailing ``/`` ignored, any case) or the resource app's id."""
        if resource in self.resources:
            return resource
        return self._index.get(_key(resource))

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


def _uris(resource: EntraResource) -> Iterable[str]:
    yield resource.app_id
    yield from resource.resources.values()
    yield from resource.identifier_uris
    for form in resource.resource_forms.values():
        yield from form.values()
