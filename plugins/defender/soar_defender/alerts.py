"""MDE alerts: ``/api/alerts`` (list with $filter/$top/$skip, get, PATCH); and Graph's alerts
(``microsoft.graph.security.alert``, in a Graph incident's ``alerts``) brought to the normalized
alert shape — XDR's field names and spellings (:func:`from_graph_alert`)."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, RootModel, field_validator

from runner.plugin import Action, errors, odata

from soar_defender.common import ALERT_READ, ALERT_WRITE, RAW_FILTER, Inputs, Loose, iso_time, mde, update_applied
from soar_defender.ids import AlertId, IncidentId, MachineId

ALERT_PATH = "/api/alerts/{alert_id}"

# Graph detectionSource member -> the XDR spelling (Defender XDR's incident alerts). Graph's
# members: the security-alert reference page, "detectionSource values".
XDR_DETECTION_SOURCES = {
    "microsoftDefenderForEndpoint": "WindowsDefenderAtp", "antivirus": "WindowsDefenderAv",
    "smartScreen": "WindowsDefenderSmartScreen", "customTi": "CustomerTI",
    "microsoftDefenderForOffice365": "OfficeATP", "automatedInvestigation": "AutomatedInvestigation",
    "microsoftThreatExperts": "ThreatExperts", "customDetection": "CustomDetection",
    "microsoftDefenderForIdentity": "AzureATP", "cloudAppSecurity": "MCAS", "microsoft365Defender": "MTP",
    "azureAdIdentityProtection": "AzureAdIdentityProtection", "manual": "Manual", "unknown": "Unknown",
}
_XDR_ENUM_SPECIAL = {"severity": {"unknown": "UnSpecified"}, "determination": {"unknown": "NotAvailable"}}


class Alert(Loose):
    """An MDE alert as the API returns it (``id``, ``incidentId``, ``machineId``, ``status``...)."""

    id: str
    incidentId: int | None = None
    machineId: str | None = None
    computerDnsName: str | None = None
    title: str | None = None
    severity: str | None = None
    status: str | None = None
    classification: str | None = None
    determination: str | None = None
    assignedTo: str | None = None
    alertCreationTime: str | None = None
    lastUpdateTime: str | None = None


def _pascal(value):
    return value[:1].upper() + value[1:] if isinstance(value, str) and value else value


def _xdr_enum(field: str, value):
    """A Graph camelCase member as XDR spells it (``inProgress`` -> ``InProgress``)."""
    return _XDR_ENUM_SPECIAL.get(field, {}).get(value, _pascal(value))


def _int_id(value):
    return int(value) if isinstance(value, str) and value.isdigit() else value


def from_graph_alert(alert: dict) -> dict:
    """A Graph ``microsoft.graph.security.alert`` in the normalized alert shape: XDR's names
    (``alertId``, ``creationTime``...), an integer ``incidentId``, and XDR's spellings of every
    enum — ``serviceSource`` ``MicrosoftDefenderForEndpoint``, ``detectionSource``
    ``WindowsDefenderAtp`` — whichever API served it. Evidence is left to the caller."""
    source = alert.get("detectionSource")
    return {"alertId": alert.get("id"), "providerAlertId": alert.get("providerAlertId"),
            "incidentId": _int_id(alert.get("incidentId")), "title": alert.get("title"),
            "description": alert.get("description"), "category": alert.get("category"),
            "status": _xdr_enum("status", alert.get("status")),
            "severity": _xdr_enum("severity", alert.get("severity")),
            "classification": _xdr_enum("classification", alert.get("classification")),
            "determination": _xdr_enum("determination", alert.get("determination")),
            "serviceSource": _pascal(alert.get("serviceSource")),
            "detectionSource": XDR_DETECTION_SOURCES.get(source, _pascal(source)),
            "detectorId": alert.get("detectorId"), "assignedTo": alert.get("assignedTo"),
            "creationTime": alert.get("createdDateTime"), "lastUpdatedTime": alert.get("lastUpdateDateTime"),
            "resolvedTime": alert.get("resolvedDateTime"), "firstActivity": alert.get("firstActivityDateTime"),
            "lastActivity": alert.get("lastActivityDateTime"), "threatFamilyName": alert.get("threatFamilyName"),
            "mitreTechniques": list(alert.get("mitreTechniques") or []), "webUrl": alert.get("alertWebUrl")}


class AlertList(RootModel[list[Alert]]):
    """A list of MDE alerts."""

    model_config = ConfigDict(defer_build=True)


class ListAlertsInput(Inputs):
    status: Literal["New", "InProgress", "Resolved"] | None = Field(None, description="Only this status")
    severity: Literal["UnSpecified", "Informational", "Low", "Medium", "High"] | None = Field(
        None, description="Only this severity")
    incident_id: IncidentId | None = Field(None, description="Only alerts of this incident")
    machine_id: MachineId | None = Field(None, description="Only alerts on this machine (filtered here)")
    updated_since: str | None = Field(None, description="ISO 8601: only alerts updated at or after it")
    filter: str | None = Field(None, description=RAW_FILTER)
    evidence: bool = Field(False, description="Include evidence ($expand=evidence)")
    max_items: int = Field(1000, ge=1, le=100_000, description="Stop after this many alerts")

    _times = field_validator("updated_since")(iso_time)


async def list_alerts(ctx, inputs: ListAlertsInput) -> AlertList:
    """List MDE alerts, newest first, paging through $top/$skip."""
    since = inputs.updated_since
    flt = odata.all_of(odata.eq("status", inputs.status) if inputs.status else None,
                       odata.eq("severity", inputs.severity) if inputs.severity else None,
                       odata.eq("incidentId", inputs.incident_id) if inputs.incident_id is not None else None,
                       odata.ge("lastUpdateTime", odata.datetime(since)) if since else None,
                       odata.raw(inputs.filter))
    params = {**({"$filter": flt} if flt else {}), **({"$expand": "evidence"} if inputs.evidence else {})}
    items = await mde(ctx, ALERT_READ).list("/api/alerts", params, page_size=1000, max_items=inputs.max_items)
    if inputs.machine_id:
        items = [a for a in items if str(a.get("machineId") or "").lower() == inputs.machine_id]
    return AlertList.model_validate(items)


class GetAlertInput(Inputs):
    alert_id: AlertId = Field(description="The alert id (e.g. da637472900382838869_1364969609)")


async def get_alert(ctx, inputs: GetAlertInput) -> Alert:
    """Get one MDE alert."""
    return Alert.model_validate(await mde(ctx, ALERT_READ).get(ALERT_PATH, segments={"alert_id": inputs.alert_id}))


class UpdateAlertInput(Inputs):
    alert_id: AlertId = Field(description="The alert id (e.g. da637472900382838869_1364969609)")
    status: Literal["New", "InProgress", "Resolved"] | None = Field(None, description="New status")
    assigned_to: str | None = Field(None, description="Owner (UPN)")
    classification: Literal["TruePositive", "InformationalExpectedActivity", "FalsePositive"] | None = Field(
        None, description="Classification")
    determination: str | None = Field(None, description="Determination, e.g. Malware")
    comment: str | None = Field(None, description="Comment to add")


async def update_alert(ctx, inputs: UpdateAlertInput) -> Alert:
    """Update an alert's status, owner, classification, determination or add a comment (PATCH)."""
    body = {k: v for k, v in {"status": inputs.status, "assignedTo": inputs.assigned_to,
                              "classification": inputs.classification, "determination": inputs.determination,
                              "comment": inputs.comment}.items() if v is not None}
    if not body:
        raise errors.ActionInputError("nothing to update", hint="give at least one of status, assigned_to, "
                                      "classification, determination, comment")
    return Alert.model_validate(await mde(ctx, ALERT_WRITE).patch(ALERT_PATH, body,
                                                                  segments={"alert_id": inputs.alert_id}))


