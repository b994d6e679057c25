"""Who the simulated Entra ID knows: tenants (:class:`SimTenant`), their signing keys
(:class:`SimKey`) and the demo app registration (:class:`SimApp`), kept under ``state_dir``
when one is given so that a restarted simulated cloud signs and accepts the same tokens.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets as _random
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from runner.secrets import Secret

__all__ = ["SimApp", "SimKey", "SimTenant", "b64", "load_app", "signing_key"]

_KEY_POOL: dict[str, rsa.RSAPrivateKey] = {}  # generated keys reused within a process (speed)
_KEY_LOCK = threading.Lock()


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class SimKey:
    """A tenant signing key; ``kid`` is derived from the public key."""

    private: rsa.RSAPrivateKey
    kid: str = ""

    def __post_init__(self) -> None:
        der = self.private.public_key().public_bytes(serialization.Encoding.DER,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo)
        self.kid = self.kid or b64(hashlib.sha1(der).digest())  # noqa: S324 - an id, like Entra's x5t

    def jwk(self) -> dict:
        data = json.loads(RSAAlgorithm.to_jwk(self.private.public_key()))
        return {**data, "kid": self.kid, "x5t": self.kid, "use": "sig", "alg": "RS256"}


@dataclass
class SimTenant:
    """A simulated tenant and what it grants the demo app (``roles``: API → application roles)."""

    name: str
    id: str
    cloud: str = "commercial"
    consented: bool = True
    roles: dict[str, set[str]] = field(default_factory=dict)
    provisioned: dict[str, bool] = field(default_factory=dict)
    subscribed: dict[str, bool] = field(default_factory=dict)
    conditional_access_block: bool = False
    keys: list[SimKey] = field(default_factory=list)
    claim_overrides: dict[str, Any] = field(default_factory=dict)

    @property
    def domain(self) -> str:
        return f"{self.name}.onmicrosoft.com"


@dataclass
class SimApp:
    """The demo app registration: its secret and the certificates registered on it."""

    client_id: str
    secret: Secret
    secret_id: str
    secret_expired: bool = False
    certificates: dict[str, Any] = field(default_factory=dict)  # thumbprint (sha1/sha256 b64url) -> public key




def _publish_once(path: Path, data: bytes) -> bytes:
    """Write ``data`` to ``path`` unless another thread or process already did; return what
    ``path`` holds. The file appears whole (a private temporary file hard-linked into place), so a
    concurrent reader never sees it half written, and the first writer wins."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        try:
            os.link(tmp, path)
        except FileExistsError:
            return path.read_bytes()
    finally:
        tmp.unlink(missing_ok=True)
    return data


def load_app(client_id: str, state_dir: Path | None) -> SimApp:
    """The demo app: its secret read from ``state_dir`` (or made, and kept there)."""
    stored = state_dir / "sim-app.json" if state_dir else None
    if not (stored and stored.is_file()):
        value = f"{_random.token_hex(2)[:3]}8Q~{_random.token_urlsafe(30)}"
        made = {"secret": value, "secret_id": str(uuid.uuid4())}
        if not stored:
            return SimApp(client_id, Secret(value, name="sim_client_secret"), made["secret_id"])
        _publish_once(stored, json.dumps(made).encode())
    data = json.loads(stored.read_text())
    return SimApp(client_id, Secret(data["secret"], name="sim_client_secret"), data["secret_id"])


def signing_key(label: str, state_dir: Path | None) -> SimKey:
    """The signing key ``label`` (tenant id and generation): read from ``state_dir``, else the
    process's (generated once per label: key generation is slow), kept in ``state_dir``."""
    path = state_dir / "sim-keys" / f"{label}.pem" if state_dir else None
    if path and path.is_file():
        return SimKey(serialization.load_pem_private_key(path.read_bytes(), password=None))  # type: ignore[arg-type]
    with _KEY_LOCK:
        key = _KEY_POOL.get(label)
        if key is None:
            key = _KEY_POOL[label] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if path:
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        kept = _publish_once(path, pem)
        if kept != pem:  # another process kept its key first: sign with that one
            return SimKey(serialization.load_pem_private_key(kept, password=None))  # type: ignore[arg-type]
    return SimKey(key)
