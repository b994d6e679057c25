"""A simulated Azure Key Vault (secrets only), for ``keyvault:`` references in tests and demos.

Mount it with ``cloud.mount("*.vault.azure.net", SimulatedKeyVault(cloud))``. It answers like
Key Vault: a request without a token gets the 401 challenge naming the tenant's authority
and the ``https://vault.azure.net`` resource; a valid token signed by the simulated Entra
ID gets the secret; an unknown secret gets ``SecretNotFound``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:  # pragma: no cover
    from runner.sim.cloud import SimulatedCloud


class SimulatedKeyVault:
    def __init__(self, cloud: "SimulatedCloud", tenant: str | None = None) -> None:
        self.cloud = cloud
        self.tenant = tenant or next(iter(cloud.tenants))
        self.secrets: dict[tuple[str, str], str] = {}  # (vault host, name) -> value
        self.calls = 0

    def set_secret(self, vault: str, name: str, value: str) -> None:
        host = vault if "." in vault else f"{vault}.vault.azure.net"
        self.secrets[(host, name)] = value

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        tid = self.cloud.tenant(self.tenant).id
        if self.cloud.verify_bearer(request.headers.get("authorization"), "keyvault") is None:
            challenge = (f'Bearer authorization="https://login.microsoftonline.com/{tid}", '
                         f'resource="https://vault.azure.net"')
            return httpx.Response(401, headers={"WWW-Authenticate": challenge},
                                  json={"error": {"code": "Unauthorized", "message": "AKV10000: Request is missing a Bearer or PoP token."}})
        parts = [p for p in request.url.path.split("/") if p]
        if request.method != "GET" or len(parts) < 2 or parts[0] != "secrets":
            return httpx.Response(400, json={"error": {"code": "BadParameter", "message": "unsupported request"}})
        host, name = request.url.host, parts[1]
        value = self.secrets.get((host, name))
        if value is None:
            return httpx.Response(404, json={"error": {"code": "SecretNotFound",
                                                       "message": f"A secret with (name/id) {name} was not found in this key vault."}})
        version = parts[2] if len(parts) > 2 else "0" * 32
        return httpx.Response(200, json={"value": value, "id": f"https://{host}/secrets/{name}/{version}",
                                         "attributes": {"enabled": True, "recoveryLevel": "Recoverable+Purgeable"}})