async def reconcile_update(ctx, inputs: UpdateAlertInput) -> Alert | None:
    """After a crash, did the update take effect? The fields are absolute values (safe to send
    again), but a comment would be added twice: with one, the alert is read, and an alert that
    already carries that comment and every value asked for is the outcome."""
    if not inputs.comment:
        return None
    current = await mde(ctx, ALERT_READ).get(ALERT_PATH, segments={"alert_id": inputs.alert_id})
    asked = {"status": inputs.status, "assignedTo": inputs.assigned_to, "classification": inputs.classification,
             "determination": inputs.determination}
    return Alert.model_validate(current) if update_applied(current, inputs.comment, asked) else None


ACTIONS = [
    Action(name="defender.list_alerts", summary="List Defender for Endpoint alerts", func=list_alerts,
           input_model=ListAlertsInput, output_model=AlertList, effect="read", roles={"mde": ALERT_READ},
           quota="mde"),
    Action(name="defender.get_alert", summary="Get one Defender for Endpoint alert", func=get_alert,
           input_model=GetAlertInput, output_model=Alert, effect="read", roles={"mde": ALERT_READ}, quota="mde"),
    Action(name="defender.update_alert", summary="Update an alert's status, owner or classification",
           func=update_alert, input_model=UpdateAlertInput, output_model=Alert, effect="write",
           roles={"mde": ALERT_WRITE}, quota="mde", reconcile=reconcile_update),
]
