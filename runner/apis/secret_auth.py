"""The credentials of an API registered with :class:`~runner.apis.spec.SecretAuth`: an API key
(a header or a query parameter), a bearer secret or basic ``user:password``.

Which secret: the reference in soar.yaml — ``tenants.<tenant>.credentials.<api>`` first, then
the top-level ``credentials.<api>`` — else the spec's ``default_ref``; none is a
:class:`ConfigError` naming the API and the key to set. The reference is resolved once per
(tenant, api) on the first request (off the event loop: a vault may be asked), into a
:class:`runner.secrets.Secret`, so its value is masked wherever it would show up as text; it is
never logged nor put in an error.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from typing import Any

from runner import secrets
from runner.apis.spec import ApiSpec, SecretAuth
from runner.errors import ConfigError, Location, SecretError

log = logging.getLogger("soar.apis")

__all__ = ["SecretCredential", "secret_reference"]


def secret_reference(config: Any, tenant: str | None, spec: ApiSpec) -> tuple[str, str]:
    """(reference, where it comes from) of the secret of ``spec``'s API for ``tenant``.
    :class:`ConfigError` when soar.yaml names none and the spec has no ``default_ref``."""
    api = spec.name
    tenants = getattr(config, "tenants", None) or {}
    if tenant is not None and tenant in tenants:
        ref = (getattr(tenants[tenant], "credentials", None) or {}).get(api)
        if ref:
            return ref, f"tenants.{tenant}.credentials.{api}"
    ref = (getattr(config, "credentials", None) or {}).get(api) if config is not None else None
    if ref:
        return ref, f"credentials.{api}"
    auth = spec.auth
    if isinstance(auth, SecretAuth) and auth.default_ref:
        return auth.default_ref, f"the default of API '{api}'"
    for_tenant = f" for tenant '{tenant}'" if tenant else ""
    raise ConfigError(
        f"no credentials for {spec.title} (API '{api}'){for_tenant}: soar.yaml names no secret for it",
        where=Location(tenant=tenant) if tenant else None,
        hint=f"set `credentials.{api}: env:NAME` in soar.yaml (every tenant) or `tenants.{tenant or '<tenant>'}"
             f".credentials.{api}` (one tenant); any secret reference works (env:, file:, keyring:, keyvault:)")


class _MaskSecrets(logging.Filter):
    """On httpx's logger: its request line carries the whole URL, so an API key sent as a query
    parameter would be in it. Known secret values are masked in the record before any handler
    sees it (a filter runs only for records the logger's level lets through)."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        clean = secrets.redact(text)
        if clean != text:
            record.msg, record.args = clean, ()
        return True


def _mask_httpx_log() -> None:
    logger = logging.getLogger("httpx")
    if not any(isinstance(f, _MaskSecrets) for f in logger.filters):
        logger.addFilter(_MaskSecrets())


class SecretCredential:
    """What a request to a :class:`SecretAuth` API carries, for one (tenant, api).

    ``header_name``: the header :meth:`header` fills (``None`` for an API key sent in the query
    parameter ``query_name``). Made by :class:`~runner.apis.factory.ApiClients`, one per client."""

    __slots__ = ("config", "tenant", "spec", "header_name", "query_name", "_value", "_secret")

    def __init__(self, config: Any, tenant: str | None, spec: ApiSpec) -> None:
        auth = spec.auth
        assert isinstance(auth, SecretAuth)
        self.config = config
        self.tenant = tenant
        self.spec = spec
        if auth.scheme == "api_key":
            self.header_name = None if auth.query else auth.header
            self.query_name = auth.query
            if auth.query:
                _mask_httpx_log()
        else:
            self.header_name, self.query_name = "Authorization", None
        self._value: str | None = None
        self._secret: secrets.Secret | None = None

    async def _resolve(self) -> secrets.Secret:
        ref, where = secret_reference(self.config, self.tenant, self.spec)
        try:
            return await asyncio.to_thread(secrets.resolve, ref, f"credentials.{self.spec.name}")
        except SecretError as exc:
            # say where the reference came from, and where else the secret may be named
            api = self.spec.name
            exc.hint = (f"{exc.hint}; the reference is {where}" if exc.hint else f"the reference is {where}") + \
                (f"; or name another in soar.yaml: `credentials.{api}`" if where.startswith("the default") else "")
            raise

    def _wire(self, secret: secrets.Secret) -> str:
        """The header (or query) value for ``secret``; a form that differs from the secret
        (base64 of basic credentials) is registered for redaction too."""
        scheme = self.spec.auth.scheme  # type: ignore[union-attr]
        value = secret.reveal()
        if scheme == "bearer":
            return f"Bearer {value}"
        if scheme == "basic":
            encoded = base64.b64encode(value.encode()).decode()
            secrets.register_value(encoded)
            return f"Basic {encoded}"
        return value

    async def header(self) -> str:
        """The value to send (resolved on the first call; concurrent first calls may each resolve
        it, which is harmless)."""
        value = self._value
        if value is None:
            self._secret = await self._resolve()
            value = self._value = self._wire(self._secret)
        return value

    async def refreshed(self) -> str | None:
        """After a 401: the reference resolved again — the new value when the secret was rotated,
        ``None`` when it is the same (sending it again would be refused again)."""
        fresh = await self._resolve()
        if self._secret is not None and fresh == self._secret:
            return None
        log.info("API %s answered 401 for %s: its secret changed, retrying once", self.spec.name, self.tenant)
        self._secret, self._value = fresh, self._wire(fresh)
        return self._value
