"""The tenant's stored incidents and alerts (kept in XDR/MDE spellings) as Microsoft Graph
security resources: ``microsoft.graph.security.incident``, ``alert`` and the ``alertEvidence``
types, with Graph's property names, nesting and enum members.

Sources (Microsoft Graph v1.0 reference): the resource pages security-incident, security-alert,
security-alertevidence and its derived types (userEvidence, fileEvidence, processEvidence,
ipEvidence, urlEvidence, deviceEvidence, with userAccount and fileDetails), and the example
response of security-list-alerts_v2. Enum members are the ones of Graph's $metadata (what
Microsoft's SDKs are generated from): where a reference page's prose names another spelling
(``clean``, ``insufficientData``, ``compromisedUser``, ``confirmedUserActivity``), the
$metadata member is what the service sends, so an SDK can parse it; PATCH accepts both.
"""

from __future__ import annotations

from typing import Any

from soar_defender.sim.state import TenantData

PORTAL = "https://security.microsoft.com"

# MDE/XDR detectionSource → Graph detectionSource (security-alert "detectionSource values").
DETECTION_SOURCES = {
    "WindowsDefenderAtp": "microsoftDefenderForEndpoint", "WindowsDefenderAv": "antivirus",
    "WindowsDefenderSmartScreen": "smartScreen", "CustomerTI": "customTi", "OfficeATP": "microsoftDefenderForOffice365",
    "AutomatedInvestigation": "automatedInvestigation", "ThreatExperts": "microsoftThreatExperts",
    "CustomDetection": "customDetection", "AzureATP": "microsoftDefenderForIdentity", "MCAS": "cloudAppSecurity",
    "MTP": "microsoft365Defender", "AzureAdIdentityProtection": "azureAdIdentityProtection", "Manual": "manual",
}
# Stored (XDR) determination → Graph alertDetermination member. XDR's two page spellings meet here.
DETERMINATIONS = {
    "NotAvailable": "unknown", "Apt": "apt", "Malware": "malware", "SecurityPersonnel": "securityPersonnel",
    "SecurityTesting": "securityTesting", "UnwantedSoftware": "unwantedSoftware", "Other": "other",
    "MultiStagedAttack": "multiStagedAttack", "CompromisedAccount": "compromisedAccount",
    "CompromisedUser": "compromisedAccount", "Phishing": "phishing", "MaliciousUserActivity": "maliciousUserActivity",
    "NotMalicious": "notMalicious", "Clean": "notMalicious", "NoEnoughDataToValidate": "notEnoughDataToValidate",
    "InsufficientData": "notEnoughDataToValidate", "ConfirmedActivity": "confirmedActivity",
    "ConfirmedUserActivity": "confirmedActivity", "LineOfBusinessApplication": "lineOfBusinessApplication",
}
# Graph determination as a client may send it (members and the reference pages' other spellings)
# → the stored XDR spelling.
DETERMINATION_INPUT = {
    "unknown": "NotAvailable", "apt": "Apt", "malware": "Malware", "securityPersonnel": "SecurityPersonnel",
    "securityTesting": "SecurityTesting", "unwantedSoftware": "UnwantedSoftware", "other": "Other",
    "multiStagedAttack": "MultiStagedAttack", "compromisedAccount": "CompromisedAccount",
    "compromisedUser": "CompromisedAccount", "phishing": "Phishing", "maliciousUserActivity": "MaliciousUserActivity",
    "notMalicious": "NotMalicious", "clean": "NotMalicious", "notEnoughDataToValidate": "NoEnoughDataToValidate",
    "insufficientData": "NoEnoughDataToValidate", "confirmedActivity": "ConfirmedActivity",
    "confirmedUserActivity": "ConfirmedActivity", "lineOfBusinessApplication": "LineOfBusinessApplication",
}
CLASSIFICATIONS = ("unknown", "falsePositive", "truePositive", "informationalExpectedActivity")
_SPECIAL = {"UnSpecified": "unknown", "NotAvailable": "unknown", "Unknown": "unknown"}
_EVIDENCE_KIND = {"User": "userEvidence", "File": "fileEvidence", "Process": "processEvidence",
                  "Ip": "ipEvidence", "Url": "urlEvidence"}


