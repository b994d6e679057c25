"""The simulated Microsoft cloud: Entra ID (``entra``) plus whatever services are mounted
on it (the Defender and Graph simulators). See :class:`runner.sim.cloud.SimulatedCloud`."""

from __future__ import annotations

from runner.sim.cloud import SimulatedCloud

__all__ = ["SimulatedCloud"]
