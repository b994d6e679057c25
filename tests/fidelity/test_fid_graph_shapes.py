"""Documented-field checks for every Microsoft Graph security resource the simulator serves.

Each resource carries exactly the properties of its Microsoft Graph v1.0 reference page
(security-incident, security-alert, security-alertevidence and its derived types, userAccount,
fileDetails, alertComment) — nested where Graph nests them — with the enum members those pages
list. The PATCH routes take the classification/determination pairs the reference pages
document. And the defender plugin normalizes a Graph-sourced alert to the same spellings and
types as an XDR one.
"""

from __future__ import annotations

import httpx
import pytest

from runner.sim import SimulatedCloud

GRAPH = "https://graph.microsoft.com/v1.0/security"

# ---- the reference pages' properties (Microsoft Graph v1.0, "Properties" and "JSON representation")
INCIDENT = {"@odata.type", "id", "incidentWebUrl", "tenantId", "redirectIncidentId", "displayName", "createdDateTime",
            "lastUpdateDateTime", "assignedTo", "classification", "determination", "status", "severity", "customTags",
            "comments", "systemTags", "description"}
ALERT = {"@odata.type", "id", "providerAlertId", "incidentId", "status", "severity", "classification", "determination",
         "serviceSource", "detectionSource", "detectorId", "tenantId", "title", "description", "recommendedActions",
         "category", "assignedTo", "alertWebUrl", "incidentWebUrl", "actorDisplayName", "threatDisplayName",
         "threatFamilyName", "mitreTechniques", "createdDateTime", "lastUpdateDateTime", "resolvedDateTime",
         "firstActivityDateTime", "lastActivityDateTime", "comments", "evidence", "systemTags"}
EVIDENCE = {"@odata.type", "createdDateTime", "verdict", "remediationStatus", "remediationStatusDetails", "roles",
            "detailedRoles", "tags"}
EVIDENCE_TYPES = {
    "userEvidence": EVIDENCE | {"userAccount"},
    "fileEvidence": EVIDENCE | {"detectionStatus", "fileDetails", "mdeDeviceId"},
    "processEvidence": EVIDENCE | {"detectionStatus", "imageFile", "mdeDeviceId", "parentProcessCreationDateTime",
                                   "parentProcessId", "parentProcessImageFile", "processCommandLine",
                                   "processCreationDateTime", "processId", "userAccount"},
    "ipEvidence": EVIDENCE | {"ipAddress", "countryLetterCode"},
    "urlEvidence": EVIDENCE | {"url"},
    "deviceEvidence": EVIDENCE | {"firstSeenDateTime", "mdeDeviceId", "azureAdDeviceId", "deviceDnsName", "osPlatform",
                                  "osBuild", "version", "rbacGroupId", "rbacGroupName", "healthStatus", "riskScore",
                                  "onboardingStatus", "defenderAvStatus", "vmMetadata", "ipInterfaces",
                                  "loggedOnUsers"},
}
USER_ACCOUNT = {"accountName", "azureAdUserId", "displayName", "domainName", "userPrincipalName", "userSid"}
FILE_DETAILS = {"sha1", "sha256", "fileName", "filePath", "fileSize", "filePublisher", "signer", "issuer"}
COMMENT = {"@odata.type", "comment", "createdByDisplayName", "createdDateTime"}
# enum members (security-alert, security-incident, the evidence pages)
DETECTION_SOURCES = {"unknown", "microsoftDefenderForEndpoint", "antivirus", "smartScreen", "customTi",
                     "microsoftDefenderForOffice365", "automatedInvestigation", "microsoftThreatExperts",
                     "customDetection", "microsoftDefenderForIdentity", "cloudAppSecurity", "microsoft365Defender",
                     "azureAdIdentityProtection", "manual", "microsoftDataLossPrevention", "appGovernancePolicy",
                     "appGovernanceDetection"}
SERVICE_SOURCES = {"unknown", "microsoftDefenderForEndpoint", "microsoftDefenderForIdentity",
                   "microsoftDefenderForCloudApps", "microsoftDefenderForOffice365", "microsoft365Defender",
                   "azureAdIdentityProtection", "microsoftAppGovernance", "dataLossPrevention"}
CLASSIFICATIONS = {"unknown", "falsePositive", "truePositive", "informationalExpectedActivity"}
DETERMINATIONS = {"unknown", "apt", "malware", "securityPersonnel", "securityTesting", "unwantedSoftware", "other",
                  "multiStagedAttack", "compromisedAccount", "phishing", "maliciousUserActivity", "notMalicious",
                  "notEnoughDataToValidate", "confirmedActivity", "lineOfBusinessApplication"}
ENUMS = {"detectionSource": DETECTION_SOURCES, "serviceSource": SERVICE_SOURCES, "classification": CLASSIFICATIONS,
         "determination": DETERMINATIONS, "detectionStatus": {"detected", "blocked", "prevented"},
         "verdict": {"unknown", "suspicious", "malicious", "noThreatsFound"},
         "remediationStatus": {"none", "remediated", "prevented", "blocked", "notFound"},
         "riskScore": {"none", "informational", "low", "medium", "high"},
         "healthStatus": {"active", "inactive", "impairedCommunication", "noSensorData",
                          "noSensorDataImpairedCommunication", "unknown"},
         "onboardingStatus": {"insufficientInfo", "onboarded", "canBeOnboarded", "unsupported"},
         "defenderAvStatus": {"notReporting", "disabled", "notUpdated", "updated", "unknown", "notSupported"}}


