"""Defender XDR (Microsoft Threat Protection) routes: ``/api/incidents`` and the hunting hook."""

from __future__ import annotations

from typing import Any

import httpx

from soar_defender.sim.clock import iso
from soar_defender.sim.odata import compile_filter
from soar_defender.sim.service import ApiError, Call, Route, paged
from soar_defender.sim.state import TenantData, strip_internal

READ = ("Incident.Read.All", "Incident.ReadWrite.All")
WRITE = ("Incident.ReadWrite.All",)
FILTERABLE = ("lastUpdateTime", "createdTime", "status", "assignedTo")
STATUSES = ("Active", "InProgress", "Resolved", "Redirected")
CLASSIFICATIONS = ("Unknown", "TruePositive", "InformationalExpectedActivity", "FalsePositive")
# The update page's names and the resource page's names both pass (Microsoft's "Update incidents" and incident resource pages).
DETERMINATIONS = ("NotAvailable", "MultiStagedAttack", "MaliciousUserActivity", "CompromisedAccount",
                  "CompromisedUser", "Malware", "Phishing", "UnwantedSoftware", "SecurityTesting",
                  "LineOfBusinessApplication", "ConfirmedActivity", "ConfirmedUserActivity",
                  "NotMalicious", "NoEnoughDataToValidate", "InsufficientData", "Other")
PATCHABLE = ("status", "assignedTo", "classification", "determination", "tags", "comment")


# The keys of an XDR incident's alert device, as recorded real responses carry them (demisto/content
# Microsoft365Defender test_data/raw_incident.json; Microsoft's "List incidents API" example agrees
# but for tags/defenderAvStatus/onboardingStatus/vmMetadata, which it omits). The machine id is
# `mdatpDeviceId` only: XDR sends no `deviceId` on a device (docs/simulator.md, "Fidelity").
def xdr_device(device: dict) -> dict:
    return {"mdatpDeviceId": device["id"], "aadDeviceId": device.get("aadDeviceId"),
            "deviceDnsName": device["computerDnsName"], "osPlatform": device["osPlatform"],
            "version": device.get("version"), "osProcessor": device.get("osProcessor"),
            "osBuild": device.get("osBuild"), "healthStatus": device["healthStatus"],
            "riskScore": device["riskScore"], "rbacGroupName": device.get("rbacGroupName"),
            "firstSeen": device.get("firstSeen"), "tags": list(device.get("machineTags") or []),
            "defenderAvStatus": device.get("defenderAvStatus"), "onboardingStatus": device.get("onboardingStatus"),
            "vmMetadata": device.get("vmMetadata")}


def xdr_alert(tenant: TenantData, alert: dict) -> dict:
    device = tenant.device(alert["machineId"]) if alert.get("machineId") else None
    devices = [xdr_device(device)] if device else []
    entities = []
    for ev in alert["evidence"]:
        # sparse, as a recorded 2024 answer sends them (keys without a value left out); the older
        # example on Microsoft's page lists every key with null
        entities.append({k: v for k, v in {"entityType": ev["entityType"], "sha1": ev.get("sha1"), "sha256": ev.get("sha256"),
                         "fileName": ev.get("fileName"), "filePath": ev.get("filePath"),
                         "processId": ev.get("processId"), "processCommandLine": ev.get("processCommandLine"),
                         "ipAddress": ev.get("ipAddress"), "url": ev.get("url"),
                         "accountName": ev.get("accountName"), "domainName": ev.get("domainName"),
                         "userSid": ev.get("userSid"), "aadUserId": ev.get("aadUserId"),
                         "userPrincipalName": ev.get("userPrincipalName"),
                         "deviceId": device["id"] if device else None,
                         "evidenceCreationTime": ev.get("evidenceCreationTime"),
                         "remediationStatus": "None", "verdict": "Suspicious"}.items() if v is not None})
    return {"alertId": alert["id"], "providerAlertId": alert["id"], "incidentId": alert["incidentId"],
            "serviceSource": "MicrosoftDefenderForEndpoint", "creationTime": alert["alertCreationTime"],
            "lastUpdatedTime": alert["lastUpdateTime"], "resolvedTime": alert["resolvedTime"],
            "firstActivity": alert["firstEventTime"], "lastActivity": alert["lastEventTime"],
            "title": alert["title"], "description": alert["description"], "category": alert["category"],
            "status": alert["status"], "severity": alert["severity"], "investigationId": alert["investigationId"],
            "investigationState": alert["investigationState"], "classification": alert["classification"],
            "determination": alert["determination"], "detectionSource": alert["detectionSource"],
            "detectorId": alert["detectorId"], "assignedTo": alert["assignedTo"], "actorName": None,
            "threatFamilyName": alert["threatFamilyName"], "mitreTechniques": alert["mitreTechniques"],
            "devices": devices, "entities": entities}


