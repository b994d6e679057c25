"""Microsoft Graph security routes: ``/v1.0/security/incidents`` (camelCase enums, string ids,
``displayName``, ``customTags``, ``$expand=alerts``, ``@odata.nextLink`` paging) and the
``runHuntingQuery`` hook. The same incidents as the XDR API, projected."""

from __future__ import annotations

from runner.sim.defender.odata import compile_filter
from runner.sim.defender.routes_xdr import check_changes, hunting, newest_first, update_incident
from runner.sim.defender.service import ApiError, Call, Route, paged
from runner.sim.defender.state import TenantData

READ = ("SecurityIncident.Read.All", "SecurityIncident.ReadWrite.All")
WRITE = ("SecurityIncident.ReadWrite.All",)
FILTERABLE = ("assignedTo", "classification", "createdDateTime", "determination", "lastUpdateDateTime",
              "severity", "status")
PATCHABLE = {"status": "status", "assignedTo": "assignedTo", "classification": "classification",
             "determination": "determination", "customTags": "tags"}
_SPECIAL = {"UnSpecified": "unknown", "NotAvailable": "unknown", "Unknown": "unknown"}


def camel(value: str | None) -> str | None:
    if value is None:
        return None
    return _SPECIAL.get(value, value[:1].lower() + value[1:])


def pascal(value: str) -> str:
    return value[:1].upper() + value[1:]


def graph_alert(tenant: TenantData, alert: dict) -> dict:
    evidence = []
    for ev in alert["evidence"]:
        kind = {"User": "userEvidence", "File": "fileEvidence", "Process": "processEvidence",
                "Ip": "ipEvidence", "Url": "urlEvidence"}.get(ev["entityType"], "alertEvidence")
        evidence.append({"@odata.type": f"#microsoft.graph.security.{kind}",
                         "createdDateTime": ev.get("evidenceCreationTime"), "verdict": "suspicious",
                         "remediationStatus": "none", "roles": [], "tags": [],
                         **{k: v for k, v in ev.items() if k not in ("entityType", "evidenceCreationTime")}})
    device = tenant.device(alert["machineId"]) if alert.get("machineId") else None
    if device:
        evidence.append({"@odata.type": "#microsoft.graph.security.deviceEvidence",
                         "mdeDeviceId": device["id"], "deviceDnsName": device["computerDnsName"],
                         "osPlatform": device["osPlatform"], "riskScore": camel(device["riskScore"]),
                         "healthStatus": camel(device["healthStatus"]), "rbacGroupName": device["rbacGroupName"],
                         "azureAdDeviceId": device["aadDeviceId"], "verdict": "suspicious"})
    return {"id": alert["id"], "providerAlertId": alert["id"], "incidentId": str(alert["incidentId"]),
            "status": camel(alert["status"]), "severity": camel(alert["severity"]),
            "classification": camel(alert["classification"]), "determination": camel(alert["determination"]),
            "serviceSource": "microsoftDefenderForEndpoint", "detectionSource": camel(alert["detectionSource"]),
            "detectorId": alert["detectorId"], "title": alert["title"], "description": alert["description"],
            "category": alert["category"], "assignedTo": alert["assignedTo"],
            "createdDateTime": alert["alertCreationTime"], "lastUpdateDateTime": alert["lastUpdateTime"],
            "resolvedDateTime": alert["resolvedTime"], "firstActivityDateTime": alert["firstEventTime"],
            "lastActivityDateTime": alert["lastEventTime"], "mitreTechniques": alert["mitreTechniques"],
            "tenantId": tenant.tenant_id, "evidence": evidence}


def graph_comment(c: dict) -> dict:
    return {"@odata.type": "#microsoft.graph.security.alertComment", "comment": c["comment"],
            "createdByDisplayName": c["createdBy"], "createdDateTime": c["createdTime"]}


