"""The app's credential: a client secret or a certificate (client assertion).

Resolved from its secret references the first time a token is requested, never earlier.
"""

from __future__ import annotations

import base64
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from runner import secrets
from runner.errors import ConfigError
from runner.secrets import Secret

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@dataclass(frozen=True)
class AppCredential:
    """``kind`` is ``secret`` or ``certificate``; ``description`` names the reference, not the value."""

    kind: str
    description: str
    secret: Secret | None = None
    private_key: Secret | None = None
    thumbprint_sha1: str | None = None  # hex
    certificate_pem: str | None = None

    @classmethod
    def from_config(cls, app: Any) -> "AppCredential":
        if app.client_secret:
            value = secrets.resolve(app.client_secret, name="client_secret")
            return cls("secret", f"client secret ({app.client_secret})", secret=value)
        cert = app.certificate
        key = secrets.resolve(cert.private_key, name="certificate.private_key")
        cert_pem = None
        thumbprint = (cert.thumbprint or "").replace(":", "").lower() or None
        if cert.certificate:
            cert_pem = secrets.resolve(cert.certificate, name="certificate.certificate").reveal()
            try:
                parsed = x509.load_pem_x509_certificate(cert_pem.encode())
            except ValueError:
                raise ConfigError(f"`app.certificate.certificate` ({cert.certificate}) is not a PEM certificate",
                                  hint="give the PEM file of the certificate uploaded to the app registration") from None
            thumbprint = thumbprint or parsed.fingerprint(hashes.SHA1()).hex()  # noqa: S303 - x5t is SHA-1 by spec
        try:
            serialization.load_pem_private_key(key.reveal().encode(), password=None)
        except (ValueError, TypeError):
            raise ConfigError(f"`app.certificate.private_key` ({cert.private_key}) is not an unencrypted PEM private key",
                              hint="export the key as PEM without a passphrase (openssl pkey -in key.pem -out plain.pem)") from None
        return cls("certificate", f"certificate {thumbprint.upper() if thumbprint else ''} ({cert.private_key})",
                   private_key=key, thumbprint_sha1=thumbprint, certificate_pem=cert_pem)

    def for_msal(self) -> Any:
        """msal's ``client_credential``: the secret string, or the certificate dict."""
        if self.kind == "secret":
            return self.secret.reveal()  # type: ignore[union-attr]
        cred: dict[str, Any] = {"private_key": self.private_key.reveal()}  # type: ignore[union-attr]
        if self.certificate_pem:
            cred["public_certificate"] = self.certificate_pem  # msal signs PS256 with x5t#S256 + x5c
        else:
            cred["thumbprint"] = self.thumbprint_sha1  # msal signs RS256 with x5t (SHA-1)
        return cred

    def form_fields(self, client_id: str, token_endpoint: str) -> dict[str, str]:
        """The credential fields of a v1 ``/oauth2/token`` form POST."""
        if self.kind == "secret":
            return {"client_secret": self.secret.reveal()}  # type: ignore[union-attr]
        return {"client_assertion_type": ASSERTION_TYPE,
                "client_assertion": self.assertion(client_id, token_endpoint)}

    def assertion(self, client_id: str, audience: str, lifetime: int = 600) -> str:
        """An RS256 client-assertion JWT with the ``x5t`` (SHA-1 thumbprint) header."""
        now = int(time.time())
        x5t = base64.urlsafe_b64encode(bytes.fromhex(self.thumbprint_sha1 or "")).rstrip(b"=").decode()
        claims = {"aud": audience, "iss": client_id, "sub": client_id, "jti": str(uuid.uuid4()),
                  "nbf": now, "iat": now, "exp": now + lifetime}
        return jwt.encode(claims, self.private_key.reveal(), algorithm="RS256",  # type: ignore[union-attr]
                          headers={"x5t": x5t, "typ": "JWT"})
