"""Microsoft's documented OData samples for each Defender list endpoint are accepted and filter right.

Each sample is the request exactly as its Microsoft Learn page prints it (``+`` for spaces
included). The simulator must answer 200 with the items, in order and up to ``$top``, that the
same condition picks from the unfiltered list. A few seeded items are renamed to the samples'
values (a machine ``mymachine1.contoso.com`` with id ``f46b…``, an ``Analyst@contoso.com`` scan)
so that each sample finds something.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Callable

import pytest

from fid_fieldcheck import MDE, START, XDR, Api, new_cloud

SAMPLES_PAGE = "OData queries with Microsoft Defender for Endpoint (exposed-apis-odata-samples)"
SAMPLE_MACHINE = "f46b9bb259ed4a7fb9981b73510e3cc7aa81ec1f"
# "Hello World for Microsoft Defender XDR REST API": incidents updated in the last 48 hours, the
# time written by PowerShell's ToString("o") (seven fraction digits).
SINCE = datetime.fromtimestamp(START - 48 * 3600, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def _after(field: str, when: str) -> Callable[[dict], bool]:
    limit = datetime.fromisoformat(when.replace("Z", "+00:00"))
    return lambda item: datetime.fromisoformat(item[field].replace("Z", "+00:00")) > limit


# (page, request as documented, unfiltered list, condition, $top, API)
SAMPLES = [
    (SAMPLES_PAGE + ", example 1; List alerts API, example 2", "/api/alerts?$top=10&$expand=evidence",
     "/api/alerts", lambda a: True, 10, "mde"),
    (SAMPLES_PAGE + ", example 2", "/api/alerts?$filter=lastUpdateTime+ge+2019-11-22T00:00:00Z",
     "/api/alerts", _after("lastUpdateTime", "2019-11-21T23:59:59Z"), None, "mde"),
    (SAMPLES_PAGE + ", example 3", "/api/machines?$filter=riskScore+eq+'High'",
     "/api/machines", lambda m: m["riskScore"] == "High", None, "mde"),
    (SAMPLES_PAGE + ", example 4", "/api/machines?$filter=healthStatus+ne+'Active'&$top=100",
     "/api/machines", lambda m: m["healthStatus"] != "Active", 100, "mde"),
    (SAMPLES_PAGE + ", example 5 (a date without a time)", "/api/machines?$filter=lastSeen gt 2018-08-01Z",
     "/api/machines", _after("lastSeen", "2018-08-01T00:00:00Z"), None, "mde"),
    (SAMPLES_PAGE + ", example 6",
     "/api/machineactions?$filter=requestor eq 'Analyst@contoso.com' and type eq 'RunAntiVirusScan'",
     "/api/machineactions", lambda a: a["requestor"] == "Analyst@contoso.com" and a["type"] == "RunAntiVirusScan",
     None, "mde"),
    (SAMPLES_PAGE + ", example 8", "/api/machines?$filter=startswith(computerDnsName,'mymachine')",
     "/api/machines", lambda m: m["computerDnsName"].startswith("mymachine"), None, "mde"),
    ("List MachineActions API, example 2", f"/api/machineactions?$filter=machineId eq '{SAMPLE_MACHINE}'&$top=2",
     "/api/machineactions", lambda a: a["machineId"] == SAMPLE_MACHINE, 2, "mde"),
    ("List Indicators API, example 2", "/api/indicators?$filter=action+eq+'AlertAndBlock'",
     "/api/indicators", lambda i: i["action"] == "AlertAndBlock", None, "mde"),
    ("Hello World for Microsoft Defender XDR REST API", f"/api/incidents?$filter=lastUpdateTime+ge+{SINCE}",
     "/api/incidents", _after("lastUpdateTime", SINCE.replace("0Z", "Z")), None, "xdr"),
]


@pytest.fixture(scope="module")
def api():
    cloud = new_cloud()
    client = Api(cloud)
    tenant = cloud.defender.tenant("contoso")
    machine = next(d for d in tenant.devices if d["osPlatform"].startswith("Windows"))
    machine.update(id=SAMPLE_MACHINE, computerDnsName="mymachine1.contoso.com")
    base = f"{MDE}/api/machines/{SAMPLE_MACHINE}"
    for verb, body in (("runAntiVirusScan", {"Comment": "Check machine for viruses due to alert 3212",
                                             "ScanType": "Full"}),
                       ("collectInvestigationPackage", {"Comment": "test"}), ("isolate", {"Comment": "test"})):
        assert client.call("POST", f"{base}/{verb}", json=body).status_code == 201
    next(a for a in tenant.actions if a.data["type"] == "RunAntiVirusScan").data["requestor"] = "Analyst@contoso.com"
    assert client.call("POST", f"{MDE}/api/indicators", json={
        "indicatorValue": "111e7d15b0b3d7fac48f2bd61114db1022197f7f", "indicatorType": "FileSha1",
        "action": "AlertAndBlock", "title": "test", "description": "test"}).status_code == 200
    cloud.defender.add_incident("contoso", last_update=START - 3600)  # within the sample's 48 hours
    yield client
    client.close()


@pytest.mark.parametrize("page, request_, whole, condition, top, family", SAMPLES, ids=[s[1] for s in SAMPLES])
def test_documented_sample(api: Api, page: str, request_: str, whole: str, condition, top, family: str) -> None:
    host = XDR if family == "xdr" else MDE
    everything = api.call("GET", host + whole, family).json()["value"]
    answer = api.call("GET", host + request_, family)
    assert answer.status_code == 200, f"{page}: {answer.text}"
    wanted = [item for item in everything if condition(item)][:top]
    key = "incidentId" if family == "xdr" else "id"
    got = answer.json()["value"]
    assert wanted, f"{page}: the seeded data should give the sample something to find"
    assert [item[key] for item in got] == [item[key] for item in wanted], page


# The properties each list page says $filter works on (the pages' spellings).
FILTERABLE = {
    "/api/alerts": ("List alerts API", ["alertCreationTime", "lastUpdateTime", "incidentId", "InvestigationId", "id",
                                        "assignedTo", "detectionSource", "lastEventTime", "status", "severity",
                                        "category"]),
    "/api/machines": ("List machines API", ["computerDnsName", "id", "version", "deviceValue", "aadDeviceId",
                                            "machineTags", "lastSeen", "exposureLevel", "onboardingStatus",
                                            "lastIpAddress", "healthStatus", "osPlatform", "riskScore", "rbacGroupId"]),
    "/api/machineactions": ("List MachineActions API", ["id", "status", "machineId", "type", "requestor",
                                                        "creationDateTimeUtc"]),
    "/api/indicators": ("List Indicators API", ["application", "createdByDisplayName", "expirationTime",
                                                "generateAlert", "title", "rbacGroupNames", "rbacGroupIds",
                                                "indicatorValue", "indicatorType", "creationTimeDateTimeUtc",
                                                "createdBy", "action", "severity"]),
    "/api/incidents": ("List incidents API in Microsoft Defender XDR", ["lastUpdateTime", "createdTime", "status",
                                                                        "assignedTo"]),
}


@pytest.mark.parametrize("path, prop", [(p, f) for p, (_, fields) in FILTERABLE.items() for f in fields],
                         ids=lambda v: v)
def test_every_documented_filterable_property_is_accepted(api: Api, path: str, prop: str) -> None:
    family = "xdr" if path == "/api/incidents" else "mde"
    answer = api.call("GET", (XDR if family == "xdr" else MDE) + path, family, params={"$filter": f"{prop} ne null"})
    assert answer.status_code == 200, f"{FILTERABLE[path][0]}: {answer.text}"
