"""Defender for Endpoint (WindowsDefenderATP) routes: alerts, machines, machine actions, indicators.

Served on api.securitycenter.* and, since current docs put MDE there too, api.security.*.
Body parameter names are case-sensitive, as in Defender.
"""

from __future__ import annotations

import ipaddress
import re

import httpx

from soar_defender.sim.clock import iso
from soar_defender.sim.odata import compile_filter
from soar_defender.sim.service import ApiError, Call, Route, paged
from soar_defender.sim.state import ACTIONS, OPEN, ROLE_BY_TYPE

ALERT_READ = ("Alert.Read.All", "Alert.ReadWrite.All")
MACHINE_READ = ("Machine.Read.All", "Machine.ReadWrite.All")
TI = ("Ti.ReadWrite", "Ti.ReadWrite.All")
ALERT_FIELDS = ("alertCreationTime", "lastUpdateTime", "incidentId", "investigationId", "id", "assignedTo",
                "detectionSource", "lastEventTime", "status", "severity", "category")
MACHINE_FIELDS = ("computerDnsName", "id", "version", "deviceValue", "aadDeviceId", "machineTags", "lastSeen",
                  "exposureLevel", "onboardingStatus", "lastIpAddress", "healthStatus", "osPlatform", "riskScore",
                  "rbacGroupId")
ACTION_FIELDS = ("id", "status", "machineId", "type", "requestor", "creationDateTimeUtc")
INDICATOR_FIELDS = ("application", "createdByDisplayName", "expirationTime", "generateAlert", "title",
                    "rbacGroupNames", "rbacGroupIds", "indicatorValue", "indicatorType", "creationTimeDateTimeUtc",
                    "createdBy", "action", "severity")
INDICATOR_TYPES = ("FileSha1", "FileMd5", "FileSha256", "CertificateThumbprint", "IpAddress", "DomainName", "Url")
INDICATOR_ACTIONS = ("Alert", "Warn", "Block", "Audit", "BlockAndRemediate", "AlertAndBlock", "Allowed")
SEVERITIES = ("Informational", "Low", "Medium", "High")
HASH_LEN = {"FileSha1": 40, "FileMd5": 32, "FileSha256": 64, "CertificateThumbprint": 40}
# An evidence item carries every one of these keys, null where they do not apply, as in the
# "List alerts API" examples (the seeded evidence stores only the ones that apply).
EVIDENCE_KEYS = ("entityType", "evidenceCreationTime", "sha1", "sha256", "fileName", "filePath", "processId",
                 "processCommandLine", "processCreationTime", "parentProcessId", "parentProcessCreationTime",
                 "parentProcessFileName", "parentProcessFilePath", "ipAddress", "url", "registryKey",
                 "registryHive", "registryValueType", "registryValue", "accountName", "domainName", "userSid",
                 "aadUserId", "userPrincipalName", "detectionStatus")


# ---- alerts ------------------------------------------------------------------------------------

def _alert_view(alert: dict, expand: bool) -> dict:
    out = {k: v for k, v in alert.items() if k != "evidence"}
    # Unexpanded, the list says "evidence": [] ("List alerts API", example 1).
    out["evidence"] = [{k: ev.get(k) for k in EVIDENCE_KEYS} for ev in alert["evidence"]] if expand else []
    return out


def _expand(call: Call) -> bool:
    return "evidence" in call.query.get("$expand", "").lower()


def list_alerts(call: Call) -> dict:
    pred = compile_filter(call.query.get("$filter"), ALERT_FIELDS)
    found = sorted((a for a in call.tenant.alerts if pred(a)), key=lambda a: a["alertCreationTime"], reverse=True)
    body = paged(call, found, "Alerts", max_top=10000)
    body["value"] = [_alert_view(a, _expand(call)) for a in body["value"]]
    return body


def _alert(call: Call) -> dict:
    alert = call.tenant.alert(call.params["id"])
    if alert is None:
        raise ApiError(404, "ResourceNotFound", f"Alert {call.params['id']} was not found")
    return alert


