"""Incidents on Defender XDR (``/api/incidents``) or Graph (``/v1.0/security/incidents``).

Both come out in ONE shape, :class:`Incident`, with the XDR field names (``incidentId``,
``incidentName``, ``tags``, ``createdTime`` ...) and XDR's PascalCase enum values, so
expressions such as ``steps.x.output | devices`` work whichever API served them. ``api`` on
each incident says which one did.

A device's Defender for Endpoint machine id (what ``/api/machines/{id}`` takes) comes as
``mdatpDeviceId`` on XDR and as ``mdeDeviceId`` in Graph's ``deviceEvidence``; neither API
sends a ``deviceId`` there. The normalized :class:`Device` carries it as ``deviceId``, filled
from whichever of the two the API sent, so a playbook reads one name on both.

Which API: the input ``api`` (``xdr`` | ``graph``), else (``auto``) the tenant's
``apis.incidents`` preference in soar.yaml, else XDR when the app's token holds XDR's incident
role, else Graph when it holds Graph's; with neither, a :class:`~runner.errors.PermissionMissing`
names both roles before any API call. Reading checks the read roles, updating the write roles.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field, RootModel, field_validator

from runner.plugin import Action, errors, odata

from soar_defender.alerts import from_graph_alert
from soar_defender.common import INCIDENT_READ, INCIDENT_WRITE, RAW_FILTER, Inputs, Loose, choose_api, client, \
    iso_time, update_applied
from soar_defender.ids import IncidentId

Api = Literal["auto", "xdr", "graph"]
STATUS = Literal["Active", "InProgress", "Resolved", "Redirected"]
SEVERITY = Literal["UnSpecified", "Informational", "Low", "Medium", "High"]
CLASSIFICATION = Literal["Unknown", "TruePositive", "InformationalExpectedActivity", "FalsePositive"]
GRAPH_PATH = "/v1.0/security/incidents"
AUTO = ("xdr, graph, or auto (the tenant's `apis.incidents`, else xdr if the app holds its incident role, "
        "else graph)")
XDR_PATH = "/api/incidents"
XDR_ONE = XDR_PATH + "/{incident_id}"
GRAPH_ONE = GRAPH_PATH + "/{incident_id}"


class Device(Loose):
    deviceId: str | None = Field(None, description="The Defender for Endpoint machine id: XDR's `mdatpDeviceId`, "
                                                   "Graph's `mdeDeviceId`")
    deviceDnsName: str | None = None
    riskScore: str | None = Field(None, description="None, Informational, Low, Medium, High")
    osPlatform: str | None = None
    healthStatus: str | None = Field(None, description="Active, Inactive, ImpairedCommunication, NoSensorData, ...")


class Entity(Loose):
    entityType: str | None = Field(None, description="User, Ip, Url, File, Process, MailBox, ...")


class IncidentAlert(Loose):
    alertId: str | None = None
    title: str | None = None
    status: str | None = None
    severity: str | None = None
    category: str | None = None
    creationTime: str | None = None
    lastUpdatedTime: str | None = None
    devices: list[Device] = Field(default_factory=list)
    entities: list[Entity] = Field(default_factory=list)


class Incident(Loose):
    """The normalized incident (XDR field names and enum spellings, from either API)."""

    incidentId: int | str
    incidentName: str | None = None
    status: str | None = None
    severity: str | None = None
    assignedTo: str | None = None
    classification: str | None = None
    determination: str | None = None
    tags: list[str] = Field(default_factory=list)
    createdTime: str | None = None
    lastUpdateTime: str | None = None
    comments: list[dict] = Field(default_factory=list)
    alerts: list[IncidentAlert] = Field(default_factory=list)
    api: Literal["xdr", "graph"] = Field("xdr", description="Which API served it")


class IncidentList(RootModel[list[Incident]]):
    """A list of normalized incidents."""

    model_config = ConfigDict(defer_build=True)


# ---- Graph -> XDR normalization ----------------------------------------------------------------

def _pascal(value: Any) -> Any:
    """Graph camelCase enum → XDR PascalCase (``inProgress`` → ``InProgress``)."""
    if not isinstance(value, str) or not value:
        return value
    return value[0].upper() + value[1:]


def _camel(value: Any) -> Any:
    if not isinstance(value, str) or not value:
        return value
    return value[0].lower() + value[1:]


_GRAPH_SEVERITY = {"unknown": "UnSpecified"}
_GRAPH_DETERMINATION = {"unknown": "NotAvailable"}
_ENTITY_TYPES = {"userEvidence": "User", "ipEvidence": "Ip", "urlEvidence": "Url", "fileEvidence": "File",
                 "processEvidence": "Process", "mailboxEvidence": "MailBox", "analyzedMessageEvidence": "MailMessage",
                 "mailClusterEvidence": "MailCluster", "registryKeyEvidence": "Registry",
                 "registryValueEvidence": "Registry"}


def _evidence_kind(ev: dict) -> str:
    return str(ev.get("@odata.type", "")).rsplit(".", 1)[-1]


def graph_device(ev: dict) -> dict:
    """A Graph ``deviceEvidence`` as an XDR-shaped device (``deviceId`` from ``mdeDeviceId``)."""
    return {"deviceId": ev.get("mdeDeviceId"), "aadDeviceId": ev.get("azureAdDeviceId"), "deviceDnsName": ev.get("deviceDnsName"),
            "riskScore": _pascal(ev.get("riskScore")), "osPlatform": ev.get("osPlatform"),
            "osBuild": ev.get("osBuild"), "version": ev.get("version"),
            "healthStatus": _pascal(ev.get("healthStatus")), "rbacGroupName": ev.get("rbacGroupName"),
            "firstSeen": ev.get("firstSeenDateTime"), "tags": list(ev.get("tags") or [])}


def xdr_device(dev: dict) -> dict:
    """An XDR alert device with ``deviceId`` filled from ``mdatpDeviceId`` (the raw keys stay)."""
    return {**dev, "deviceId": dev.get("mdatpDeviceId")} if isinstance(dev, dict) else dev


def xdr_alert(alert: dict) -> dict:
    if not isinstance(alert, dict):
        return alert
    return {**alert, "devices": [xdr_device(d) for d in alert.get("devices") or []]}


def graph_entity(ev: dict) -> dict:
    kind = _evidence_kind(ev)
    out: dict[str, Any] = {"entityType": _ENTITY_TYPES.get(kind, _pascal(kind.removesuffix("Evidence")))}
    account = ev.get("userAccount") or {}
    file = ev.get("fileDetails") or (ev.get("imageFile") or {})
    out.update({k: v for k, v in {
        "accountName": account.get("accountName"), "domainName": account.get("domainName"),
        "userPrincipalName": account.get("userPrincipalName"), "ipAddress": ev.get("ipAddress"),
        "url": ev.get("url"), "sha1": file.get("sha1"), "sha256": file.get("sha256"),
        "fileName": file.get("fileName"), "filePath": file.get("filePath"),
        "processId": ev.get("processId"), "processCommandLine": ev.get("processCommandLine"),
        "mailboxAddress": (ev.get("primaryAddress") or ev.get("mailboxAddress")),
    }.items() if v is not None})
    return out


def graph_alert(alert: dict) -> dict:
    evidence = alert.get("evidence") or []
    devices = [graph_device(ev) for ev in evidence if _evidence_kind(ev) == "deviceEvidence"]
    entities = [graph_entity(ev) for ev in evidence if _evidence_kind(ev) != "deviceEvidence"]
    return {**from_graph_alert(alert), "devices": devices, "entities": entities}


def from_graph(inc: dict) -> dict:
    raw_id = inc.get("id")
    sev = inc.get("severity")
    det = inc.get("determination")
    return {
        "incidentId": int(raw_id) if isinstance(raw_id, str) and raw_id.isdigit() else raw_id,
        "incidentName": inc.get("displayName"),
        "status": _pascal(inc.get("status")),
        "severity": _GRAPH_SEVERITY.get(sev, _pascal(sev)),
        "assignedTo": inc.get("assignedTo"),
        "classification": _pascal(inc.get("classification")),
        "determination": _GRAPH_DETERMINATION.get(det, _pascal(det)),
        "tags": list(inc.get("customTags") or []),
        "createdTime": inc.get("createdDateTime"),
        "lastUpdateTime": inc.get("lastUpdateDateTime"),
        "comments": [{"comment": c.get("comment"), "createdBy": c.get("createdByDisplayName"),
                      "createdTime": c.get("createdDateTime")} for c in inc.get("comments") or []],
        "alerts": [graph_alert(a) for a in inc.get("alerts") or []],
        "webUrl": inc.get("incidentWebUrl"),
        "api": "graph",
    }


def from_xdr(inc: dict) -> dict:
    return {**inc, "tags": inc.get("tags") or [], "alerts": [xdr_alert(a) for a in inc.get("alerts") or []],
            "comments": inc.get("comments") or [], "api": "xdr"}


# ---- API choice ----------------------------------------------------------------------------------

TITLES = {"xdr": "Defender XDR", "graph": "Microsoft Graph"}


async def choose(ctx: Any, wanted: str, roles: dict[str, tuple[str, ...]]) -> str:
    """The API for an incident action: the step's ``api``, the tenant's ``apis.incidents``, else
    XDR if the app holds its incident role (one of ``roles["xdr"]``), else Graph if it holds
    Graph's; else :class:`~runner.errors.PermissionMissing` naming both, with no API call."""
    api, why = await choose_api(ctx, wanted, preference="incidents", roles=roles, titles=TITLES, what="incident")
    if why != "input":
        ctx.log.debug("incidents on %s (%s)", api, why)
    return api