def camel(value: str | None) -> str | None:
    """An XDR/MDE PascalCase enum value as Graph's camelCase member (``UnSpecified`` → ``unknown``)."""
    if value is None:
        return None
    return _SPECIAL.get(value, value[:1].lower() + value[1:])


def pascal(value: str) -> str:
    return value[:1].upper() + value[1:]


def determination(value: str | None) -> str:
    return DETERMINATIONS.get(value or "NotAvailable", camel(value) or "unknown")


def _evidence_base(created: str | None) -> dict:
    return {"createdDateTime": created, "verdict": "suspicious", "remediationStatus": "none",
            "remediationStatusDetails": None, "roles": [], "detailedRoles": [], "tags": []}


def _file_details(name: str | None, path: str | None, sha1: str | None, sha256: str | None) -> dict:
    return {"sha1": sha1, "sha256": sha256, "fileName": name, "filePath": path, "fileSize": None,
            "filePublisher": None, "signer": None, "issuer": None}


def _user_account(ev: dict) -> dict:
    return {"accountName": ev.get("accountName"), "domainName": ev.get("domainName"), "userSid": ev.get("userSid"),
            "azureAdUserId": ev.get("aadUserId"), "userPrincipalName": ev.get("userPrincipalName"),
            "displayName": ev.get("accountName")}


def graph_evidence(ev: dict, device: dict | None) -> dict:
    """One stored (MDE-shaped) evidence item as its Graph ``alertEvidence`` type, nested as Graph
    nests it: a user's keys under ``userAccount``, a file's under ``fileDetails``, a process's
    image under ``imageFile``."""
    kind = _EVIDENCE_KIND.get(ev["entityType"], "alertEvidence")
    out: dict[str, Any] = {"@odata.type": f"#microsoft.graph.security.{kind}",
                           **_evidence_base(ev.get("evidenceCreationTime"))}
    status = camel(ev.get("detectionStatus"))
    mde_id = device["id"] if device else None
    if kind == "userEvidence":
        out["userAccount"] = _user_account(ev)
    elif kind == "fileEvidence":
        out.update(detectionStatus=status, mdeDeviceId=mde_id,
                   fileDetails=_file_details(ev.get("fileName"), ev.get("filePath"), ev.get("sha1"), ev.get("sha256")))
    elif kind == "processEvidence":
        out.update(processId=ev.get("processId"), parentProcessId=ev.get("parentProcessId"),
                   processCommandLine=ev.get("processCommandLine"),
                   processCreationDateTime=ev.get("evidenceCreationTime"), parentProcessCreationDateTime=None,
                   detectionStatus=status, mdeDeviceId=mde_id,
                   imageFile=_file_details(ev.get("fileName"), ev.get("filePath"), ev.get("sha1"), ev.get("sha256")),
                   parentProcessImageFile=None, userAccount=None)
    elif kind == "ipEvidence":
        out.update(ipAddress=ev.get("ipAddress"), countryLetterCode=None)
    elif kind == "urlEvidence":
        out["url"] = ev.get("url")
    return out


def graph_device_evidence(device: dict, created: str | None) -> dict:
    """A machine as ``deviceEvidence`` (mdeDeviceId is the MDE machine id, as /api/machines/{id})."""
    return {"@odata.type": "#microsoft.graph.security.deviceEvidence", **_evidence_base(created),
            "roles": ["compromised"], "firstSeenDateTime": device["firstSeen"], "mdeDeviceId": device["id"],
            "azureAdDeviceId": device["aadDeviceId"], "deviceDnsName": device["computerDnsName"],
            "osPlatform": device["osPlatform"], "osBuild": device["osBuild"], "version": device["version"],
            "healthStatus": camel(device["healthStatus"]), "riskScore": camel(device["riskScore"]),
            "rbacGroupId": device["rbacGroupId"], "rbacGroupName": device["rbacGroupName"],
            "onboardingStatus": camel(device["onboardingStatus"]),
            "defenderAvStatus": camel(device["defenderAvStatus"]),
            "ipInterfaces": [device["lastIpAddress"]] if device.get("lastIpAddress") else [],
            "loggedOnUsers": [], "vmMetadata": None}