def get_alert(call: Call) -> dict:
    return {"@odata.context": call.context("Alerts/$entity"), **_alert_view(_alert(call), _expand(call))}


def patch_alert(call: Call) -> dict:
    alert = _alert(call)
    body = call.body()
    allowed = ("status", "assignedTo", "classification", "determination", "comment")
    unknown = [k for k in body if k not in allowed]
    if unknown:
        raise ApiError(400, "InvalidRequestBody", f"Unknown properties: {', '.join(unknown)} (allowed: {', '.join(allowed)})")
    if "status" in body and body["status"] not in ("New", "InProgress", "Resolved"):
        raise ApiError(400, "InvalidRequestBody", f"Invalid status {body['status']!r}")
    if "comment" in body:
        alert["comments"].append({"comment": body.pop("comment"), "createdBy": call.requestor,
                                  "createdTime": iso(call.now)})
    alert.update(body)
    alert["lastUpdateTime"] = iso(call.now)
    return {"@odata.context": call.context("Alerts/$entity"), **_alert_view(alert, False)}


# ---- machines ----------------------------------------------------------------------------------

def list_machines(call: Call) -> dict:
    pred = compile_filter(call.query.get("$filter"), MACHINE_FIELDS)
    if not call.tenant.devices:  # documented: 404 when no recent machines exist
        raise ApiError(404, "ResourceNotFound", "No machines found")
    found = [d for d in call.tenant.devices if pred(d)]
    return paged(call, found, "Machines", max_top=10000)


def _machine(call: Call) -> dict:
    device = call.tenant.device(call.params["id"])
    if device is None:
        raise ApiError(404, "ResourceNotFound", f"Machine {call.params['id']} was not found")
    return device


def get_machine(call: Call) -> dict:
    return {"@odata.context": call.context("Machines/$entity"), **_machine(call)}


def _action_roles(call: Call) -> tuple[str, ...]:
    spec = ACTIONS.get(call.params["action"].lower())
    return (spec[1],) if spec else ()


def machine_action(call: Call) -> httpx.Response:
    spec = ACTIONS.get(call.params["action"].lower())
    if spec is None:
        raise ApiError(404, "NotFound", f"Unknown machine action {call.params['action']!r}")
    type_, _, keys, required = spec
    call.entry["action_type"] = type_
    call.entry["machine_id"] = call.params["id"].lower()
    device = _machine(call)
    call.entry["machine_id"] = device["id"]
    body = call.body()
    for key in required:
        if not isinstance(body.get(key), str) or not body[key].strip():
            raise ApiError(400, "InvalidRequestBody", f"{key} is required")
    for key, allowed in keys.items():
        if allowed and key in body and body[key] not in allowed:
            raise ApiError(400, "InvalidRequestBody", f"Invalid {key} {body[key]!r}; one of {', '.join(allowed)}")
    sha1 = body.get("Sha1")
    if sha1 is not None and not re.fullmatch(r"[0-9a-fA-F]{40}", str(sha1)):
        raise ApiError(400, "InvalidHash", f"Invalid Sha1 {sha1!r}")
    if type_ == "Offboard" and not device["osPlatform"].startswith("Windows"):
        raise ApiError(400, "OsPlatformNotSupported", f"Offboarding is not supported for {device['osPlatform']}")
    if device["onboardingStatus"] != "Onboarded":
        raise ApiError(400, "BadRequest", f"Machine {device['id']} is not onboarded")
    existing = call.tenant.open_action(device["id"], type_)
    if existing is not None:
        settings = call.tenant.settings
        if settings.duplicate_action == "pending" and type_ != "CollectInvestigationPackage":
            call.entry["action_id"] = existing.data["id"]
            return httpx.Response(201, json={"@odata.context": call.context("MachineActions/$entity"),
                                             **existing.data})
        raise ApiError(400, settings.duplicate_code, "Action is already in progress")
    scope = body.get("IsolationType", "Full") if type_ == "Isolate" else \
        body.get("ScanType", "Quick") if type_ == "RunAntiVirusScan" else None
    rec = call.tenant.new_action(device, type_, requestor=call.requestor, comment=body["Comment"], scope=scope,
                                 now=call.now, timing=call.sim.timing, rng=call.sim.next_rng(),
                                 sha1=sha1.lower() if sha1 else None)
    call.entry["action_id"] = rec.data["id"]
    status = 200 if type_ == "Offboard" else 201  # the offboard page says 200
    return httpx.Response(status, json={"@odata.context": call.context("MachineActions/$entity"), **rec.data})