def xdr_incident(tenant: TenantData, incident: dict) -> dict:
    out = strip_internal(incident)
    out["alerts"] = [xdr_alert(tenant, a) for a in tenant.incident_alerts(incident)]
    return out


def newest_first(incidents: list[dict]) -> list[dict]:
    return sorted(incidents, key=lambda i: (i["lastUpdateTime"], i["incidentId"]), reverse=True)


def list_incidents(call: Call) -> dict:
    pred = compile_filter(call.query.get("$filter"), FILTERABLE)
    found = [i for i in newest_first(call.tenant.incidents) if pred(i)]
    body = paged(call, found, "Incidents", max_top=100, default_top=100,
                 next_link=call.tenant.settings.xdr_next_link)
    body["value"] = [xdr_incident(call.tenant, i) for i in body["value"]]
    return body


def _incident(call: Call) -> dict:
    incident = call.tenant.incident(call.params["id"])
    if incident is None:
        raise ApiError(404, "ResourceNotFound", f"Incident {call.params['id']} was not found")
    return incident


def get_incident(call: Call) -> dict:
    return {"@odata.context": call.context("Incidents/$entity"), **xdr_incident(call.tenant, _incident(call))}


def update_incident(call: Call, incident: dict, changes: dict, *, author: str) -> None:
    """Apply already-validated XDR-named changes (shared with the Graph route)."""
    now = call.now
    if "comment" in changes:
        incident["comments"].append({"comment": changes.pop("comment"), "createdBy": author,
                                     "createdTime": iso(now)})
    incident.update(changes)
    incident["lastUpdateTime"] = iso(now)
    status = incident["status"]
    for alert in call.tenant.incident_alerts(incident):  # alerts follow the incident, as in the portal
        if status == "Resolved":
            alert.update(status="Resolved", resolvedTime=iso(now))
        if "assignedTo" in changes:
            alert["assignedTo"] = changes["assignedTo"]
        alert["lastUpdateTime"] = iso(now)


def check_changes(changes: dict, current: dict) -> None:
    if "status" in changes and changes["status"] not in STATUSES:
        raise ApiError(400, "InvalidRequestBody", f"Invalid status {changes['status']!r}; one of {', '.join(STATUSES)}")
    if "classification" in changes and changes["classification"] not in CLASSIFICATIONS:
        raise ApiError(400, "InvalidRequestBody", f"Invalid classification {changes['classification']!r}")
    if "determination" in changes:
        if changes["determination"] not in DETERMINATIONS:
            raise ApiError(400, "InvalidRequestBody", f"Invalid determination {changes['determination']!r}")
        cls = changes.get("classification", current.get("classification"))
        if cls != "TruePositive" and changes["determination"] != "NotAvailable":
            raise ApiError(400, "InvalidRequestBody", "determination can only be set when classification is TruePositive")
    if "tags" in changes and not (isinstance(changes["tags"], list) and all(isinstance(t, str) for t in changes["tags"])):
        raise ApiError(400, "InvalidRequestBody", "tags must be a list of strings")
    for key in ("assignedTo", "comment"):
        if key in changes and changes[key] is not None and not isinstance(changes[key], str):
            raise ApiError(400, "InvalidRequestBody", f"{key} must be a string")


def patch_incident(call: Call) -> dict:
    incident = _incident(call)
    body = call.body()
    unknown = [k for k in body if k not in PATCHABLE]
    if unknown:
        raise ApiError(400, "InvalidRequestBody", f"Unknown or read-only properties: {', '.join(unknown)} "
                       f"(body parameter names are case-sensitive; allowed: {', '.join(PATCHABLE)})")
    check_changes(body, incident)
    update_incident(call, incident, dict(body), author=call.requestor)
    return {"@odata.context": call.context("Incidents/$entity"), **xdr_incident(call.tenant, incident)}


def hunting(api: str):
    """The hunting routes: ``sim.hunting(tenant, api, body)`` (the KQL simulator by default), else 501."""
    def run(call: Call) -> Any:
        if call.sim.hunting is None:
            raise ApiError(501, "NotImplemented", "Advanced hunting is not yet simulated")
        result = call.sim.hunting(call.tenant, api, call.body())
        return result if isinstance(result, httpx.Response) else httpx.Response(200, json=result)
    return run


ROUTES = [
    Route("GET", r"/api/incidents", "xdr", "xdr", READ, "xdr_incidents", list_incidents),
    Route("GET", r"/api/incidents/(?P<id>\d+)", "xdr", "xdr", READ, "xdr_incidents", get_incident),
    Route("PATCH", r"/api/incidents/(?P<id>\d+)", "xdr", "xdr", WRITE, "xdr_incidents", patch_incident),
    # Served by DefenderSim.hunting (soar_defender.sim.hunting); 501 when it is set to None.
    Route("POST", r"/api/advancedhunting/run", "xdr", "xdr", ("AdvancedHunting.Read.All",), "xdr_hunting",
          hunting("xdr")),
]
