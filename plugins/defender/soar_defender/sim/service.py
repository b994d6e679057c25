"""The Defender/Graph security API simulator: routing, tokens, quotas, faults, request log.

One sync handler ``(httpx.Request) -> httpx.Response`` serves every API host (the simulated
cloud mounts it on each of :data:`soar_defender.sim.hosts.HOSTS`). Per request: find the route,
check the bearer token (``cloud.verify_bearer``) and the application role, apply faults, count
the call against the quota, run the route under the lock, log it. Route functions live in
``routes_xdr``, ``routes_mde`` and ``routes_graph``.
"""

from __future__ import annotations

import random
import re
import threading
import time
import uuid
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any, Callable
from urllib.parse import parse_qsl, unquote

import httpx

from soar_defender.sim.clock import SimClock, iso
from soar_defender.sim.faults import AFTER, Faults
from soar_defender.sim.hosts import GRAPH_HOSTS, MDE_HOSTS
from soar_defender.sim.odata import ODataError
from soar_defender.sim.quotas import Quotas
from soar_defender.sim.state import ActionTiming, Sizes, TenantData, TenantSettings, build_tenant

if TYPE_CHECKING:  # pragma: no cover
    from runner.sim.cloud import SimulatedCloud



@dataclass
class DefenderConfig:
    """Knobs of the simulator (also accepted as keywords by :class:`DefenderSim`)."""

    seed: int = 0
    devices_per_tenant: int = 25
    incidents_per_tenant: int = 12
    alerts_per_tenant: int = 30
    indicators_per_tenant: int = 6
    tenant_devices: dict[str, int] = field(default_factory=dict)  # per-tenant device count, e.g. {"empty": 0}
    time_scale: float = 60.0            # simulated seconds per real second (0 = only advance())
    start: float | None = None          # simulated start time (Unix seconds); default: now
    quotas: bool = True
    quota_limits: dict[str, list[tuple[int, float]]] | None = None
    xdr_next_link: bool = False         # UNCONFIRMED: default per tenant, see TenantSettings
    duplicate_action: str = "error"     # "error" | "pending"
    duplicate_code: str = "ActiveRequestAlreadyExists"
    action_pending_seconds: float = 60.0
    action_running_seconds: float = 120.0
    action_failure_rate: float = 0.0
    graph_page_size: int = 50
    max_indicators: int = 15000
    hunting_events_per_device: int = 50  # size of the generated hunting tables (soar_defender.kql.tables)
    hunting_max_rows: int = 100_000
    hunting_max_result_bytes: dict[str, int] = field(default_factory=dict)  # per API; defaults 50/124/124 MB
    hunting_cpu_seconds: float | None = None  # CPU seconds per tenant per 15 min; None = unlimited
    hunting_external_data: dict[str, str] = field(default_factory=dict)  # externaldata: URL -> local copy


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class Route:
    method: str
    pattern: str
    family: str                      # "xdr" | "mde" | "graph": which hosts serve it
    api: str                         # which token audience it wants
    roles: tuple[str, ...] | Callable[["Call"], tuple[str, ...]]  # any one of them
    bucket: str
    fn: Callable[["Call"], Any]
    regex: re.Pattern = field(init=False)

    def __post_init__(self) -> None:
        self.regex = re.compile("^" + self.pattern + "$", re.IGNORECASE)


@dataclass
class Call:
    sim: "DefenderSim"
    request: httpx.Request
    host: str
    path: str
    query: dict[str, str]
    params: dict[str, str]
    tenant: TenantData
    claims: dict
    entry: dict

    @property
    def now(self) -> float:
        return self.sim.clock.now()

    @property
    def requestor(self) -> str:
        return str(self.claims.get("appid") or self.claims.get("azp") or "unknown")

    def body(self) -> dict:
        import json

        try:
            value = json.loads(self.request.content or b"null")
        except ValueError as exc:
            raise ApiError(400, "InvalidRequestBody", f"Request body is not valid JSON: {exc}") from exc
        if not isinstance(value, dict):
            raise ApiError(400, "InvalidRequestBody", "Request body must be a JSON object")
        return value

    def context(self, entity: str) -> str:
        if self.host in GRAPH_HOSTS:
            return f"https://{self.host}/v1.0/$metadata#{entity}"
        return f"https://{self.host}/api/$metadata#{entity}"