# ---- list ----------------------------------------------------------------------------------------

class ListIncidentsInput(Inputs):
    api: Api = Field("auto", description=AUTO)
    status: STATUS | None = Field(None, description="Only incidents with this status")
    severity: SEVERITY | None = Field(None, description="Only this severity (XDR cannot filter it server-side: "
                                                          "filtered here)")
    min_severity: SEVERITY | None = Field(None, description="Only this severity or higher")
    updated_since: str | None = Field(None, description="ISO 8601 time: only incidents updated at or after it")
    created_since: str | None = Field(None, description="ISO 8601 time: only incidents created at or after it")
    assigned_to: str | None = Field(None, description="Only incidents assigned to this user")
    filter: str | None = Field(None, description=RAW_FILTER + " (in the chosen API's field names)")
    max_items: int = Field(500, ge=1, le=100_000, description="Stop after this many incidents")

    _times = field_validator("updated_since", "created_since")(iso_time)


_ORDER = ["UnSpecified", "Informational", "Low", "Medium", "High"]


def _severity_ok(inc: dict, inputs: ListIncidentsInput) -> bool:
    sev = inc.get("severity")
    if inputs.severity and sev != inputs.severity:
        return False
    if inputs.min_severity:
        return sev in _ORDER and _ORDER.index(sev) >= _ORDER.index(inputs.min_severity)
    return True