def graph_comment(c: dict) -> dict:
    return {"@odata.type": "#microsoft.graph.security.alertComment", "comment": c["comment"],
            "createdByDisplayName": c["createdBy"], "createdDateTime": c["createdTime"]}


def graph_alert(tenant: TenantData, alert: dict) -> dict:
    """A stored MDE alert as ``microsoft.graph.security.alert`` (security-alert's properties)."""
    device = tenant.device(alert["machineId"]) if alert.get("machineId") else None
    evidence = [graph_device_evidence(device, alert["alertCreationTime"])] if device else []
    evidence += [graph_evidence(ev, device) for ev in alert["evidence"]]
    tid = tenant.tenant_id
    return {"@odata.type": "#microsoft.graph.security.alert",
            "id": alert["id"], "providerAlertId": alert["id"], "incidentId": str(alert["incidentId"]),
            "status": camel(alert["status"]), "severity": camel(alert["severity"]),
            "classification": camel(alert["classification"]) or "unknown",
            "determination": determination(alert["determination"]),
            "serviceSource": "microsoftDefenderForEndpoint",
            "detectionSource": DETECTION_SOURCES.get(alert["detectionSource"], "unknown"),
            "detectorId": alert["detectorId"], "tenantId": tid, "title": alert["title"],
            "description": alert["description"], "recommendedActions": alert.get("recommendedAction"),
            "category": alert["category"], "assignedTo": alert["assignedTo"],
            "alertWebUrl": f"{PORTAL}/alerts/{alert['id']}?tid={tid}",
            "incidentWebUrl": f"{PORTAL}/incidents/{alert['incidentId']}?tid={tid}",
            "actorDisplayName": None, "threatDisplayName": alert.get("threatName"),
            "threatFamilyName": alert.get("threatFamilyName"), "mitreTechniques": list(alert["mitreTechniques"]),
            "createdDateTime": alert["alertCreationTime"], "lastUpdateDateTime": alert["lastUpdateTime"],
            "resolvedDateTime": alert["resolvedTime"], "firstActivityDateTime": alert["firstEventTime"],
            "lastActivityDateTime": alert["lastEventTime"],
            "comments": [graph_comment(c) for c in alert.get("comments") or [] if "createdBy" in c],
            "evidence": evidence, "systemTags": []}


def graph_incident(tenant: TenantData, inc: dict, expand: bool = False) -> dict:
    """A stored incident as ``microsoft.graph.security.incident`` (``alerts`` only when expanded)."""
    out = {"@odata.type": "#microsoft.graph.security.incident",
           "id": str(inc["incidentId"]), "tenantId": tenant.tenant_id, "displayName": inc["incidentName"],
           "createdDateTime": inc["createdTime"], "lastUpdateDateTime": inc["lastUpdateTime"],
           "status": camel(inc["status"]), "severity": camel(inc["severity"]), "assignedTo": inc["assignedTo"],
           "classification": camel(inc["classification"]) or "unknown",
           "determination": determination(inc["determination"]),
           "customTags": list(inc["tags"]), "systemTags": [], "description": None,
           "incidentWebUrl": inc["incidentUri"],
           "redirectIncidentId": str(inc["redirectIncidentId"]) if inc["redirectIncidentId"] else None,
           "comments": [graph_comment(c) for c in inc["comments"]]}
    if expand:
        out["alerts"] = [graph_alert(tenant, a) for a in tenant.incident_alerts(inc)]
    return out