def graph_incident(tenant: TenantData, inc: dict, expand: bool = False) -> dict:
    out = {"id": str(inc["incidentId"]), "tenantId": tenant.tenant_id, "displayName": inc["incidentName"],
           "createdDateTime": inc["createdTime"], "lastUpdateDateTime": inc["lastUpdateTime"],
           "status": camel(inc["status"]), "severity": camel(inc["severity"]), "assignedTo": inc["assignedTo"],
           "classification": camel(inc["classification"]), "determination": camel(inc["determination"]),
           "customTags": list(inc["tags"]), "systemTags": [], "description": None,
           "incidentWebUrl": inc["incidentUri"],
           "redirectIncidentId": str(inc["redirectIncidentId"]) if inc["redirectIncidentId"] else None,
           "comments": [graph_comment(c) for c in inc["comments"]]}
    if expand:
        out["alerts"] = [graph_alert(tenant, a) for a in tenant.incident_alerts(inc)]
    return out


def _expand(call: Call) -> bool:
    return "alerts" in call.query.get("$expand", "").lower()


def list_incidents(call: Call) -> dict:
    pred = compile_filter(call.query.get("$filter"), FILTERABLE)
    views = [graph_incident(call.tenant, i) for i in newest_first(call.tenant.incidents)]
    found = [v for v in views if pred(v)]
    body = paged(call, found, "security/incidents", max_top=50, default_top=call.sim.config.graph_page_size,
                 next_link=True)
    if call.query.get("$count", "").lower() == "true":
        body["@odata.count"] = len(found)
    if _expand(call):
        body["value"] = [graph_incident(call.tenant, call.tenant.incident(v["id"]), True) for v in body["value"]]
    return body


def _incident(call: Call) -> dict:
    incident = call.tenant.incident(call.params["id"])
    if incident is None:
        raise ApiError(404, "NotFound", f"Incident {call.params['id']} was not found")
    return incident


def get_incident(call: Call) -> dict:
    return {"@odata.context": call.context("security/incidents/$entity"),
            **graph_incident(call.tenant, _incident(call), _expand(call))}


def patch_incident(call: Call) -> dict:
    incident = _incident(call)
    body = call.body()
    unknown = [k for k in body if k not in PATCHABLE]
    if unknown:
        raise ApiError(400, "BadRequest", f"Unknown or read-only properties: {', '.join(unknown)}")
    changes = {}
    for key, value in body.items():
        if key in ("status", "classification", "determination") and isinstance(value, str):
            value = "NotAvailable" if key == "determination" and value == "unknown" else pascal(value)
        changes[PATCHABLE[key]] = value
    try:
        check_changes(changes, incident)
    except ApiError as exc:
        raise ApiError(400, "BadRequest", exc.message) from None
    update_incident(call, incident, changes, author=call.requestor)
    return {"@odata.context": call.context("security/incidents/$entity"), **graph_incident(call.tenant, incident)}


def post_comment(call: Call) -> dict:
    """``POST /security/incidents/{id}/comments`` with an alertComment: 200 and every comment."""
    incident = _incident(call)
    body = call.body()
    unknown = [k for k in body if k not in ("@odata.type", "comment")]
    if unknown:
        raise ApiError(400, "BadRequest", f"Unknown properties of alertComment: {', '.join(unknown)}")
    text = body.get("comment")
    if not isinstance(text, str) or not text.strip():
        raise ApiError(400, "BadRequest", "The comment property is required and must be a non-empty string")
    update_incident(call, incident, {"comment": text}, author=call.requestor)
    return {"@odata.context": call.context("Collection(microsoft.graph.security.alertComment)"),
            "value": [graph_comment(c) for c in incident["comments"]]}


ROUTES = [
    Route("GET", r"/v1\.0/security/incidents", "graph", "graph", READ, "graph_incidents", list_incidents),
    Route("GET", r"/v1\.0/security/incidents/(?P<id>\d+)", "graph", "graph", READ, "graph_incidents", get_incident),
    Route("PATCH", r"/v1\.0/security/incidents/(?P<id>\d+)", "graph", "graph", WRITE, "graph_incidents",
          patch_incident),
    Route("POST", r"/v1\.0/security/incidents/(?P<id>\d+)/comments", "graph", "graph", WRITE, "graph_incidents",
          post_comment),
    # Served by DefenderSim.hunting (runner.sim.defender.hunting); 501 when it is set to None.
    Route("POST", r"/v1\.0/security/runHuntingQuery", "graph", "graph", ("ThreatHunting.Read.All",),
          "graph_hunting", hunting("graph")),
]
