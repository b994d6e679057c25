"""XDR /api/incidents and Graph /v1.0/security/incidents: list, filter, page, get, PATCH."""

from __future__ import annotations

import pytest
from simdefender_helpers import GRAPH, XDR

from soar_defender.sim import HOSTS


def test_xdr_list_newest_first_with_alerts_devices_entities(api):
    r = api.get(f"{XDR}/api/incidents")
    assert r.status_code == 200
    body = r.json()
    assert body["@odata.context"].endswith("/api/$metadata#Incidents")
    times = [i["lastUpdateTime"] for i in body["value"]]
    assert times == sorted(times, reverse=True) and len(times) == 12
    inc = body["value"][0]
    assert isinstance(inc["incidentId"], int) and "alertIds" not in inc and not any(k.startswith("_") for k in inc)
    alert = inc["alerts"][0]
    dev = alert["devices"][0]
    assert len(dev["mdatpDeviceId"]) == 40 and "deviceId" not in dev and dev["deviceDnsName"].endswith(".contoso.com")
    assert {"osPlatform", "healthStatus", "riskScore", "rbacGroupName"} <= set(dev)
    assert alert["entities"] and "@odata.nextLink" not in body


def test_xdr_filters(api, cloud):
    incidents = cloud.defender.tenant("contoso").incidents
    r = api.get(f"{XDR}/api/incidents", params={"$filter": "status eq 'Active' and assignedTo eq null"})
    assert {i["status"] for i in r.json()["value"]} == {"Active"}
    mid = sorted(i["lastUpdateTime"] for i in incidents)[6]
    for op, test in (("ge", lambda t: t >= mid), ("gt", lambda t: t > mid), ("lt", lambda t: t < mid),
                     ("le", lambda t: t <= mid)):
        got = api.get(f"{XDR}/api/incidents", params={"$filter": f"lastUpdateTime {op} {mid}"}).json()["value"]
        assert len(got) == sum(1 for i in incidents if test(i["lastUpdateTime"]))
    got = api.get(f"{XDR}/api/incidents", params={"$filter": "status ne 'Resolved'"}).json()["value"]
    assert got and all(i["status"] != "Resolved" for i in got)
    bad = api.get(f"{XDR}/api/incidents", params={"$filter": "severity eq 'High'"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "ODataError"
    assert set(bad.json()["error"]) == {"code", "message", "target"}
    assert api.get(f"{XDR}/api/incidents", params={"$top": "101"}).status_code == 400


def test_xdr_paging_by_skip_and_optional_next_link(api, cloud):
    first = api.get(f"{XDR}/api/incidents", params={"$top": "5"}).json()
    second = api.get(f"{XDR}/api/incidents", params={"$top": "5", "$skip": "5"}).json()
    ids = [i["incidentId"] for i in first["value"] + second["value"]]
    assert len(set(ids)) == 10 and "@odata.nextLink" not in first
    cloud.defender.tenant("contoso").settings.xdr_next_link = True
    seen, url = [], f"{XDR}/api/incidents?$top=5"
    while url:
        page = api.get(url).json()
        seen += [i["incidentId"] for i in page["value"]]
        url = page.get("@odata.nextLink")
    assert len(seen) == 12 == len(set(seen))


def test_xdr_get_and_patch_rules(api, cloud):
    inc = cloud.defender.tenant("contoso").incidents[0]
    url = f"{XDR}/api/incidents/{inc['incidentId']}"
    assert api.get(url).json()["incidentId"] == inc["incidentId"]
    assert api.get(f"{XDR}/api/incidents/1").status_code == 404
    before = inc["lastUpdateTime"]
    cloud.defender.advance(60)
    r = api.patch(url, {"status": "Resolved", "classification": "TruePositive", "determination": "Malware",
                        "assignedTo": "soc@contoso.com", "tags": ["auto"], "comment": "closed by soar"})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["status"] == "Resolved" and out["tags"] == ["auto"] and out["lastUpdateTime"] > before
    assert out["comments"][-1]["comment"] == "closed by soar"
    for body in ({"Status": "Resolved"}, {"severity": "Low"}, {"status": "Closed"},
                 {"classification": "FalsePositive", "determination": "Malware"}):
        bad = api.patch(url, body)
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "InvalidRequestBody", body
    assert api.patch(f"{XDR}/api/incidents/1", {"status": "Active"}).status_code == 404


def test_graph_list_filter_expand_and_next_link(api):
    r = api.get(f"{GRAPH}/v1.0/security/incidents", params={"$top": "5", "$filter": "status eq 'active'"})
    body = r.json()
    assert r.status_code == 200 and all(i["status"] == "active" for i in body["value"])
    inc = body["value"][0]
    assert isinstance(inc["id"], str) and inc["displayName"] and "customTags" in inc and "alerts" not in inc
    seen, url = [], f"{GRAPH}/v1.0/security/incidents?$top=5&$expand=alerts"
    while url:
        page = api.get(url).json()
        assert all("alerts" in i for i in page["value"])
        seen += [i["id"] for i in page["value"]]
        url = page.get("@odata.nextLink")
    assert len(seen) == 12 == len(set(seen))
    sev = api.get(f"{GRAPH}/v1.0/security/incidents", params={"$filter": "severity eq 'high'"}).json()["value"]
    assert sev and {i["severity"] for i in sev} == {"high"}


def test_graph_get_and_patch(api, cloud):
    inc = cloud.defender.tenant("contoso").incidents[1]
    url = f"{GRAPH}/v1.0/security/incidents/{inc['incidentId']}"
    r = api.patch(url, {"status": "inProgress", "assignedTo": "tier2@contoso.com", "customTags": ["x"]})
    assert r.status_code == 200 and r.json()["status"] == "inProgress" and r.json()["customTags"] == ["x"]
    assert inc["status"] == "InProgress" and inc["tags"] == ["x"]  # the same incident the XDR API shows
    alerts = api.get(url, params={"$expand": "alerts"}).json()["alerts"]
    assert alerts and alerts[0]["incidentId"] == str(inc["incidentId"])
    bad = api.patch(url, {"tags": ["x"]})
    assert bad.status_code == 400 and set(bad.json()["error"]) == {"code", "message", "innerError"}


def test_graph_comments_are_added_to_the_incident_the_xdr_api_shows(api, cloud):
    inc = cloud.defender.tenant("contoso").incidents[2]
    url = f"{GRAPH}/v1.0/security/incidents/{inc['incidentId']}/comments"
    r = api.post(url, {"@odata.type": "microsoft.graph.security.alertComment", "comment": "seen by soar"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["@odata.context"].endswith("$metadata#Collection(microsoft.graph.security.alertComment)")
    assert body["value"][-1]["comment"] == "seen by soar" and body["value"][-1]["createdDateTime"]
    assert inc["comments"][-1]["comment"] == "seen by soar"  # one incident, two APIs
    for bad in ({"Comment": "case matters"}, {"comment": ""}, {}):
        r = api.post(url, bad)
        assert r.status_code == 400 and r.json()["error"]["code"] == "BadRequest", bad
    assert api.post(f"{GRAPH}/v1.0/security/incidents/99999999/comments", {"comment": "x"}).status_code == 404


@pytest.mark.parametrize("host", [h for h in HOSTS if "graph" not in h and "securitycenter" not in h])
def test_xdr_answers_on_every_security_host(api, host):
    r = api.get(f"https://{host}/api/incidents?$top=1")
    assert r.status_code == 200 and len(r.json()["value"]) == 1


@pytest.mark.parametrize("host", ["graph.microsoft.com", "graph.microsoft.us", "dod-graph.microsoft.us"])
def test_graph_answers_on_every_graph_host(api, host):
    assert api.get(f"https://{host}/v1.0/security/incidents?$top=1").status_code == 200
