"""Simulated Microsoft Defender XDR, Defender for Endpoint and Graph security APIs.

``SimulatedCloud()`` mounts a :class:`DefenderSim` on every Defender and Graph host; reach it as
``cloud.defender``. See ``docs/simulator.md`` for the knobs.
"""

from __future__ import annotations

from runner.sim.defender.clock import SimClock
from runner.sim.defender.faults import FaultRule, Faults
from runner.sim.defender.quotas import Quotas
from runner.sim.defender.service import HOSTS, ApiError, DefenderConfig, DefenderSim
from runner.sim.defender.state import TenantData, TenantSettings

__all__ = ["HOSTS", "ApiError", "DefenderConfig", "DefenderSim", "FaultRule", "Faults", "Quotas",
           "SimClock", "TenantData", "TenantSettings"]
