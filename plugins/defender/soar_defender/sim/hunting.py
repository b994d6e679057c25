"""Advanced hunting in the simulated tenants: the KQL evaluator behind the three hunting routes.

:class:`HuntingSim` is what ``DefenderSim.hunting`` holds. For each tenant it generates the
hunting tables once (:func:`soar_defender.kql.tables.generate_tables`), from that tenant's seeded
devices and alerts, so a hunt finds the same machines ``/api/machines`` lists and every alert's
evidence shows up as events on its machine. Then, per call (``POST /api/advancedhunting/run``,
``/api/advancedqueries/run``, ``/v1.0/security/runHuntingQuery``):

1. the tenant's **CPU quota** (tenant-wide, every 15 simulated minutes) is checked: used up →
   429 whose *body* names the reset ("... resets at <time> (try again in N seconds)"), no
   ``Retry-After`` header — the case the XDR docs describe ("read the response body");
2. the query runs (:func:`soar_defender.kql.api.hunting_response`): 100,000 rows at most, a result
   above the endpoint's size limit is a 400 "Query execution has exceeded the allowed result
   size...", an unsupported or malformed query a 400 naming operator and position;
3. the query's cost (rows scanned × ``cpu_per_row``) is charged to the CPU quota.

Tests and users can swap a tenant's tables (:meth:`HuntingSim.set_tables`) or use up its CPU
quota (:meth:`HuntingSim.exhaust_cpu`).
"""

from __future__ import annotations

import math
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import httpx

from soar_defender.sim.clock import iso
from soar_defender.sim.quotas import Quotas
from soar_defender.kql import KqlError, Table
from soar_defender.kql.api import hunting_response
from soar_defender.kql.tables import generate_tables, known_bad_hosts

if TYPE_CHECKING:  # pragma: no cover
    from soar_defender.sim.service import DefenderSim
    from soar_defender.sim.state import TenantData

CPU_CYCLE = 900.0  # the CPU quota resets every 15 minutes (Microsoft's advanced hunting API limits)
MB = 1024 * 1024
# Graph documents 50 MB; MDE 124 MB. XDR documents none: it shares MDE's backend, so 124 MB (UNCONFIRMED).
MAX_RESULT_BYTES = {"graph": 50 * MB, "xdr": 124 * MB, "mde": 124 * MB}


def graph_parameters(body: Any) -> Any:
    """Graph's runHuntingQuery parameters under the names the KQL simulator reads. The reference
    page writes ``Query``/``Timespan``; Graph's $metadata (and so Microsoft's SDKs) ``query``,
    ``timespan`` and ``workspaceId``: Graph matches action parameters whatever their case. A
    ``workspaceId`` (a Sentinel workspace) is not simulated: null or absent, the query runs on the
    tenant's Defender tables."""
    if not isinstance(body, dict):
        return body
    names = {"query": "Query", "timespan": "Timespan"}
    out = {names.get(k.lower(), k): v for k, v in body.items() if not (k.lower() == "workspaceid" and v is None)}
    return out


