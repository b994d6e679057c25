"""Injecting incidents and alerts at chosen times: late, out of order, updated again.

Defender delivers some alerts hours after they happened, with a ``lastUpdateTime`` in the past,
and the API lists whatever is there *now*. These functions let a test (or the demo) shape that:
``last_update`` in the past is a late arrival; touching the same incident twice is an update.
Callers hold the simulator's lock (:class:`~soar_defender.sim.DefenderSim` wraps them).

Times (``created``, ``last_update``) are Unix seconds, ISO 8601 text or an aware ``datetime``;
``None`` means the simulated now.
"""

from __future__ import annotations

import random
from datetime import datetime
from typing import Any

from soar_defender.sim import data
from soar_defender.sim.clock import iso, parse_iso
from soar_defender.sim.state import TenantData

INCIDENT_CHANGES = ("status", "severity", "assignedTo", "classification", "determination", "tags",
                    "incidentName")
ALERT_CHANGES = ("status", "severity", "assignedTo", "classification", "determination", "title", "category")


def stamp(value: Any, now: float) -> str:
    """The Defender text form (``...T..:..:..mmmZ``) of a time given in any accepted form."""
    if value is None:
        return iso(now)
    if isinstance(value, (int, float)):
        return iso(float(value))
    if isinstance(value, datetime):
        return iso(value.timestamp())
    parsed = parse_iso(str(value))
    if parsed is None:
        raise ValueError(f"not a time: {value!r} (give Unix seconds, ISO 8601 text or a datetime)")
    return iso(parsed.timestamp())


def _seconds(text: str) -> float:
    return parse_iso(text).timestamp()  # type: ignore[union-attr]


def _check(changes: dict, allowed: tuple[str, ...], what: str) -> None:
    unknown = sorted(set(changes) - set(allowed))
    if unknown:
        raise TypeError(f"cannot set {', '.join(unknown)} on {what}; settable: {', '.join(allowed)}")


def new_alert(tenant: TenantData, rng: random.Random, *, now: float, incident_id: int | None,
              created: Any = None, last_update: Any = None, severity: str = "High", status: str = "New",
              title: str | None = None, category: str = "SuspiciousActivity", machine_id: str | None = None,
              seed: int = 0) -> dict:
    """An MDE-shaped alert (with evidence) appended to the tenant; not yet linked to an incident."""
    created_text = stamp(created, now)
    updated_text = stamp(last_update, now) if last_update is not None else created_text
    device = tenant.device(machine_id) if machine_id else next(
        (d for d in tenant.devices if d["riskScore"] == "High"), tenant.devices[0] if tenant.devices else None)
    aid = f"da637{rng.randint(10**13, 10**14 - 1)}_{rng.randint(-2**31, 2**31 - 1)}"
    t0 = _seconds(created_text)
    alert = {
        "id": aid, "incidentId": incident_id, "investigationId": rng.randint(1, 9999), "assignedTo": None,
        "severity": severity, "status": status, "classification": None, "determination": None,
        "investigationState": "Running", "detectionSource": "WindowsDefenderAtp",
        "detectorId": data._guid(seed, "detector", category), "category": category,
        "threatFamilyName": None, "title": title or data.TITLES.get(category, ["Injected alert"])[0],
        "description": f"Injected {category} alert.", "alertCreationTime": created_text,
        "firstEventTime": iso(t0 - 120), "lastEventTime": iso(t0 - 30), "lastUpdateTime": updated_text,
        "resolvedTime": None, "machineId": device["id"] if device else None,
        "computerDnsName": device["computerDnsName"] if device else None,
        "rbacGroupName": device["rbacGroupName"] if device else None, "aadTenantId": tenant.tenant_id,
        "threatName": None, "mitreTechniques": data.MITRE.get(category, []), "comments": [],
        "evidence": data._evidence(rng, tenant.name, device, t0, seed, aid),
    }
    alert["relatedUser"] = data.related_user(alert["evidence"])
    tenant.alerts.append(alert)
    return alert


def add_incident(tenant: TenantData, rng: random.Random, *, now: float, incident_id: int | None = None,
                 name: str | None = None, status: str = "Active", severity: str = "High",
                 created: Any = None, last_update: Any = None, alerts: int = 1, seed: int = 0) -> dict:
    """A new incident with ``alerts`` alerts. ``last_update`` in the past makes it a late arrival."""
    if incident_id is None:
        incident_id = max((int(i["incidentId"]) for i in tenant.incidents), default=1000) + 1
    elif tenant.incident(incident_id) is not None:
        raise ValueError(f"incident {incident_id} already exists in {tenant.name}; use touch_incident")
    updated_text = stamp(last_update, now)
    created_text = stamp(created, now) if created is not None else updated_text
    incident = {
        "incidentId": int(incident_id), "redirectIncidentId": None, "incidentName": "", "incidentUri":
        f"https://security.microsoft.com/incidents/{incident_id}?tid={tenant.name}", "createdTime": created_text,
        "lastUpdateTime": updated_text, "assignedTo": None, "classification": "Unknown",
        "determination": "NotAvailable", "status": status, "severity": severity, "tags": [], "comments": [],
        "alertIds": [], "_important": severity == "High" and status == "Active",
    }
    for _ in range(alerts):
        alert = new_alert(tenant, rng, now=now, incident_id=incident["incidentId"], created=created_text,
                          last_update=updated_text, severity=severity, seed=seed)
        incident["alertIds"].append(alert["id"])
    first = tenant.alert(incident["alertIds"][0]) if incident["alertIds"] else None
    incident["incidentName"] = name or (f"Incident involving {first['category']}" if first else "Incident")
    tenant.incidents.append(incident)
    return incident


def touch_incident(tenant: TenantData, incident_id: int | str, *, now: float, last_update: Any = None,
                   **changes: Any) -> dict:
    """Change an incident (and set its ``lastUpdateTime``, by default to now): an update to poll."""
    _check(changes, INCIDENT_CHANGES, "an incident")
    incident = _incident(tenant, incident_id)
    incident.update(changes)
    incident["lastUpdateTime"] = stamp(last_update, now)
    return incident


def add_alert(tenant: TenantData, rng: random.Random, *, now: float, incident_id: int | str | None = None,
              seed: int = 0, **fields: Any) -> dict:
    """A new MDE alert, linked to ``incident_id`` when given (else to a new incident of its own)."""
    if incident_id is not None:
        incident = _incident(tenant, incident_id)
    else:
        incident = add_incident(tenant, rng, now=now, alerts=0, created=fields.get("created"),
                                last_update=fields.get("last_update"), seed=seed)
    alert = new_alert(tenant, rng, now=now, incident_id=incident["incidentId"], seed=seed, **fields)
    incident["alertIds"].append(alert["id"])
    return alert


def touch_alert(tenant: TenantData, alert_id: str, *, now: float, last_update: Any = None,
                **changes: Any) -> dict:
    """Change an alert and set its ``lastUpdateTime`` (by default to now)."""
    _check(changes, ALERT_CHANGES, "an alert")
    alert = tenant.alert(alert_id)
    if alert is None:
        raise KeyError(f"no alert {alert_id} in {tenant.name}")
    alert.update(changes)
    alert["lastUpdateTime"] = stamp(last_update, now)
    return alert


def _incident(tenant: TenantData, incident_id: int | str) -> dict:
    incident = tenant.incident(incident_id)
    if incident is None:
        raise KeyError(f"no incident {incident_id} in {tenant.name}")
    return incident
