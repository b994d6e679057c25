"""Microsoft Graph security routes: ``/v1.0/security/incidents`` (``$expand=alerts``,
``@odata.nextLink`` paging, PATCH, comments), ``/v1.0/security/alerts_v2`` (list, get, PATCH,
comments) and ``runHuntingQuery`` — on the path Microsoft's SDKs post to
(``/security/microsoft.graph.security.runHuntingQuery``) and on the short one the reference
page shows. The same incidents and alerts as the XDR and MDE APIs, projected by ``graph_shapes``.
"""

from __future__ import annotations

import json

from soar_defender.sim.clock import iso
from soar_defender.sim.graph_shapes import CLASSIFICATIONS, DETERMINATION_INPUT, graph_alert, graph_comment, \
    graph_incident, pascal
from soar_defender.sim.odata import compile_filter
from soar_defender.sim.routes_xdr import check_changes, hunting, newest_first, update_incident
from soar_defender.sim.service import ApiError, Call, Route, paged

READ = ("SecurityIncident.Read.All", "SecurityIncident.ReadWrite.All")
WRITE = ("SecurityIncident.ReadWrite.All",)
ALERT_READ = ("SecurityAlert.Read.All", "SecurityAlert.ReadWrite.All")
ALERT_WRITE = ("SecurityAlert.ReadWrite.All",)
FILTERABLE = ("assignedTo", "classification", "createdDateTime", "determination", "lastUpdateDateTime",
              "severity", "status")
ALERT_FILTERABLE = FILTERABLE + ("serviceSource",)  # security-list-alerts_v2
PATCHABLE = {"status": "status", "assignedTo": "assignedTo", "classification": "classification",
             "determination": "determination", "customTags": "tags"}
ALERT_PATCHABLE = ("status", "assignedTo", "classification", "determination")  # security-alert-update
ALERT_STATUSES = {"new": "New", "inProgress": "InProgress", "resolved": "Resolved"}


def _expand(call: Call) -> bool:
    return "alerts" in call.query.get("$expand", "").lower()


def _counted(call: Call, body: dict, found: list) -> dict:
    if call.query.get("$count", "").lower() == "true":
        body["@odata.count"] = len(found)
    return body


def _verdict(changes: dict, body: dict) -> None:
    """Graph's classification and determination (camelCase, any case) → the stored XDR spellings.
    Graph documents no pairing rule between the two, unlike XDR's PATCH (determination only with
    TruePositive): a false positive may be ``notMalicious``, a benign one ``securityTesting``."""
    if "classification" in body:
        value = body["classification"]
        match = next((c for c in CLASSIFICATIONS if isinstance(value, str) and c.lower() == value.lower()), None)
        if match is None:
            raise ApiError(400, "BadRequest", f"Invalid classification {value!r}; one of {', '.join(CLASSIFICATIONS)}")
        changes["classification"] = pascal(match)
    if "determination" in body:
        value = body["determination"]
        match = next((v for k, v in DETERMINATION_INPUT.items()
                      if isinstance(value, str) and k.lower() == value.lower()), None)
        if match is None:
            raise ApiError(400, "BadRequest", f"Invalid determination {value!r}")
        changes["determination"] = match