class HuntingSim:
    """The ``DefenderSim.hunting`` hook: ``hunting(tenant_data, api, body) -> httpx.Response``.

    ``events_per_device``: size of the generated tables; ``max_rows``: rows per answer;
    ``max_result_bytes``: per-API overrides of :data:`MAX_RESULT_BYTES`; ``cpu_seconds``:
    simulated CPU seconds per tenant per 15-minute cycle (``None``: unlimited, unless
    :meth:`exhaust_cpu`); ``cpu_per_row``: CPU seconds a query spends per row it scans.
    """

    def __init__(self, sim: "DefenderSim", *, events_per_device: int = 50, max_rows: int = 100_000,
                 max_result_bytes: Mapping[str, int] | None = None, cpu_seconds: float | None = None,
                 cpu_per_row: float = 1e-6, external_data: Mapping[str, str] | None = None) -> None:
        self.sim = sim
        self.external_data = dict(external_data or {})
        self.events_per_device = events_per_device
        self.max_rows = max_rows
        self.max_result_bytes = {**MAX_RESULT_BYTES, **(max_result_bytes or {})}
        self.cpu_seconds = cpu_seconds
        self.cpu_per_row = cpu_per_row
        self._tables: dict[str, dict[str, Table]] = {}
        self._cpu: dict[str, tuple[float, float]] = {}  # tenant -> (cycle start, CPU seconds used)
        self._lock = threading.RLock()

    # ---- data ---------------------------------------------------------------------------------

    def external_copy(self, url: str) -> str | None:
        """The text of the local copy of ``url`` that ``externaldata`` reads (``external_data``:
        URL → file), or None when the simulator was given none. An unreadable copy is a 400 that
        names the file."""
        path = self.external_data.get(url)
        if path is None:
            return None
        try:
            return Path(path).expanduser().read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise KqlError(f"externaldata: the local copy of {url} ({path}) cannot be read: "
                           f"{getattr(exc, 'strerror', None) or exc}", code="SemanticError", line=1,
                           column=1) from None

    def tables(self, tenant: str) -> dict[str, Table]:
        """The tenant's hunting tables (generated on first use from its devices and alerts)."""
        with self._lock:
            found = self._tables.get(tenant)
        return found if found is not None else self._generate(self.sim.tenant(tenant))

    def _generate(self, data: "TenantData") -> dict[str, Table]:
        with self._lock:
            found = self._tables.get(data.name)
            if found is None:
                found = self._tables[data.name] = generate_tables(
                    data.devices, data.alerts, seed=self.sim.config.seed, now=self._now(),
                    events_per_device=self.events_per_device)
            return found

    def set_tables(self, tenant: str, tables: Mapping[str, Table] | None) -> None:
        """Serve ``tables`` for ``tenant`` instead of the generated ones (``None``: generate again)."""
        with self._lock:
            if tables is None:
                self._tables.pop(tenant, None)
            else:
                self._tables[tenant] = dict(tables)

    def known_bad_hosts(self, tenant: str) -> dict[str, list[str]]:
        """SHA256 of each planted known-bad file → the ids of the tenant's devices it ran on."""
        return known_bad_hosts(self.sim.tenant(tenant).devices)

    # ---- CPU quota ----------------------------------------------------------------------------

    def _cycle(self, now: float) -> float:
        return math.floor(now / CPU_CYCLE) * CPU_CYCLE

    def _used(self, tenant: str, now: float) -> float:
        start, used = self._cpu.get(tenant, (self._cycle(now), 0.0))
        return used if start == self._cycle(now) else 0.0

    def exhaust_cpu(self, tenant: str) -> float:
        """Use up ``tenant``'s CPU quota for the current cycle; returns the simulated reset time."""
        now = self.sim.clock.now()
        with self._lock:
            self._cpu[tenant] = (self._cycle(now), math.inf)
        return self._cycle(now) + CPU_CYCLE

    def cpu_used(self, tenant: str) -> float:
        """Simulated CPU seconds ``tenant`` spent in the current 15-minute cycle."""
        with self._lock:
            return self._used(tenant, self.sim.clock.now())

    def _over_quota(self, tenant: str, now: float) -> bool:
        used = self._used(tenant, now)
        return used == math.inf or (self.cpu_seconds is not None and used >= self.cpu_seconds)

    def _charge(self, tenant: str, now: float, seconds: float) -> None:
        self._cpu[tenant] = (self._cycle(now), self._used(tenant, now) + seconds)

    # ---- the hook -----------------------------------------------------------------------------

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.sim.clock.now(), timezone.utc)

    def __call__(self, tenant: "TenantData", api: str, body: Any) -> httpx.Response:
        from soar_defender.sim.service import error_response

        now = self.sim.clock.now()
        graph = api == "graph"
        if graph:
            body = graph_parameters(body)
        with self._lock:
            if self._over_quota(tenant.name, now):
                reset = self._cycle(now) + CPU_CYCLE
                seconds = Quotas.retry_after(self.sim.clock.to_real(reset - now))
                return error_response(
                    429, "TooManyRequests", "Query execution has exceeded the allowed limits: the tenant has used "
                    "100% of its allocated CPU resources for advanced hunting. The CPU quota resets at "
                    f"{iso(reset)} (try again in {seconds} seconds).", graph)
            tables = self._generate(tenant)
            usage: dict = {}
            status, answer = hunting_response(api, body, tables, now=self._now(), max_rows=self.max_rows,
                                              max_result_bytes=self.max_result_bytes.get(api), usage=usage,
                                              external=self.external_copy)
            if usage:
                self._charge(tenant.name, now, usage.get("rows_scanned", 0) * self.cpu_per_row)
        return httpx.Response(status, json=answer)