@pytest.fixture
def graph():
    cloud = SimulatedCloud()
    token = cloud.issue_token("contoso", "graph")
    with httpx.Client(transport=httpx.MockTransport(cloud.handler),
                      headers={"Authorization": f"Bearer {token}"}) as client:
        yield client, cloud


def _enum_problems(item: dict, where: str) -> list[str]:
    return [f"{where}.{k}={item[k]!r}" for k, members in ENUMS.items()
            if item.get(k) is not None and item[k] not in members]


def _evidence_problems(ev: dict, where: str) -> list[str]:
    kind = ev["@odata.type"].rsplit(".", 1)[-1]
    problems = [f"{where}: {kind} is not a documented evidence type"] if kind not in EVIDENCE_TYPES else []
    if kind in EVIDENCE_TYPES and set(ev) != EVIDENCE_TYPES[kind]:
        problems.append(f"{where} ({kind}): extra {sorted(set(ev) - EVIDENCE_TYPES[kind])}, "
                        f"missing {sorted(EVIDENCE_TYPES[kind] - set(ev))}")
    for key in ("userAccount",):
        if ev.get(key) is not None and set(ev[key]) != USER_ACCOUNT:
            problems.append(f"{where}.{key}: {sorted(ev[key])}")
    for key in ("fileDetails", "imageFile", "parentProcessImageFile"):
        if ev.get(key) is not None and set(ev[key]) != FILE_DETAILS:
            problems.append(f"{where}.{key}: {sorted(ev[key])}")
    return problems + _enum_problems(ev, where)


def alert_problems(alert: dict, where: str = "alert") -> list[str]:
    keys = set(alert) - {"@odata.context"}
    problems = [f"{where}: extra {sorted(keys - ALERT)}, missing {sorted(ALERT - keys)}"] if keys != ALERT else []
    problems += _enum_problems(alert, where)
    if not isinstance(alert["incidentId"], str):
        problems.append(f"{where}.incidentId is {type(alert['incidentId']).__name__}, the page says String")
    for i, ev in enumerate(alert["evidence"]):
        problems += _evidence_problems(ev, f"{where}.evidence[{i}]")
    problems += [f"{where}.comments[{i}]" for i, c in enumerate(alert["comments"]) if set(c) != COMMENT]
    return problems


def incident_problems(inc: dict, where: str = "incident") -> list[str]:
    keys = set(inc) - {"@odata.context", "alerts"}
    problems = [] if keys == INCIDENT else [f"{where}: extra {sorted(keys - INCIDENT)}, "
                                           f"missing {sorted(INCIDENT - keys)}"]
    problems += _enum_problems(inc, where)
    problems += [f"{where}.comments[{i}]" for i, c in enumerate(inc["comments"]) if set(c) != COMMENT]
    for i, alert in enumerate(inc.get("alerts") or []):
        problems += alert_problems(alert, f"{where}.alerts[{i}]")
    return problems


def test_incidents_and_their_alerts_carry_the_documented_properties(graph):
    client, _ = graph
    incidents = client.get(f"{GRAPH}/incidents", params={"$expand": "alerts", "$top": "50"}).json()["value"]
    problems = [p for i, inc in enumerate(incidents) for p in incident_problems(inc, f"incidents[{i}]")]
    assert problems == []
    kinds = {ev["@odata.type"] for inc in incidents for a in inc["alerts"] for ev in a["evidence"]}
    assert len(kinds) == len(EVIDENCE_TYPES)  # every evidence type was checked
    alert = incidents[0]["alerts"][0]
    assert None not in (alert["classification"], alert["determination"])  # Graph says "unknown", not null
    one = client.get(f"{GRAPH}/incidents/{incidents[0]['id']}").json()
    assert incident_problems(one) == [] and "alerts" not in one


def test_alerts_v2_carry_the_documented_properties(graph):
    client, cloud = graph
    tenant = cloud.defender.tenant("contoso")
    body = client.get(f"{GRAPH}/alerts_v2", params={"$top": "2000", "$count": "true"}).json()
    assert body["@odata.count"] == len(tenant.alerts) == len(body["value"])
    assert [p for a in body["value"] for p in alert_problems(a, a["id"])] == []
    sources = {a["detectionSource"] for a in body["value"]}
    assert sources <= DETECTION_SOURCES and "unknown" not in sources  # WindowsDefenderAtp/-Av mapped, not lost
    evidence = next(ev for a in body["value"] for ev in a["evidence"]
                    if ev["@odata.type"].endswith(".deviceEvidence"))
    assert evidence["createdDateTime"] and evidence["remediationStatus"] == "none"
    assert evidence["mdeDeviceId"] in {d["id"] for d in tenant.devices}
    one = client.get(f"{GRAPH}/alerts_v2/{body['value'][0]['id']}").json()
    assert alert_problems(one) == [] and one["@odata.context"].endswith("/$metadata#security/alerts_v2/$entity")
    filtered = client.get(f"{GRAPH}/alerts_v2", params={"$filter": "serviceSource eq 'microsoftDefenderForEndpoint'"})
    assert filtered.status_code == 200 and filtered.json()["value"]


