"""The ``keyring:`` and ``keyvault:`` secret reference schemes.

- ``keyring:SERVICE/NAME`` — the OS keyring through the ``keyring`` package
  (``pip install 'soar-runner[keyring]'``).
- ``keyvault:VAULT/NAME[/VERSION]`` — an Azure Key Vault secret through
  ``azure-keyvault-secrets`` and ``azure-identity`` (``pip install 'soar-runner[keyvault]'``).
  ``VAULT`` is the vault's name (``https://VAULT.vault.azure.net``) or its full host name
  (``myvault.vault.usgovcloudapi.net``). The credential is ``DefaultAzureCredential``
  (managed identity, environment, Azure CLI ...) unless :func:`configure_keyvault` sets one.

Both libraries are imported only when such a reference is resolved. Errors name the
reference and never a value.
"""

from __future__ import annotations

import io
from typing import Any

from runner import secrets
from runner.errors import SecretError

_keyvault: dict[str, Any] = {"credential": None, "network": None}


def configure_keyvault(*, credential: Any = None, network: Any = None) -> None:
    """Use ``credential`` (an azure-identity credential) and route Key Vault HTTP through
    ``network`` (a :class:`runner.http.Network`; tests pass a simulated one). ``None`` resets."""
    _keyvault["credential"] = credential
    _keyvault["network"] = network


def _missing(package: str, extra: str, ref: str) -> SecretError:
    return SecretError(
        f"secret reference '{ref}' needs the '{package}' package, which is not installed",
        hint=f"pip install 'soar-runner[{extra}]'",
    )


def resolve_keyring(rest: str) -> str:
    ref = f"keyring:{rest}"
    service, sep, name = rest.partition("/")
    if not sep or not service or not name:
        raise SecretError(f"secret reference '{ref}' must look like keyring:SERVICE/NAME")
    try:
        import keyring
        from keyring.errors import KeyringError
    except ImportError:
        raise _missing("keyring", "keyring", ref) from None
    try:
        value = keyring.get_password(service, name)
    except KeyringError as exc:
        raise SecretError(f"secret reference '{ref}': the keyring failed ({type(exc).__name__})",
                          hint="check that a keyring backend is available (`keyring --list-backends`)") from None
    if value is None:
        raise SecretError(f"secret reference '{ref}' was not found in the keyring",
                          hint=f"store it with: keyring set {service} {name}")
    return value


def resolve_keyvault(rest: str) -> str:
    ref = f"keyvault:{rest}"
    parts = rest.split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise SecretError(f"secret reference '{ref}' must look like keyvault:VAULT/NAME[/VERSION]")
    vault, name = parts[0], parts[1]
    version = parts[2] if len(parts) == 3 else None
    host = vault if "." in vault else f"{vault}.vault.azure.net"
    try:
        from azure.core.exceptions import AzureError, ClientAuthenticationError, ResourceNotFoundError
        from azure.keyvault.secrets import SecretClient
    except ImportError:
        raise _missing("azure-keyvault-secrets", "keyvault", ref) from None
    credential = _keyvault["credential"]
    if credential is None:
        try:
            from azure.identity import DefaultAzureCredential
        except ImportError:
            raise _missing("azure-identity", "keyvault", ref) from None
        credential = DefaultAzureCredential()
    kwargs: dict[str, Any] = {}
    network = _keyvault["network"]
    if network is not None:
        kwargs["transport"] = network_transport(network)
    client = SecretClient(vault_url=f"https://{host}", credential=credential, **kwargs)
    try:
        with client:
            secret = client.get_secret(name, version)
    except ResourceNotFoundError:
        raise SecretError(f"secret reference '{ref}': no secret '{name}' in vault '{host}'",
                          hint="check the secret name (and version) in the Azure portal") from None
    except ClientAuthenticationError as exc:
        raise SecretError(f"secret reference '{ref}': cannot authenticate to vault '{host}' "
                          f"({type(exc).__name__})",
                          hint="sign in (`az login`), or give this identity the 'Key Vault Secrets User' role") from None
    except AzureError as exc:
        raise SecretError(f"secret reference '{ref}': vault '{host}' answered an error "
                          f"({type(exc).__name__})",
                          hint="check the vault name and that it is reachable") from None
    if secret.value is None:
        raise SecretError(f"secret reference '{ref}' has no value")
    return secret.value


def network_transport(network: Any) -> Any:
    """An azure-core transport that sends through ``network`` (so through our one HTTP stack)."""
    import requests
    from azure.core.pipeline.transport import RequestsTransport
    from requests.adapters import BaseAdapter
    from requests.structures import CaseInsensitiveDict

    client = network.sync_client()

    class _Adapter(BaseAdapter):
        def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
            answer = client.request(request.method, request.url, headers=dict(request.headers),
                                    content=request.body)
            resp = requests.Response()
            resp.status_code = answer.status_code
            resp.headers = CaseInsensitiveDict(answer.headers)
            resp._content = answer.content
            resp.raw = io.BytesIO(answer.content)
            resp.url = request.url
            resp.request = request
            resp.reason = answer.reason_phrase
            resp.encoding = "utf-8"
            return resp

        def close(self):
            client.close()

    session = requests.Session()
    session.mount("https://", _Adapter())
    session.mount("http://", _Adapter())
    return RequestsTransport(session=session, session_owner=True)


secrets.register_scheme("keyring", resolve_keyring)
secrets.register_scheme("keyvault", resolve_keyvault)
