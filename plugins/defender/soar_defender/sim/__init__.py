"""Simulated Microsoft Defender XDR, Defender for Endpoint and Graph security APIs.

``SimulatedCloud()`` mounts a :class:`DefenderSim` on every Defender and Graph host; reach it as
``cloud.defender``. See ``docs/simulator.md`` for the knobs.
"""

from __future__ import annotations

from soar_defender.sim.clock import SimClock
from soar_defender.sim.faults import FaultRule, Faults
from soar_defender.sim.quotas import Quotas
from soar_defender.sim.service import HOSTS, ApiError, DefenderConfig, DefenderSim
from soar_defender.sim.state import TenantData, TenantSettings

__all__ = ["HOSTS", "ApiError", "DefenderConfig", "DefenderSim", "FaultRule", "Faults", "Quotas",
           "SimClock", "TenantData", "TenantSettings"]
