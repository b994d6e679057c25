"""Webhook checks: who may call (HMAC-SHA256 signature or bearer token), how big a body may be,
whether it is JSON, and which key deduplicates it. Pure functions of the request's parts, so the
HTTP layer (``runner.serve.app``) stays a thin shell.

Signatures are GitHub's: ``X-Hub-Signature-256: sha256=<hex of HMAC-SHA256(secret, raw body)>``.
Every comparison is constant-time (:func:`hmac.compare_digest`). Secrets are
:class:`~runner.secrets.Secret` values resolved when the playbook is loaded; their values are
revealed only to compute a digest and never logged.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any, Mapping

from runner.secrets import Secret

SIGNATURE_HEADER = "x-hub-signature-256"
DEFAULT_BODY_LIMIT = 1024 * 1024  # 1 MiB


@dataclass(frozen=True)
class HookAuth:
    """The credentials a webhook requires: a signing secret, a bearer token, or both."""

    secret: Secret | None = None
    token: Secret | None = None

    def check(self, body: bytes, headers: Mapping[str, str]) -> bool:
        """True when every configured credential is present and right."""
        if self.secret is None and self.token is None:
            return False  # never open: the catalog refuses such a webhook anyway
        ok = True
        if self.secret is not None:
            ok &= check_signature(self.secret, body, headers.get(SIGNATURE_HEADER))
        if self.token is not None:
            ok &= check_bearer(self.token, headers.get("authorization"))
        return ok


def sign(secret: str | Secret, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` value for ``body`` (what a sender computes)."""
    key = secret.reveal() if isinstance(secret, Secret) else secret
    return "sha256=" + hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


def check_signature(secret: Secret, body: bytes, header: str | None) -> bool:
    if not header:
        return False
    expected = sign(secret, body)
    return hmac.compare_digest(expected.encode(), header.strip().lower().encode())


def check_bearer(token: Secret, header: str | None) -> bool:
    if not header:
        return False
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(token.reveal().encode(), given.strip().encode())


class BadPayload(ValueError):
    """The body is not JSON (HTTP 400)."""


def parse_json(body: bytes) -> Any:
    """The JSON document in ``body``; raises :class:`BadPayload` with a short reason."""
    if not body.strip():
        raise BadPayload("the body is empty; send a JSON document")
    try:
        return json.loads(body)
    except UnicodeDecodeError:
        raise BadPayload("the body is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise BadPayload(f"the body is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None


def dedup_key(spec: str | None, headers: Mapping[str, str], payload: Any) -> str | None:
    """The event's deduplication key: ``header:NAME`` reads a header, anything else is a
    dotted path into the JSON payload (``delivery.id``, ``items.0.id``). None when absent."""
    if not spec:
        return None
    if spec.lower().startswith("header:"):
        value = headers.get(spec[len("header:"):].strip().lower())
        return value or None
    value = payload
    for part in spec.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    if value is None or isinstance(value, (dict, list)):
        return None if value is None else json.dumps(value, sort_keys=True)
    return str(value)


def hook_url_path(path: str) -> str:
    """The URL path a playbook's ``webhook.path`` is served at: under ``/hooks``."""
    path = "/" + path.strip("/")
    return path if path == "/hooks" or path.startswith("/hooks/") else "/hooks" + path
