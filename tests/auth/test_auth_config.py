"""soar.yaml loading, located errors, and secret references (env, file, keyring, keyvault)."""

from __future__ import annotations

import sys

import pytest

from runner.config import load_config, parse_config
from runner.errors import ConfigError, SecretError
from runner.secrets import resolve

GOOD = """\
app:
  client_id: 11111111-2222-3333-4444-555555555555
  client_secret: env:SOAR_CLIENT_SECRET
  token_flow: {mde: v1, xdr: v2}
tenants:
  contoso:
    id: 0B9D2F3E-0000-4000-8000-000000000001
    cloud: commercial
    region: eu
    apis: {incidents: graph, hunting: auto}
  agency: {id: 0b9d2f3e-0000-4000-8000-000000000002, cloud: gcc_high}
store: sqlite:///runs.db
token_cache: {path: /tmp/x.json, refresh_before: 10m}
approvals: {destructive: false}
"""


def test_a_good_config(tmp_path):
    (tmp_path / "soar.yaml").write_text(GOOD)
    cfg = load_config(None)
    assert cfg.tenant_names() == ["contoso", "agency"]
    c = cfg.tenant("contoso")
    assert c.name == "contoso" and c.id == "0b9d2f3e-0000-4000-8000-000000000001"
    assert c.api_base("mde") == "https://api-eu.securitycenter.microsoft.com"
    assert c.api_base("xdr") == "https://eu.api.security.microsoft.com"
    assert cfg.tenant("agency").api_base("xdr") == "https://api-gov.security.microsoft.us"
    assert cfg.app.flow("mde") == "v1" and cfg.app.flow("graph") == "v2"
    assert cfg.token_cache.refresh_before == 600
    assert cfg.approvals.destructive is False and cfg.source == "soar.yaml"


def test_no_config_file_means_none():
    assert load_config(None) is None


def test_unknown_tenant_lists_the_known_ones():
    with pytest.raises(ConfigError, match="known tenants: contoso, agency"):
        parse_config(GOOD).tenant("nope")


@pytest.mark.parametrize("text, where, words", [
    ("app: [unclosed", ":1:", "malformed YAML"),
    (GOOD.replace("cloud: gcc_high", "cloud: azure_china"), ":11:", "tenants.agency.cloud"),
    (GOOD.replace("0B9D2F3E-0000-4000-8000-000000000001", "contoso.onmicrosoft.com"), ":7:", "must be a GUID"),
    (GOOD.replace("  token_flow", "  tokenflow"), ":4:", "unknown key 'tokenflow'"),
    (GOOD.replace("region: eu", "region: mars"), ":7:", "region"),
    (GOOD.replace("refresh_before: 10m", "refresh_before: soon"), ":13:", "not a duration"),
])
def test_errors_are_located(tmp_path, text, where, words):
    path = tmp_path / "soar.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    shown = str(info.value)
    assert f"soar.yaml{where}" in shown and words in shown and "hint:" in shown


def test_a_literal_secret_is_refused_without_echoing_it(tmp_path):
    path = tmp_path / "soar.yaml"
    path.write_text(GOOD.replace("env:SOAR_CLIENT_SECRET", "Abc8Q~SuperSecretLiteralValue"))
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    assert "SuperSecretLiteralValue" not in str(info.value) and "literal" in str(info.value)
    assert "soar.yaml:3:" in str(info.value)


def test_secret_and_certificate_are_exclusive():
    with pytest.raises(ConfigError, match="exactly one"):
        parse_config(GOOD.replace("  token_flow", "  certificate: {private_key: file:k.pem, thumbprint: "
                                  "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA}\n  token_flow"))


def test_secrets_are_resolved_lazily(monkeypatch):
    monkeypatch.delenv("SOAR_CLIENT_SECRET", raising=False)
    cfg = parse_config(GOOD)  # loading does not need the secret
    with pytest.raises(SecretError, match="'env:SOAR_CLIENT_SECRET' is not set"):
        resolve(cfg.app.client_secret)


def test_unreadable_file_reference_names_the_reference(tmp_path):
    with pytest.raises(SecretError) as info:
        resolve(f"file:{tmp_path}/missing.txt")
    assert "missing.txt" in str(info.value)


class _MemoryKeyring:
    """An in-memory keyring backend."""

    def __init__(self):
        import keyring.backend

        class Backend(keyring.backend.KeyringBackend):
            priority = 1
            store: dict = {}

            def get_password(self, service, username):
                return self.store.get((service, username))

            def set_password(self, service, username, password):
                self.store[(service, username)] = password

            def delete_password(self, service, username):
                self.store.pop((service, username), None)

        self.backend = Backend()


def test_keyring_reference(monkeypatch):
    keyring = pytest.importorskip("keyring")
    old = keyring.get_keyring()
    mem = _MemoryKeyring().backend
    keyring.set_keyring(mem)
    try:
        mem.set_password("soar", "client-secret", "kr-value-123")
        assert resolve("keyring:soar/client-secret").reveal() == "kr-value-123"
        with pytest.raises(SecretError, match="'keyring:soar/absent' was not found"):
            resolve("keyring:soar/absent")
        with pytest.raises(SecretError, match="keyring:SERVICE/NAME"):
            resolve("keyring:no-slash")
    finally:
        keyring.set_keyring(old)


@pytest.mark.parametrize("ref, module, extra", [("keyring:a/b", "keyring", "keyring"),
                                                ("keyvault:v/n", "azure.keyvault.secrets", "keyvault")])
def test_missing_optional_library_says_what_to_install(monkeypatch, ref, module, extra):
    monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed
    with pytest.raises(SecretError) as info:
        resolve(ref)
    assert f"pip install 'soar-runner[{extra}]'" in str(info.value) and ref in str(info.value)


def test_keyvault_reference_through_a_simulated_vault():
    pytest.importorskip("azure.keyvault.secrets")
    identity = pytest.importorskip("azure.identity")
    from runner.auth.vaults import configure_keyvault, network_transport
    from runner.sim import SimulatedCloud
    from runner.sim.keyvault import SimulatedKeyVault

    cloud = SimulatedCloud()
    vault = SimulatedKeyVault(cloud, "contoso")
    cloud.mount("*.vault.azure.net", vault)
    vault.set_secret("soarvault", "client-secret", "kv-value-0123")
    # real azure-identity and azure-keyvault-secrets, their HTTP routed into the simulator
    credential = identity.ClientSecretCredential(cloud.tenant("contoso").id, cloud.app.client_id,
                                                 cloud.app.secret.reveal(),
                                                 transport=network_transport(cloud.network()))
    configure_keyvault(credential=credential, network=cloud.network())
    try:
        assert resolve("keyvault:soarvault/client-secret").reveal() == "kv-value-0123"
        with pytest.raises(SecretError, match="no secret 'absent' in vault 'soarvault.vault.azure.net'"):
            resolve("keyvault:soarvault/absent")
        with pytest.raises(SecretError, match="VAULT/NAME"):
            resolve("keyvault:just-a-vault")
    finally:
        configure_keyvault()
        credential.close()
    assert vault.calls >= 2 and cloud.token_requests["contoso"] == 1  # challenge, then the secret
