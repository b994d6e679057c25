"""Which API serves a tenant when an action or poll source can use several: the one place
this choice is made (actions, polling and pre-flight checks all call :func:`choose_api`)."""

from __future__ import annotations

from typing import Any, Sequence

__all__ = ["choose_api", "tenant_preference"]


def tenant_preference(config: Any, tenant: str | None, key: str | None) -> str | None:
    """The tenant's ``apis.<key>`` from soar.yaml (``tenants.<name>.apis``), or ``None``."""
    if config is None or tenant is None or not key or tenant not in (getattr(config, "tenants", None) or {}):
        return None
    return config.tenant(tenant).apis.get(key)


def choose_api(config: Any, tenant: str | None, options: Sequence[str], *, choice: str | None = None,
               prefer: str | None = None) -> str:
    """``prefer`` when it is one of ``options``; else the tenant's ``apis.<choice>`` when it is one
    of them (only that key: ``apis: {hunting: xdr}`` says nothing about incidents); else the first.
    """
    if not options:
        raise ValueError("no API to choose from")
    if prefer and prefer in options:
        return prefer
    preferred = tenant_preference(config, tenant, choice)
    if preferred in options:
        return preferred  # type: ignore[return-value]
    return options[0]