async def list_incidents(ctx, inputs: ListIncidentsInput) -> IncidentList:
    """List incidents (newest first) on XDR or Graph, normalized to one shape, alerts included."""
    api = await choose(ctx, inputs.api, INCIDENT_READ)
    c = client(ctx, api, INCIDENT_READ[api], quota=api)
    since = odata.datetime(inputs.updated_since) if inputs.updated_since else None
    created = odata.datetime(inputs.created_since) if inputs.created_since else None
    assigned = odata.eq("assignedTo", inputs.assigned_to) if inputs.assigned_to else None
    if api == "xdr":
        flt = odata.all_of(odata.eq("status", inputs.status) if inputs.status else None,
                           odata.ge("lastUpdateTime", since) if since else None,
                           odata.ge("createdTime", created) if created else None,
                           assigned, odata.raw(inputs.filter))
        params = {"$filter": flt} if flt else {}
        raw = await c.list(XDR_PATH, params, page_size=100, max_items=None if inputs.severity or
                           inputs.min_severity else inputs.max_items)
        items = [from_xdr(i) for i in raw]
    else:
        flt = odata.all_of(odata.eq("status", _camel(inputs.status)) if inputs.status else None,
                           odata.eq("severity", _camel(inputs.severity)) if inputs.severity else None,
                           odata.ge("lastUpdateDateTime", since) if since else None,
                           odata.ge("createdDateTime", created) if created else None,
                           assigned, odata.raw(inputs.filter))
        params = {"$expand": "alerts", **({"$filter": flt} if flt else {})}
        raw = await c.list(GRAPH_PATH, params, page_size=50, max_items=inputs.max_items)
        items = [from_graph(i) for i in raw]
    items = [i for i in items if _severity_ok(i, inputs)][: inputs.max_items]
    ctx.log.info("%d incident(s) from %s", len(items), api)
    warn_missing_ids(ctx, items, api)
    return IncidentList.model_validate(items)


def warn_missing_ids(ctx: Any, incidents: list[dict], api: str) -> None:
    """A step warning when devices came without the machine id the next steps need."""
    devices = [d for i in incidents for a in i.get("alerts") or [] for d in a.get("devices") or []
               if isinstance(d, dict)]
    lacking = sum(1 for d in devices if not d.get("deviceId"))
    if lacking:
        field = "mdatpDeviceId" if api == "xdr" else "mdeDeviceId (deviceEvidence)"
        ctx.warn(f"{lacking} of {len(devices)} incident device(s) came without {field}: no machine id to act on")


# ---- get -----------------------------------------------------------------------------------------

class GetIncidentInput(Inputs):
    incident_id: IncidentId = Field(description="The incident id, a number (XDR incidentId / Graph id)")
    api: Api = Field("auto", description=AUTO)


def _id(inputs: Any) -> dict:
    return {"incident_id": inputs.incident_id}


