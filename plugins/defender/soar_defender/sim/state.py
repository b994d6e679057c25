"""One tenant's simulated Defender state, and the machine-action state machine.

Incidents are stored in the XDR shape (plus an internal ``alertIds`` list); alerts in the MDE
shape (with ``evidence``); devices in the MDE machine shape. Sim-only device state
(isolation, code-execution restriction, quarantined files) lives beside the devices, since the
real API does not show it on the machine entity. Callers hold the simulator's lock.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from typing import Any

from soar_defender.sim import data
from soar_defender.sim.clock import iso

OPEN = ("Pending", "InProgress")
FINAL = ("Succeeded", "Failed", "TimeOut", "Cancelled")

# URL verb -> (machineAction type, role needed, body keys {name: allowed values or None}, required keys)
ACTIONS: dict[str, tuple[str, str, dict[str, tuple[str, ...] | None], tuple[str, ...]]] = {
    "isolate": ("Isolate", "Machine.Isolate",
                {"Comment": None, "IsolationType": ("Full", "Selective", "UnManagedDevice")}, ("Comment",)),
    "unisolate": ("Unisolate", "Machine.Isolate", {"Comment": None}, ("Comment",)),
    "runantivirusscan": ("RunAntiVirusScan", "Machine.Scan",
                         {"Comment": None, "ScanType": ("Quick", "Full")}, ("Comment",)),
    "collectinvestigationpackage": ("CollectInvestigationPackage", "Machine.CollectForensics",
                                    {"Comment": None}, ("Comment",)),
    "restrictcodeexecution": ("RestrictCodeExecution", "Machine.RestrictExecution", {"Comment": None}, ("Comment",)),
    "unrestrictcodeexecution": ("UnrestrictCodeExecution", "Machine.RestrictExecution",
                                {"Comment": None}, ("Comment",)),
    "stopandquarantinefile": ("StopAndQuarantineFile", "Machine.StopAndQuarantine",
                              {"Comment": None, "Sha1": None}, ("Comment", "Sha1")),
    "offboard": ("Offboard", "Machine.Offboard", {"Comment": None}, ("Comment",)),
}
ROLE_BY_TYPE = {t: role for t, role, _, _ in ACTIONS.values()}


@dataclass
class TenantSettings:
    """Per-tenant behaviour switches for the UNCONFIRMED parts of the API."""

    xdr_next_link: bool = False          # emit @odata.nextLink on XDR /api/incidents
    duplicate_action: str = "error"      # "error" (HTTP 400) | "pending" (return the open action)
    duplicate_code: str = "ActiveRequestAlreadyExists"  # or "BadRequest"


@dataclass
class ActionTiming:
    pending_seconds: float = 60.0        # simulated seconds in Pending
    running_seconds: float = 120.0       # then in InProgress
    failure_rate: float = 0.0            # share that ends Failed instead of Succeeded


@dataclass
class ActionRecord:
    data: dict
    created: float
    outcome: str                          # Succeeded | Failed, decided at creation
    sha1: str | None = None


@dataclass
class TenantData:
    name: str
    tenant_id: str
    devices: list[dict] = field(default_factory=list)
    incidents: list[dict] = field(default_factory=list)
    alerts: list[dict] = field(default_factory=list)
    indicators: list[dict] = field(default_factory=list)
    actions: list[ActionRecord] = field(default_factory=list)
    isolated: dict[str, str] = field(default_factory=dict)      # device id -> isolation type
    restricted: set[str] = field(default_factory=set)
    quarantined: set[tuple[str, str]] = field(default_factory=set)  # (device id, sha1)
    settings: TenantSettings = field(default_factory=TenantSettings)
    next_indicator: int = 1

    # ---- lookups -------------------------------------------------------------------------

    def device(self, device_id: str) -> dict | None:
        low = device_id.lower()
        return next((d for d in self.devices if d["id"] == low or d["computerDnsName"].lower() == low), None)

    def incident(self, incident_id: int | str) -> dict | None:
        return next((i for i in self.incidents if str(i["incidentId"]) == str(incident_id)), None)

    def alert(self, alert_id: str) -> dict | None:
        return next((a for a in self.alerts if a["id"] == alert_id), None)

    def action(self, action_id: str) -> ActionRecord | None:
        return next((a for a in self.actions if a.data["id"] == action_id), None)

    def incident_alerts(self, incident: dict) -> list[dict]:
        ids = set(incident["alertIds"])
        return [a for a in self.alerts if a["id"] in ids]

    def is_isolated(self, device_id: str) -> bool:
        return device_id in self.isolated

    def open_action(self, device_id: str, type_: str) -> ActionRecord | None:
        return next((a for a in self.actions if a.data["machineId"] == device_id
                     and a.data["type"] == type_ and a.data["status"] in OPEN), None)

    # ---- machine actions -------------------------------------------------------------------

    def new_action(self, device: dict, type_: str, *, requestor: str, comment: str, scope: str | None,
                   now: float, timing: ActionTiming, rng: random.Random, sha1: str | None = None) -> ActionRecord:
        outcome = "Failed" if rng.random() < timing.failure_rate else "Succeeded"
        stamp = iso(now)
        body = {
            "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)), "type": type_, "title": None,
            "scope": scope, "requestor": requestor, "requestorComment": comment, "requestSource": "PublicApi",
            "status": "Pending", "machineId": device["id"], "computerDnsName": device["computerDnsName"],
            "creationDateTimeUtc": stamp, "lastUpdateDateTimeUtc": stamp, "cancellationRequestor": None,
            "cancellationComment": None, "cancellationDateTimeUtc": None, "errorHResult": 0,
            "externalId": None, "commands": [], "troubleshootInfo": None,
            "relatedFileInfo": {"fileIdentifier": sha1, "fileIdentifierType": "Sha1"} if sha1 else None,
        }
        record = ActionRecord(body, now, outcome, sha1)
        self.actions.append(record)
        return record

    def tick(self, now: float, timing: ActionTiming) -> None:
        """Move open machine actions along the simulated clock; apply effects on success."""
        for rec in self.actions:
            status = rec.data["status"]
            if status in FINAL:
                continue
            age = now - rec.created
            if age >= timing.pending_seconds + timing.running_seconds:
                rec.data["status"] = rec.outcome
                rec.data["lastUpdateDateTimeUtc"] = iso(rec.created + timing.pending_seconds + timing.running_seconds)
                if rec.outcome == "Succeeded":
                    self._apply(rec)
                else:
                    rec.data["errorHResult"] = -2147467259
            elif age >= timing.pending_seconds and status == "Pending":
                rec.data["status"] = "InProgress"
                rec.data["lastUpdateDateTimeUtc"] = iso(rec.created + timing.pending_seconds)

    def _apply(self, rec: ActionRecord) -> None:
        mid, kind = rec.data["machineId"], rec.data["type"]
        if kind == "Isolate":
            self.isolated[mid] = rec.data["scope"] or "Full"
        elif kind == "Unisolate":
            self.isolated.pop(mid, None)
        elif kind == "RestrictCodeExecution":
            self.restricted.add(mid)
        elif kind == "UnrestrictCodeExecution":
            self.restricted.discard(mid)
        elif kind == "StopAndQuarantineFile" and rec.sha1:
            self.quarantined.add((mid, rec.sha1))
        elif kind == "Offboard":
            device = self.device(mid)
            if device:
                device["onboardingStatus"] = "Offboarded"
                device["healthStatus"] = "Inactive"

    def cancel(self, rec: ActionRecord, requestor: str, comment: str, now: float) -> None:
        rec.data.update(status="Cancelled", cancellationRequestor=requestor, cancellationComment=comment,
                        cancellationDateTimeUtc=iso(now), lastUpdateDateTimeUtc=iso(now))


@dataclass
class Sizes:
    devices: int = 25
    incidents: int = 12
    alerts: int = 30
    indicators: int = 6


def build_tenant(name: str, tenant_id: str, seed: int, sizes: Sizes, start: float,
                 settings: TenantSettings | None = None) -> TenantData:
    rng = random.Random(f"{seed}/{name}")
    devices = data.make_devices(rng, name, seed, sizes.devices, start)
    incidents, alerts = data.make_incidents(rng, name, seed, devices, sizes.incidents if devices else 0,
                                            sizes.alerts, start)
    for alert in alerts:
        alert["aadTenantId"] = tenant_id
    indicators = data.make_indicators(rng, name, seed, sizes.indicators, start)
    return TenantData(name, tenant_id, devices, incidents, alerts, indicators,
                      settings=settings or TenantSettings(), next_indicator=len(indicators) + 1)


def strip_internal(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if not k.startswith("_") and k != "alertIds"}
