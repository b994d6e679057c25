"""The simulated Microsoft cloud: Entra ID (``entra``) plus whatever simulated services the
installed plugins register (``register_sim_services``), mounted on their hosts. See
:class:`runner.sim.cloud.SimulatedCloud`. Names load on first use (importing the package is cheap).
"""

from __future__ import annotations

from runner.lazy import lazy_exports

__all__ = ["SimService", "SimulatedCloud"]

__getattr__, __dir__ = lazy_exports(__name__, __all__, {"SimulatedCloud": "runner.sim.cloud",
                                                         "SimService": "runner.sim.services"})