def _comment_texts(call: Call) -> list[str]:
    """The comment a POST to ``.../comments`` adds: one alertComment object, as the reference pages
    send. Microsoft's SDKs send a JSON array of them (``comments`` is a collection in $metadata);
    the service answers that with 400 "Empty Payload. JSON content expected." (reported against
    the Python, .NET and Java SDKs: msgraph-sdk-python#1168, msgraph-sdk-dotnet#2514,
    msgraph-sdk-java#2131), and so does the simulator."""
    try:
        value = json.loads(call.request.content or b"null")
    except ValueError as exc:
        raise ApiError(400, "BadRequest", f"Request body is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ApiError(400, "BadRequest", "Empty Payload. JSON content expected.")
    unknown = [k for k in value if k not in ("@odata.type", "comment")]
    if unknown:
        raise ApiError(400, "BadRequest", f"Unknown properties of alertComment: {', '.join(unknown)}")
    text = value.get("comment")
    if not isinstance(text, str) or not text.strip():
        raise ApiError(400, "BadRequest", "The comment property is required and must be a non-empty string")
    return [text]


# ---- incidents ---------------------------------------------------------------------------------

def list_incidents(call: Call) -> dict:
    pred = compile_filter(call.query.get("$filter"), FILTERABLE)
    views = [graph_incident(call.tenant, i) for i in newest_first(call.tenant.incidents)]
    found = [v for v in views if pred(v)]
    body = paged(call, found, "security/incidents", max_top=50, default_top=call.sim.config.graph_page_size,
                 next_link=True)
    if _expand(call):
        body["value"] = [graph_incident(call.tenant, call.tenant.incident(v["id"]), True) for v in body["value"]]
    return _counted(call, body, found)


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
    changes = {PATCHABLE[k]: v for k, v in body.items() if k not in ("classification", "determination")}
    if isinstance(changes.get("status"), str):
        changes["status"] = pascal(changes["status"])
    try:
        check_changes(changes, incident)  # status, assignedTo, tags: XDR's rules
    except ApiError as exc:
        raise ApiError(400, "BadRequest", exc.message) from None
    _verdict(changes, body)
    update_incident(call, incident, changes, author=call.requestor)
    return {"@odata.context": call.context("security/incidents/$entity"), **graph_incident(call.tenant, incident)}


def post_comment(call: Call) -> dict:
    """``POST /security/incidents/{id}/comments`` with an alertComment: 200 and every comment."""
    incident = _incident(call)
    for text in _comment_texts(call):
        update_incident(call, incident, {"comment": text}, author=call.requestor)
    return {"@odata.context": call.context("Collection(microsoft.graph.security.alertComment)"),
            "value": [graph_comment(c) for c in incident["comments"]]}


# ---- alerts_v2 ---------------------------------------------------------------------------------

def list_alerts(call: Call) -> dict:
    """Newest first (security-list-alerts_v2: "the most recent alerts are displayed at the top")."""
    pred = compile_filter(call.query.get("$filter"), ALERT_FILTERABLE)
    alerts = sorted(call.tenant.alerts, key=lambda a: a["alertCreationTime"], reverse=True)
    found = [v for v in (graph_alert(call.tenant, a) for a in alerts) if pred(v)]
    body = paged(call, found, "security/alerts_v2", max_top=2000, default_top=call.sim.config.graph_page_size,
                 next_link=True)
    return _counted(call, body, found)


def _alert(call: Call) -> dict:
    alert = call.tenant.alert(call.params["id"])
    if alert is None:
        raise ApiError(404, "NotFound", f"Alert {call.params['id']} was not found")
    return alert


def get_alert(call: Call) -> dict:
    return {"@odata.context": call.context("security/alerts_v2/$entity"), **graph_alert(call.tenant, _alert(call))}


def patch_alert(call: Call) -> dict:
    alert = _alert(call)
    body = call.body()
    unknown = [k for k in body if k not in ALERT_PATCHABLE]
    if unknown:
        raise ApiError(400, "BadRequest", f"Unknown or read-only properties: {', '.join(unknown)}")
    changes: dict = {}
    if "status" in body:
        status = next((v for k, v in ALERT_STATUSES.items()
                       if isinstance(body["status"], str) and k.lower() == body["status"].lower()), None)
        if status is None:
            raise ApiError(400, "BadRequest", f"Invalid status {body['status']!r}; one of {', '.join(ALERT_STATUSES)}")
        changes["status"] = status
        changes["resolvedTime"] = iso(call.now) if status == "Resolved" else None
    if "assignedTo" in body:
        if body["assignedTo"] is not None and not isinstance(body["assignedTo"], str):
            raise ApiError(400, "BadRequest", "assignedTo must be a string")
        changes["assignedTo"] = body["assignedTo"]
    _verdict(changes, body)
    alert.update(changes)
    alert["lastUpdateTime"] = iso(call.now)
    return {"@odata.context": call.context("security/alerts_v2/$entity"), **graph_alert(call.tenant, alert)}


def post_alert_comment(call: Call) -> dict:
    """``POST /security/alerts_v2/{id}/comments`` with an alertComment: 200 and every comment
    (security-alert-post-comments)."""
    alert = _alert(call)
    for text in _comment_texts(call):
        alert["comments"].append({"comment": text, "createdBy": call.requestor, "createdTime": iso(call.now)})
    alert["lastUpdateTime"] = iso(call.now)
    return {"@odata.context": call.context("Collection(microsoft.graph.security.alertComment)"),
            "value": [graph_comment(c) for c in alert["comments"]]}


HUNTING_ROLES = ("ThreatHunting.Read.All",)

ROUTES = [
    Route("GET", r"/v1\.0/security/incidents", "graph", "graph", READ, "graph_incidents", list_incidents),
    Route("GET", r"/v1\.0/security/incidents/(?P<id>\d+)", "graph", "graph", READ, "graph_incidents", get_incident),
    Route("PATCH", r"/v1\.0/security/incidents/(?P<id>\d+)", "graph", "graph", WRITE, "graph_incidents",
          patch_incident),
    Route("POST", r"/v1\.0/security/incidents/(?P<id>\d+)/comments", "graph", "graph", WRITE, "graph_incidents",
          post_comment),
    Route("GET", r"/v1\.0/security/alerts_v2", "graph", "graph", ALERT_READ, "graph_alerts", list_alerts),
    Route("GET", r"/v1\.0/security/alerts_v2/(?P<id>[^/]+)", "graph", "graph", ALERT_READ, "graph_alerts",
          get_alert),
    Route("PATCH", r"/v1\.0/security/alerts_v2/(?P<id>[^/]+)", "graph", "graph", ALERT_WRITE, "graph_alerts",
          patch_alert),
    Route("POST", r"/v1\.0/security/alerts_v2/(?P<id>[^/]+)/comments", "graph", "graph", ALERT_WRITE,
          "graph_alerts", post_alert_comment),
    # Served by DefenderSim.hunting (soar_defender.sim.hunting); 501 when it is set to None. The
    # SDKs post to the action's namespaced name; the reference page shows the short one.
    Route("POST", r"/v1\.0/security/(?:microsoft\.graph\.security\.)?runHuntingQuery", "graph", "graph",
          HUNTING_ROLES, "graph_hunting", hunting("graph")),
]