def error_response(status: int, code: str, message: str, graph: bool = False,
                   headers: dict | None = None) -> httpx.Response:
    tracking = str(uuid.uuid4())
    if graph:
        body = {"error": {"code": code, "message": message,
                          "innerError": {"date": iso(time.time())[:19], "request-id": tracking,
                                         "client-request-id": tracking}}}
    else:
        body = {"error": {"code": code, "message": message, "target": tracking}}
    return httpx.Response(status, json=body, headers=headers)


class DefenderSim:
    """Simulated Defender XDR, Defender for Endpoint and Graph security APIs for a cloud's tenants."""

    def __init__(self, cloud: "SimulatedCloud", config: DefenderConfig | None = None, **knobs: Any) -> None:
        names = {f.name for f in fields(DefenderConfig)}
        unknown = set(knobs) - names
        if unknown:
            raise TypeError(f"unknown DefenderSim option(s): {', '.join(sorted(unknown))}")
        self.cloud = cloud
        self.config = replace(config or DefenderConfig(), **knobs)
        self.clock = SimClock(self.config.time_scale, self.config.start)
        self.quotas = Quotas(self.clock.now, self.config.quotas, self.config.quota_limits)
        self.faults = Faults(seed=self.config.seed)
        self.timing = ActionTiming(self.config.action_pending_seconds, self.config.action_running_seconds,
                                   self.config.action_failure_rate)
        # Advanced hunting (soar_defender.sim.hunting): the KQL evaluator over each tenant's seeded
        # tables. Replaceable by any fn(tenant_data, api, body) -> dict | httpx.Response; None = 501.
        from soar_defender.sim.hunting import HuntingSim

        self.hunting: Callable[[TenantData, str, dict], Any] | None = HuntingSim(
            self, events_per_device=self.config.hunting_events_per_device, max_rows=self.config.hunting_max_rows,
            max_result_bytes=self.config.hunting_max_result_bytes, cpu_seconds=self.config.hunting_cpu_seconds,
            external_data=self.config.hunting_external_data)
        self.log: list[dict] = []
        self._tenants: dict[str, TenantData] = {}
        self._rng = random.Random(f"{self.config.seed}/actions")
        self._lock = threading.RLock()
        from soar_defender.sim import routes_graph, routes_mde, routes_xdr

        self.routes: list[Route] = [*routes_xdr.ROUTES, *routes_mde.ROUTES, *routes_graph.ROUTES]

    # ---- data --------------------------------------------------------------------------------

    def tenant(self, name: str) -> TenantData:
        """The tenant's data (built on first use; ``KeyError`` for a tenant the cloud lacks)."""
        with self._lock:
            data = self._tenants.get(name)
            if data is None:
                sim_tenant = self.cloud.tenants[name]
                c = self.config
                sizes = Sizes(c.tenant_devices.get(name, c.devices_per_tenant), c.incidents_per_tenant,
                              c.alerts_per_tenant, c.indicators_per_tenant)
                settings = TenantSettings(c.xdr_next_link, c.duplicate_action, c.duplicate_code)
                data = self._tenants[name] = build_tenant(name, sim_tenant.id, c.seed, sizes,
                                                          self.clock.start, settings)
            data.tick(self.clock.now(), self.timing)
            return data

    def tick(self) -> None:
        """Bring every built tenant's machine actions up to the simulated now."""
        with self._lock:
            for data in self._tenants.values():
                data.tick(self.clock.now(), self.timing)

    def summary(self, tenant: str) -> list[tuple[str, str, Any]]:
        """What this simulator saw a run do in ``tenant`` (``soar demo``'s summary): the devices
        isolated now, by name, and the machine actions by type and status."""
        self.tick()  # bring machine actions up to the simulated now
        data = self.tenant(tenant)
        actions: dict[str, dict[str, int]] = {}
        for rec in data.actions:
            by = actions.setdefault(rec.data["type"], {})
            by[rec.data["status"]] = by.get(rec.data["status"], 0) + 1
        isolated = sorted((data.device(mid) or {}).get("computerDnsName", mid) for mid in data.isolated)
        return [("devices_isolated", "devices isolated", isolated),
                ("machine_actions", "machine actions",
                 {kind: dict(sorted(by.items())) for kind, by in sorted(actions.items())})]

    def advance(self, seconds: float) -> None:
        """Advance the simulated clock and progress machine actions."""
        self.clock.advance(seconds)
        self.tick()

    def next_rng(self) -> random.Random:
        return self._rng

    # ---- injecting data (late, out-of-order and updated items; see soar_defender.sim.inject) -

    def add_incident(self, tenant: str, **kw: Any) -> dict:
        """Add an incident (``incident_id``, ``name``, ``status``, ``severity``, ``created``,
        ``last_update``, ``alerts``=1); a past ``last_update`` is a late arrival. Returns a copy."""
        from soar_defender.sim import inject

        with self._lock:
            return dict(inject.add_incident(self.tenant(tenant), self._rng, now=self.clock.now(),
                                            seed=self.config.seed, **kw))

    def touch_incident(self, tenant: str, incident_id: int | str, *, last_update: Any = None,
                       **changes: Any) -> dict:
        """Update an incident (``status=``, ``severity=``...) and set its ``lastUpdateTime``
        (default: the simulated now; a past time is an update delivered late). Returns a copy."""
        from soar_defender.sim import inject

        with self._lock:
            return dict(inject.touch_incident(self.tenant(tenant), incident_id, now=self.clock.now(),
                                              last_update=last_update, **changes))

    def add_alert(self, tenant: str, **kw: Any) -> dict:
        """Add an MDE alert (``incident_id``, ``created``, ``last_update``, ``severity``, ``status``,
        ``title``, ``category``, ``machine_id``); without ``incident_id`` it gets its own incident."""
        from soar_defender.sim import inject

        with self._lock:
            return dict(inject.add_alert(self.tenant(tenant), self._rng, now=self.clock.now(),
                                         seed=self.config.seed, **kw))

    def touch_alert(self, tenant: str, alert_id: str, *, last_update: Any = None, **changes: Any) -> dict:
        """Update an alert and set its ``lastUpdateTime`` (default: the simulated now)."""
        from soar_defender.sim import inject

        with self._lock:
            return dict(inject.touch_alert(self.tenant(tenant), alert_id, now=self.clock.now(),
                                           last_update=last_update, **changes))

    # ---- request log -------------------------------------------------------------------------

    def requests(self, **match: Any) -> list[dict]:
        """Logged requests matching every given key; ``path_suffix=`` matches the path's end."""
        suffix = match.pop("path_suffix", None)
        with self._lock:
            return [e for e in self.log if (suffix is None or e["path"].endswith(suffix))
                    and all(e.get(k) == v for k, v in match.items())]

    def count(self, **match: Any) -> int:
        """How many logged requests match, e.g. ``count(method="POST", path_suffix="/isolate")``."""
        return len(self.requests(**match))

    def clear_log(self) -> None:
        with self._lock:
            self.log.clear()

    # ---- hosting -----------------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host.lower()
        family = "graph" if host in GRAPH_HOSTS else "mde" if host in MDE_HOSTS else "xdr"
        # routed on the path as sent, segment by segment, as ASP.NET Core does: an escaped '/'
        # (%2F) inside a segment stays in that segment (route values are unescaped after matching)
        raw = request.url.raw_path.split(b"?", 1)[0].decode("ascii")
        path = re.sub(r"^/api/v1\.0/", "/api/", raw).rstrip("/") or "/"
        query = dict(parse_qsl(request.url.query.decode() if isinstance(request.url.query, bytes)
                               else str(request.url.query), keep_blank_values=True))
        entry: dict[str, Any] = {"method": request.method, "host": host, "path": path, "query": query,
                                 "tenant": None, "status": None, "api": None, "machine_id": None,
                                 "action_type": None, "action_id": None, "fault": None, "effect": False,
                                 "time": self.clock.now()}
        try:
            response = self._dispatch(request, family, host, path, query, entry)
        finally:
            with self._lock:
                self.log.append(entry)
        if self.faults.latency:
            time.sleep(self.faults.latency)
        return response

    def _dispatch(self, request: httpx.Request, family: str, host: str, path: str, query: dict,
                  entry: dict) -> httpx.Response:
        graph = family == "graph"
        route, params = self._find(request.method, family, path)
        if route is None:
            entry["status"] = 404
            return error_response(404, "NotFound" if not graph else "UnknownError",
                                  f"No simulated API route for {request.method} {path}", graph)
        entry["api"] = route.api
        claims = self.cloud.verify_bearer(request.headers.get("authorization"), route.api)
        if claims is None:
            entry["status"] = 401
            return error_response(401, "Unauthorized" if not graph else "InvalidAuthenticationToken",
                                  "Access token is missing, invalid, expired or for another resource", graph)
        sim_tenant = self.cloud.find_tenant(str(claims.get("tid", "")))
        if sim_tenant is None:  # pragma: no cover - verify_bearer already needs the tenant
            entry["status"] = 401
            return error_response(401, "Unauthorized", "Unknown tenant", graph)
        entry["tenant"] = sim_tenant.name
        tenant = self.tenant(sim_tenant.name)
        call = Call(self, request, host, path, query, params, tenant, claims, entry)
        roles = route.roles(call) if callable(route.roles) else route.roles
        held = set(claims.get("roles") or [])
        if roles and not held.intersection(roles):
            entry["status"] = 403
            return error_response(403, "Forbidden", "Missing application roles. API required roles: "
                                  + ", ".join(roles) + ".", graph)
        fault = self.faults.pick(request.method, host, path, sim_tenant.name, query)
        if fault is not None and fault.when != AFTER:
            entry["fault"] = "timeout" if fault.timeout else fault.status
            if fault.timeout:
                entry["status"] = "timeout"
                raise httpx.ReadTimeout("simulated timeout (before the request took effect)", request=request)
            entry["status"] = fault.status
            return self._fault_response(fault, graph)
        wait = self.quotas.check(sim_tenant.name, route.bucket)
        if wait is not None:
            entry["status"] = 429
            return self._throttled(route, wait, graph)
        with self._lock:
            try:
                result = route.fn(call)
                response = result if isinstance(result, httpx.Response) else httpx.Response(200, json=result)
            except ODataError as exc:
                response = error_response(400, "ODataError" if not graph else "BadRequest", str(exc), graph)
            except ApiError as exc:
                response = error_response(exc.status, exc.code, exc.message, graph)
        entry["effect"] = request.method != "GET" and response.status_code < 300
        entry["status"] = response.status_code
        if fault is not None:  # AFTER: the request took effect, the client does not learn it
            entry["fault"] = "timeout-after" if fault.timeout else f"{fault.status}-after"
            if fault.timeout:
                entry["status"] = "timeout"
                raise httpx.ReadTimeout("simulated timeout (after the request took effect)", request=request)
            entry["status"] = fault.status
            return self._fault_response(fault, graph)
        return response

    def _find(self, method: str, family: str, path: str) -> tuple[Route | None, dict]:
        for route in self.routes:
            if route.method != method:
                continue
            if route.family != family and not (family == "xdr" and route.family == "mde"):
                continue
            m = route.regex.match(path)
            if m:
                return route, {k: unquote(v) for k, v in m.groupdict().items()}
        return None, {}

    def _fault_response(self, fault: Any, graph: bool) -> httpx.Response:
        status = fault.status or 500
        headers = {"Retry-After": str(int(fault.retry_after))} if fault.retry_after else None
        code = {429: "TooManyRequests", 503: "ServiceUnavailable", 504: "GatewayTimeout"}.get(
            status, "InternalServerError")
        return error_response(status, code, f"Simulated fault: HTTP {status}", graph, headers)

    def _throttled(self, route: Route, wait_sim: float, graph: bool) -> httpx.Response:
        seconds = Quotas.retry_after(self.clock.to_real(wait_sim))
        limits = ", ".join(f"{n} per {int(w)} s" for n, w in self.quotas.limits.get(route.bucket, []))
        if route.family == "xdr" and route.api == "xdr":  # XDR: the body says when the quota resets
            resets = iso(self.clock.now() + wait_sim)
            return error_response(429, "TooManyRequests", f"API calls quota exceeded! Maximum allowed {limits}. "
                                  f"Quota resets at {resets} (try again in {seconds} seconds).", graph)
        return error_response(429, "TooManyRequests", f"Rate limit is exceeded ({limits}). "
                              f"Try again in {seconds} seconds.", graph, {"Retry-After": str(seconds)})


def paged(call: Call, items: list[dict], entity: str, *, max_top: int, default_top: int | None = None,
          next_link: bool = False) -> dict:
    """``{"@odata.context", "value"}`` for one ``$top``/``$skip`` page, plus ``@odata.nextLink`` when
    ``next_link`` and more items remain (the link repeats the query with the next ``$skip``)."""
    from urllib.parse import urlencode

    from soar_defender.sim.odata import page_params

    top, skip = page_params(call.query, max_top, default_top)
    end = len(items) if top is None else skip + top
    body: dict[str, Any] = {"@odata.context": call.context(entity), "value": items[skip:end]}
    if next_link and end < len(items):
        query = {**call.query, "$skip": str(end)}
        if top is not None:
            query["$top"] = str(top)
        body["@odata.nextLink"] = str(call.request.url.copy_with(query=urlencode(query).encode()))
    return body