def list_actions(call: Call) -> dict:
    pred = compile_filter(call.query.get("$filter"), ACTION_FIELDS)
    found = sorted((a.data for a in call.tenant.actions if pred(a.data)),
                   key=lambda d: d["creationDateTimeUtc"], reverse=True)
    return paged(call, found, "MachineActions", max_top=10000)


def _action(call: Call):
    rec = call.tenant.action(call.params["id"])
    if rec is None:
        raise ApiError(404, "ResourceNotFound", f"Machine action {call.params['id']} was not found")
    call.entry.update(action_id=rec.data["id"], machine_id=rec.data["machineId"], action_type=rec.data["type"])
    return rec


def get_action(call: Call) -> dict:
    return {"@odata.context": call.context("MachineActions/$entity"), **_action(call).data}


def _cancel_roles(call: Call) -> tuple[str, ...]:
    rec = call.tenant.action(call.params["id"])
    return (ROLE_BY_TYPE.get(rec.data["type"], "Machine.ReadWrite.All"),) if rec else MACHINE_READ


def cancel_action(call: Call) -> dict:
    rec = _action(call)
    body = call.body()
    if not isinstance(body.get("Comment"), str) or not body["Comment"].strip():
        raise ApiError(400, "InvalidRequestBody", "Comment is required")
    if rec.data["status"] not in OPEN:
        raise ApiError(400, "BadRequest", f"Machine action {rec.data['id']} is {rec.data['status']} and cannot be cancelled")
    call.tenant.cancel(rec, call.requestor, body["Comment"], call.now)
    return {"@odata.context": call.context("MachineActions/$entity"), **rec.data}


# ---- indicators --------------------------------------------------------------------------------

def list_indicators(call: Call) -> dict:
    pred = compile_filter(call.query.get("$filter"), INDICATOR_FIELDS)
    return paged(call, [i for i in call.tenant.indicators if pred(i)], "Indicators", max_top=10000)


def _check_value(kind: str, value: str) -> None:
    if kind in HASH_LEN:
        if not re.fullmatch(rf"[0-9a-fA-F]{{{HASH_LEN[kind]}}}", value):
            raise ApiError(400, "InvalidHash", f"Invalid {kind} value {value!r}")
    elif kind == "IpAddress":
        try:
            ipaddress.ip_address(value)
        except ValueError:
            raise ApiError(400, "InvalidIpAddress", f"Invalid IP address {value!r} (CIDR ranges are not supported)") from None
    elif kind == "DomainName":
        if not re.fullmatch(r"(?=.{1,253}$)([A-Za-z0-9-]{1,63}\.)+[A-Za-z]{2,63}", value):
            raise ApiError(400, "InvalidDomainName", f"Invalid domain name {value!r}")
    elif kind == "Url" and not re.fullmatch(r"(https?://)?[^\s/]+\.[^\s/]+(/\S*)?", value):
        raise ApiError(400, "InvalidUrl", f"Invalid URL {value!r}")