async def get_incident(ctx, inputs: GetIncidentInput) -> Incident:
    """Get one incident, with its alerts, normalized."""
    api = await choose(ctx, inputs.api, INCIDENT_READ)
    c = client(ctx, api, INCIDENT_READ[api], quota=api)
    body = await c.get(XDR_ONE if api == "xdr" else GRAPH_ONE, None if api == "xdr" else {"$expand": "alerts"},
                       segments=_id(inputs))
    incident = from_xdr(body) if api == "xdr" else from_graph(body)
    warn_missing_ids(ctx, [incident], api)
    return Incident.model_validate(incident)


# ---- update --------------------------------------------------------------------------------------

class UpdateIncidentInput(Inputs):
    incident_id: IncidentId = Field(description="The incident id, a number")
    api: Api = Field("auto", description=AUTO)
    status: Literal["Active", "InProgress", "Resolved"] | None = Field(None, description="New status")
    assigned_to: str | None = Field(None, description="User (UPN) to assign it to")
    classification: CLASSIFICATION | None = Field(None, description="TruePositive, FalsePositive, "
                                                                     "InformationalExpectedActivity")
    determination: str | None = Field(None, description="e.g. Malware, Phishing, NotMalicious (with "
                                                        "classification TruePositive on XDR)")
    tags: list[str] | None = Field(None, description="The incident's tags (replaces them)")
    comment: str | None = Field(None, description="A comment to add")


async def update_incident(ctx, inputs: UpdateIncidentInput) -> Incident:
    """Change status, assignment, classification, determination, tags; add a comment. Sends only
    the fields given (a PATCH: safe to repeat)."""
    api = await choose(ctx, inputs.api, INCIDENT_WRITE)
    c = client(ctx, api, INCIDENT_WRITE[api], quota=api)
    if api == "xdr":
        body = {k: v for k, v in {"status": inputs.status, "assignedTo": inputs.assigned_to,
                                  "classification": inputs.classification, "determination": inputs.determination,
                                  "tags": inputs.tags, "comment": inputs.comment}.items() if v is not None}
        if not body:
            raise errors.ActionInputError("nothing to update", hint="give at least one of status, assigned_to, "
                                          "classification, determination, tags, comment")
        return Incident.model_validate(from_xdr(await c.patch(XDR_ONE, body, segments=_id(inputs))))
    body = {k: v for k, v in {"status": _camel(inputs.status), "assignedTo": inputs.assigned_to,
                              "classification": _camel(inputs.classification),
                              "determination": _camel(inputs.determination),
                              "customTags": inputs.tags}.items() if v is not None}
    if not body and not inputs.comment:
        raise errors.ActionInputError("nothing to update", hint="give at least one field to change")
    updated = await c.patch(GRAPH_ONE, body, segments=_id(inputs)) if body else None
    if inputs.comment:
        # Graph keeps comments apart; re-adding the same text on a retry is visible but harmless
        await c.post(GRAPH_ONE + "/comments", {"@odata.type": "microsoft.graph.security.alertComment",
                                               "comment": inputs.comment}, segments=_id(inputs))
        updated = None
    if not updated or "alerts" not in updated:
        updated = await c.get(GRAPH_ONE, {"$expand": "alerts"}, segments=_id(inputs))
    return Incident.model_validate(from_graph(updated))


async def reconcile_update(ctx, inputs: UpdateIncidentInput) -> Incident | None:
    """After a crash, did the update take effect? The fields are absolute values (sending them
    again is safe), but a comment would be added twice: with a comment, the incident is read,
    and an incident that already carries that comment and every value asked for is the outcome.
    Anything else is sent (again)."""
    if not inputs.comment:
        return None
    current = await get_incident(ctx, GetIncidentInput(incident_id=inputs.incident_id, api=inputs.api))
    asked = {"status": inputs.status, "assignedTo": inputs.assigned_to, "classification": inputs.classification,
             "determination": inputs.determination, "tags": inputs.tags}
    return current if update_applied(current.model_dump(), inputs.comment, asked) else None


ACTIONS = [
    Action(name="defender.list_incidents", summary="List incidents (XDR or Graph), normalized to one shape",
           func=list_incidents, input_model=ListIncidentsInput, output_model=IncidentList, effect="read",
           roles=INCIDENT_READ, quota="xdr", api_choice="incidents"),
    Action(name="defender.get_incident", summary="Get one incident with its alerts, devices and entities",
           func=get_incident, input_model=GetIncidentInput, output_model=Incident, effect="read",
           roles=INCIDENT_READ, quota="xdr", api_choice="incidents"),
    Action(name="defender.update_incident", summary="Update an incident's status, assignment, classification, "
           "tags or add a comment", func=update_incident, input_model=UpdateIncidentInput, output_model=Incident,
           effect="write", roles=INCIDENT_WRITE, quota="xdr", reconcile=reconcile_update,
           api_choice="incidents"),
]
