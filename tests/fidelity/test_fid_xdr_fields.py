"""Every Defender XDR resource the simulator serves passes its documented-field check.

The reference is the "List incidents API" page (incident, its alerts, their devices and
entities) with recorded real responses where they differ (tests/fidelity/fixtures/xdr). A
device's machine id is ``mdatpDeviceId``; a ``deviceId`` on a device is a field XDR does not send
and fails the check.
"""

from __future__ import annotations

import pytest

from fid_fieldcheck import XDR, Api, fixture, new_cloud, resource_problems

INCIDENT = fixture("xdr/incident.json")
HUNTING = fixture("xdr/advanced_hunting.json")


@pytest.fixture
def api():
    client = Api(new_cloud())
    yield client
    client.close()


@pytest.mark.parametrize("fx", [INCIDENT, HUNTING], ids=lambda fx: fx["resource"])
def test_microsofts_example_passes_its_own_fixture(fx: dict) -> None:
    assert fx["source"]["url"].startswith("https://learn.microsoft.com/")
    assert resource_problems(fx["example"]["value"], fx) == []


def test_the_device_check_wants_mdatp_device_id() -> None:
    alert = INCIDENT["example"]["value"]["alerts"][0]
    device = {k: v for k, v in alert["devices"][0].items() if k != "mdatpDeviceId"} | {"deviceId": "24c2"}
    incident = {**INCIDENT["example"]["value"], "alerts": [{**alert, "devices": [device]}]}
    assert set(resource_problems(incident, INCIDENT)) == {
        "$.alerts[0].devices[0].deviceId: not a documented field",
        "$.alerts[0].devices[0].mdatpDeviceId: missing, but documented as always present"}


def test_incidents(api: Api) -> None:
    listed = api.call("GET", f"{XDR}/api/incidents", "xdr").json()["value"]
    assert listed and any(a["devices"] for i in listed for a in i["alerts"])
    assert [p for n, i in enumerate(listed) for p in resource_problems(i, INCIDENT, f"value[{n}]")] == []
    one = api.call("GET", f"{XDR}/api/incidents/{listed[0]['incidentId']}", "xdr").json()
    patched = api.call("PATCH", f"{XDR}/api/incidents/{listed[0]['incidentId']}", "xdr",
                       json={"status": "Resolved", "classification": "TruePositive", "determination": "Malware",
                             "comment": "done", "tags": ["soar"]}).json()
    assert resource_problems(one, INCIDENT) == [] and resource_problems(patched, INCIDENT) == []


def test_alert_devices_carry_the_documented_keys(api: Api) -> None:
    """The issue's case: XDR devices lacked ``osProcessor`` (and carried a ``deviceId``)."""
    devices = [d for i in api.call("GET", f"{XDR}/api/incidents", "xdr").json()["value"]
               for a in i["alerts"] for d in a["devices"]]
    assert devices and all(d["osProcessor"] and "deviceId" not in d for d in devices)


def test_advanced_hunting(api: Api) -> None:
    body = api.call("POST", f"{XDR}/api/advancedhunting/run", "xdr",
                    json={"Query": "DeviceProcessEvents | project Timestamp, FileName | take 2"}).json()
    assert len(body["Results"]) == 2 and resource_problems(body, HUNTING) == []
