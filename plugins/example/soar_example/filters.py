"""Expression filters (``register_filters``): pure functions of plain data, used in playbooks as
``${{ value | name(args) }}``."""

from __future__ import annotations

import ipaddress
from typing import Any


def is_internal_ip(value: Any) -> bool:
    """``${{ '10.1.2.3' | is_internal_ip }}`` → true (private, loopback or link-local)."""
    try:
        ip = ipaddress.ip_address(str(value).strip())
    except ValueError:
        return False
    return ip.is_private or ip.is_loopback or ip.is_link_local


def acme_risk(score: Any, high: int = 70, medium: int = 40) -> str:
    """``${{ steps.lookup.output.score | acme_risk }}`` → ``high`` (≥ 70), ``medium`` (≥ 40) or
    ``low``; the thresholds are arguments: ``acme_risk(80, 50)``."""
    try:
        value = float(score)
    except (TypeError, ValueError):
        return "low"
    return "high" if value >= high else "medium" if value >= medium else "low"


FILTERS = {"is_internal_ip": is_internal_ip, "acme_risk": acme_risk}