def post_indicator(call: Call) -> dict:
    body = call.body()
    for key in ("indicatorValue", "indicatorType", "action", "title", "description"):
        if not isinstance(body.get(key), str) or not body[key]:
            raise ApiError(400, "InvalidRequestBody", f"{key} is required")
    if body["indicatorType"] not in INDICATOR_TYPES:
        raise ApiError(400, "InvalidRequestBody", f"Invalid indicatorType {body['indicatorType']!r}")
    if body["action"] not in INDICATOR_ACTIONS:
        raise ApiError(400, "InvalidRequestBody", f"Invalid action {body['action']!r}")
    if body.get("severity") is not None and body["severity"] not in SEVERITIES:
        raise ApiError(400, "InvalidRequestBody", f"Invalid severity {body['severity']!r}")
    if body["action"] == "Audit" and body.get("generateAlert") is not True:
        raise ApiError(400, "InvalidRequestBody", "The Audit action requires generateAlert=true")
    _check_value(body["indicatorType"], body["indicatorValue"])
    now = iso(call.now)
    tenant = call.tenant
    existing = next((i for i in tenant.indicators if i["indicatorType"] == body["indicatorType"]
                     and i["indicatorValue"].lower() == body["indicatorValue"].lower()), None)
    if existing is None and len(tenant.indicators) >= call.sim.config.max_indicators:
        raise ApiError(400, "BadRequest", f"Maximum number of indicators ({call.sim.config.max_indicators}) reached")
    fields = {k: body.get(k) for k in ("indicatorValue", "indicatorType", "action", "title", "description",
                                       "severity", "expirationTime", "application", "recommendedActions")}
    fields.update(rbacGroupNames=body.get("rbacGroupNames") or [], generateAlert=bool(body.get("generateAlert")),
                  lastUpdateTime=now, lastUpdatedBy=call.requestor)
    if existing is not None:  # "Submit or Update": same type and value updates in place
        existing.update(fields)
        return {"@odata.context": call.context("Indicators/$entity"), **existing}
    indicator = {"id": str(tenant.next_indicator), **fields, "source": call.requestor, "sourceType": "AadApp",
                 "createdBy": call.requestor, "createdByDisplayName": call.requestor,
                 "createdBySource": "PublicApi", "creationTimeDateTimeUtc": now,
                 "rbacGroupIds": []}
    tenant.next_indicator += 1
    tenant.indicators.append(indicator)
    return {"@odata.context": call.context("Indicators/$entity"), **indicator}


def delete_indicator(call: Call) -> httpx.Response:
    tenant = call.tenant
    found = next((i for i in tenant.indicators if i["id"] == call.params["id"]), None)
    if found is None:
        raise ApiError(404, "ResourceNotFound", f"Indicator {call.params['id']} was not found")
    tenant.indicators.remove(found)
    return httpx.Response(204)


def _hunting(call: Call):
    from soar_defender.sim.routes_xdr import hunting

    return hunting("mde")(call)


ROUTES = [
    Route("GET", r"/api/alerts", "mde", "mde", ALERT_READ, "mde", list_alerts),
    Route("GET", r"/api/alerts/(?P<id>[^/]+)", "mde", "mde", ALERT_READ, "mde", get_alert),
    Route("PATCH", r"/api/alerts/(?P<id>[^/]+)", "mde", "mde", ("Alert.ReadWrite.All",), "mde", patch_alert),
    Route("GET", r"/api/machines", "mde", "mde", MACHINE_READ, "mde", list_machines),
    Route("GET", r"/api/machines/(?P<id>[^/]+)", "mde", "mde", MACHINE_READ, "mde", get_machine),
    Route("POST", r"/api/machines/(?P<id>[^/]+)/(?P<action>[A-Za-z]+)", "mde", "mde", _action_roles, "mde",
          machine_action),
    Route("GET", r"/api/machineactions", "mde", "mde", MACHINE_READ, "mde", list_actions),
    Route("GET", r"/api/machineactions/(?P<id>[^/]+)", "mde", "mde", MACHINE_READ, "mde", get_action),
    Route("POST", r"/api/machineactions/(?P<id>[^/]+)/cancel", "mde", "mde", _cancel_roles, "mde", cancel_action),
    Route("GET", r"/api/indicators", "mde", "mde", TI, "mde", list_indicators),
    Route("POST", r"/api/indicators", "mde", "mde", TI, "mde", post_indicator),
    Route("DELETE", r"/api/indicators/(?P<id>[^/]+)", "mde", "mde", TI, "mde", delete_indicator),
    # Served by DefenderSim.hunting (soar_defender.sim.hunting); 501 when it is set to None.
    Route("POST", r"/api/advancedqueries/run", "mde", "mde", ("AdvancedQuery.Read.All",), "mde_hunting", _hunting),
]
