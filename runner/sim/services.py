"""What a plugin says about a simulated service it registers (``register_sim_services``): the
hosts it answers for in the simulated cloud, how it is built, and what the simulated tenants
grant the demo app on the APIs it serves.

Under ``--simulate``, ``soar sim serve`` and the testing kit, every registered service is built
once per :class:`~runner.sim.cloud.SimulatedCloud` and mounted on its hosts; a request to a host
no service serves fails with :class:`~runner.errors.UnservedHostError` (never an answer that
could read as data). The built service is reachable as ``cloud.services[name]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping

if TYPE_CHECKING:  # pragma: no cover
    from runner.sim.cloud import SimulatedCloud

__all__ = ["SimService"]


@dataclass(frozen=True)
class SimService:
    """One simulated service.

    ``name``: how tests and ``soar sim serve`` options refer to it (``cloud.services[name]``).
    ``hosts``: the host names it serves (``*`` wildcards allowed, e.g. ``*.api.example.com``).
    ``build``: ``build(cloud, options) -> service``; ``options`` is the mapping given for this
    service (``SimulatedCloud(..., services={name: {...}})``, empty by default). The service is
    a callable ``httpx.Request -> httpx.Response`` or has such a ``handle`` method; it may check
    bearer tokens with ``cloud.verify_bearer(...)``.
    ``roles``: API name → the application roles simulated tenants grant the demo app on it.
    ``credentials``: API name → the secret this service accepts for an API that takes one
    (:class:`~runner.apis.spec.SecretAuth`). Under ``--simulate`` and in the testing kit the
    simulated cloud's config names it (``credentials.<api>: sim:<cloud>/<api>``), so such an API
    works offline with nothing to set. Fake values only: ``soar sim serve`` prints them.
    ``demo``: a playbook file (an absolute path, e.g. shipped as package data) that ``soar demo``
    runs against the simulated cloud; the built service may then offer ``summary(tenant)``,
    returning ``[(key, label, value), ...]`` — what the service itself saw the run do in that
    tenant (JSON-able values), shown in the demo's summary and under ``summary.<key>`` of
    ``soar demo --json``.
    """

    name: str
    hosts: tuple[str, ...]
    build: Callable[["SimulatedCloud", Mapping[str, Any]], Any]
    roles: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    credentials: Mapping[str, str] = field(default_factory=dict)
    demo: str | None = None