@pytest.mark.parametrize("classification, determination, stored", [
    ("falsePositive", "clean", "notMalicious"),
    ("falsePositive", "insufficientData", "notEnoughDataToValidate"),
    ("falsePositive", "notMalicious", "notMalicious"),
    ("informationalExpectedActivity", "securityTesting", "securityTesting"),
    ("informationalExpectedActivity", "confirmedUserActivity", "confirmedActivity"),
    ("truePositive", "compromisedUser", "compromisedAccount"),
    ("TruePositive", "MultiStagedAttack", "multiStagedAttack"),  # the update page's own example
])
def test_patch_takes_the_documented_pairs(graph, classification, determination, stored):
    client, cloud = graph
    tenant = cloud.defender.tenant("contoso")
    incident_id = tenant.incidents[0]["incidentId"]
    answer = client.patch(f"{GRAPH}/incidents/{incident_id}",
                          json={"classification": classification, "determination": determination})
    assert answer.status_code == 200, answer.text
    assert (answer.json()["classification"], answer.json()["determination"]) == (
        classification[:1].lower() + classification[1:], stored)
    assert incident_problems(answer.json()) == []
    alert_id = tenant.alerts[0]["id"]
    answer = client.patch(f"{GRAPH}/alerts_v2/{alert_id}",
                          json={"classification": classification, "determination": determination, "status": "resolved"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["determination"] == stored and answer.json()["status"] == "resolved"
    assert alert_problems(answer.json()) == []


def test_patch_refuses_what_is_not_documented(graph):
    client, cloud = graph
    tenant = cloud.defender.tenant("contoso")
    incident_id = tenant.incidents[0]["incidentId"]
    for body in ({"determination": "bogus"}, {"classification": "maybe"}, {"severity": "high"}):
        answer = client.patch(f"{GRAPH}/incidents/{incident_id}", json=body)
        assert answer.status_code == 400 and answer.json()["error"]["code"] == "BadRequest", body
    for body in ({"determination": "bogus"}, {"status": "closed"}, {"title": "x"}):
        answer = client.patch(f"{GRAPH}/alerts_v2/{tenant.alerts[0]['id']}", json=body)
        assert answer.status_code == 400 and answer.json()["error"]["code"] == "BadRequest", body
    assert client.get(f"{GRAPH}/alerts_v2/nope").status_code == 404


def test_comments_take_one_alert_comment_object(graph):
    client, cloud = graph
    tenant = cloud.defender.tenant("contoso")
    for path in (f"incidents/{tenant.incidents[0]['incidentId']}", f"alerts_v2/{tenant.alerts[0]['id']}"):
        answer = client.post(f"{GRAPH}/{path}/comments",
                             json={"@odata.type": "microsoft.graph.security.alertComment", "comment": "Demo"})
        assert answer.status_code == 200, answer.text
        comments = answer.json()["value"]
        assert comments[-1]["comment"] == "Demo" and all(set(c) == COMMENT for c in comments)
        listed = client.get(f"{GRAPH}/{path}").json()["comments"]
        assert listed[-1]["comment"] == "Demo"
        # a JSON array, as the SDKs send it, is refused as the service refuses it
        refused = client.post(f"{GRAPH}/{path}/comments", json=[{"comment": "x"}])
        assert refused.status_code == 400
        assert refused.json()["error"]["message"] == "Empty Payload. JSON content expected."


def test_hunting_answers_on_both_paths(graph):
    client, _ = graph
    for path, body in (("runHuntingQuery", {"Query": "DeviceInfo | take 2"}),
                       ("microsoft.graph.security.runHuntingQuery", {"query": "DeviceInfo | take 2",
                                                                     "timespan": None, "workspaceId": None})):
        answer = client.post(f"{GRAPH}/{path}", json=body)
        assert answer.status_code == 200, answer.text
        assert set(answer.json()) == {"@odata.context", "schema", "results"} and len(answer.json()["results"]) == 2


@pytest.mark.parametrize("api", ["graph", "xdr"])
def test_plugin_normalizes_graph_alerts_like_xdr_ones(soar_action, soar_cloud, api):
    tenant = soar_cloud.defender.tenant("contoso")
    incident = next(i for i in tenant.incidents if i["alertIds"])
    out = soar_action("defender.get_incident", tenant="contoso", incident_id=incident["incidentId"], api=api)
    alert = out["alerts"][0]
    stored = tenant.alert(alert["alertId"])
    assert alert["incidentId"] == incident["incidentId"] and isinstance(alert["incidentId"], int)
    assert alert["serviceSource"] == "MicrosoftDefenderForEndpoint"
    assert alert["detectionSource"] == stored["detectionSource"]  # WindowsDefenderAtp, not microsoftDefenderForEndpoint
    assert alert["status"] == stored["status"]
