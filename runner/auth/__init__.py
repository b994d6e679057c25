"""Tokens from Entra ID: the one place msal and pyjwt are used.

- :class:`TokenProvider` — client credentials (secret or certificate) for every tenant, one
  msal app per (cloud, tenant), one shared persisted cache, single-flight requests,
  refresh ahead of expiry, pyjwt validation, pre-flight role checks.
- :class:`AccessToken` — what :meth:`TokenProvider.get_token` returns; its value is a
  :class:`runner.secrets.Secret`.
- :func:`consent_urls` — the admin-consent links for a tenant.

Tokens are for any API a plugin registers with an Entra ID resource (``register_apis``,
:class:`runner.apis.spec.EntraResource`): the provider takes that registry.

Submodules: ``clouds`` (Entra ID authority and login hosts per cloud), ``resources`` (the
registered APIs' token resources and audiences), ``entra_errors`` (Entra error codes →
messages), ``validation`` (pyjwt), ``cache`` (the persisted token cache), ``vaults``
(``keyring:`` and ``keyvault:`` secret references). Attributes load lazily so that
:mod:`runner.config` can use ``vaults`` without importing msal.
"""

from __future__ import annotations

from typing import Any

__all__ = ["TokenProvider", "AccessToken", "ConsentUrls", "consent_urls", "BearerAuth"]

_LAZY = {
    "TokenProvider": "runner.auth.provider",
    "AccessToken": "runner.auth.token",
    "BearerAuth": "runner.auth.bearer",
    "ConsentUrls": "runner.auth.consent",
    "consent_urls": "runner.auth.consent",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'runner.auth' has no attribute {name!r}")
