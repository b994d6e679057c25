"""Simulated Microsoft Defender XDR, Defender for Endpoint and Graph security APIs.

Registered as the simulated service ``defender`` (``register_sim_services``): every
``SimulatedCloud()`` builds a :class:`DefenderSim` and mounts it on every Defender and Graph
host (:data:`HOSTS`); reach it as ``cloud.defender`` (``cloud.services["defender"]``) and pass
its knobs as ``SimulatedCloud(defender={...})``. See ``docs/simulator.md`` for the knobs.
Names load on first use: reading the hosts imports no simulator module.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["HOSTS", "ROLES", "ApiError", "DefenderConfig", "DefenderSim", "FaultRule", "Faults", "Quotas",
           "SimClock", "TenantData", "TenantSettings"]

_WHERE = {
    "HOSTS": "hosts", "ROLES": "hosts", "SimClock": "clock", "FaultRule": "faults", "Faults": "faults",
    "Quotas": "quotas", "ApiError": "service", "DefenderConfig": "service", "DefenderSim": "service",
    "TenantData": "state", "TenantSettings": "state",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # the next look-up is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


def build(cloud: Any, options: Any) -> Any:
    """The ``defender`` simulated service of ``cloud``: ``options`` is a ``DefenderConfig`` or a
    mapping of its knobs (``devices_per_tenant``, ``quotas``, ``time_scale``...)."""
    from soar_defender.sim.service import DefenderConfig, DefenderSim

    if isinstance(options, DefenderConfig):
        return DefenderSim(cloud, options)
    return DefenderSim(cloud, **dict(options))
