"""Every Defender for Endpoint resource the simulator serves passes its documented-field check.

The fixtures (tests/fidelity/fixtures/mde) hold each resource's properties from its Microsoft
Learn page (alert, machine, machineAction, indicator, the Advanced Hunting API), with recorded
real responses where the page and the API disagree. Every alert, machine, machine action and
indicator the simulator answers with is checked field by field: no field the API does not send,
every always-present field there, types and documented enum values. Microsoft's own examples pass
the same check, so the fixtures are consistent with the pages they come from.
"""

from __future__ import annotations

import pytest

from fid_fieldcheck import MDE, Api, fixture, new_cloud, problems, resource_problems

ALERT = fixture("mde/alert.json")
MACHINE = fixture("mde/machine.json")
ACTION = fixture("mde/machineaction.json")
INDICATOR = fixture("mde/indicator.json")
HUNTING = fixture("mde/advanced_hunting.json")


@pytest.fixture
def api():
    client = Api(new_cloud())
    yield client
    client.close()


def _all(items: list[dict], fx: dict) -> list[str]:
    return [p for i, item in enumerate(items) for p in resource_problems(item, fx, f"value[{i}]")]


@pytest.mark.parametrize("fx", [ALERT, MACHINE, ACTION, INDICATOR, HUNTING], ids=lambda fx: fx["resource"])
def test_microsofts_example_passes_its_own_fixture(fx: dict) -> None:
    assert fx["source"]["url"].startswith("https://learn.microsoft.com/")
    assert resource_problems(fx["example"]["value"], fx) == []


def test_the_check_flags_what_it_should() -> None:
    machine = dict(MACHINE["example"]["value"], deviceId="x", healthStatus="Sleeping", osBuild="19042")
    del machine["osPlatform"]
    found = resource_problems(machine, MACHINE)
    assert set(found) == {"$.deviceId: not a documented field", "$.osPlatform: missing, but documented as always present",
                          "$.healthStatus: 'Sleeping' is not one of the documented values "
                          f"{MACHINE['properties']['healthStatus']['enum']}", "$.osBuild: '19042' is not a integer"}
    assert problems("2026-01-01 00:00", {"type": "datetime"}) != []


def test_alerts(api: Api) -> None:
    api.cloud.defender.add_alert("contoso", incident_id=None)  # an injected one too (docs/simulator.md)
    listed = api.call("GET", f"{MDE}/api/alerts").json()["value"]
    assert listed and _all(listed, ALERT) == []
    expanded = api.call("GET", f"{MDE}/api/alerts", params={"$expand": "evidence"}).json()["value"]
    assert all(a["evidence"] for a in expanded) and _all(expanded, ALERT) == []
    one = api.call("GET", f"{MDE}/api/alerts/{listed[0]['id']}").json()
    patched = api.call("PATCH", f"{MDE}/api/alerts/{listed[0]['id']}",
                       json={"status": "InProgress", "comment": "looking"}).json()
    assert resource_problems(one, ALERT) == [] and resource_problems(patched, ALERT) == []


def test_alert_investigation_states_are_documented_ones(api: Api) -> None:
    """The issue's case: a bare "Unsupported" is no investigationState the API sends."""
    states = {a["investigationState"] for a in api.call("GET", f"{MDE}/api/alerts").json()["value"]}
    assert "Unsupported" not in states and states <= set(ALERT["properties"]["investigationState"]["enum"])


def test_machines(api: Api) -> None:
    listed = api.call("GET", f"{MDE}/api/machines").json()["value"]
    assert listed and _all(listed, MACHINE) == []
    one = api.call("GET", f"{MDE}/api/machines/{listed[0]['id']}").json()
    assert resource_problems(one, MACHINE) == []


def test_machines_list_their_ip_addresses(api: Api) -> None:
    """The issue's case: machines always had ``ipAddresses: []``. Each NIC is listed, the LAN
    address (``lastIpAddress``) among them, with its MAC address, as recorded responses show."""
    for machine in api.call("GET", f"{MDE}/api/machines").json()["value"]:
        addresses = {nic["ipAddress"] for nic in machine["ipAddresses"]}
        assert machine["lastIpAddress"] in addresses
        assert all(nic["macAddress"] for nic in machine["ipAddresses"] if nic["type"] == "Ethernet")


def test_machine_actions(api: Api) -> None:
    cloud = api.cloud
    machine = next(d for d in cloud.defender.tenant("contoso").devices if d["osPlatform"].startswith("Windows"))
    base = f"{MDE}/api/machines/{machine['id']}"
    sent = [api.call("POST", f"{base}/isolate", json={"Comment": "c", "IsolationType": "Selective"}),
            api.call("POST", f"{base}/runAntiVirusScan", json={"Comment": "c", "ScanType": "Full"}),
            api.call("POST", f"{base}/StopAndQuarantineFile", json={"Comment": "c", "Sha1": "a" * 40}),
            api.call("POST", f"{base}/collectInvestigationPackage", json={"Comment": "c"})]
    assert [r.status_code for r in sent] == [201] * 4
    cancelled = api.call("POST", f"{MDE}/api/machineactions/{sent[3].json()['id']}/cancel", json={"Comment": "no"})
    cloud.defender.advance(3600)
    listed = api.call("GET", f"{MDE}/api/machineactions").json()["value"]
    one = api.call("GET", f"{MDE}/api/machineactions/{sent[0].json()['id']}").json()
    found = [p for r in sent + [cancelled] for p in resource_problems(r.json(), ACTION)]
    assert found + _all(listed, ACTION) + resource_problems(one, ACTION) == []
    assert {a["status"] for a in listed} == {"Succeeded", "Cancelled"}


def test_indicators(api: Api) -> None:
    posted = [api.call("POST", f"{MDE}/api/indicators", json=body).json() for body in (
        {"indicatorValue": "evil.example", "indicatorType": "DomainName", "action": "Block", "title": "t",
         "description": "d", "severity": "High", "expirationTime": "2026-02-01T00:00:00Z", "generateAlert": True},
        {"indicatorValue": "198.51.100.7", "indicatorType": "IpAddress", "action": "Audit", "title": "t",
         "description": "d", "generateAlert": True})]
    listed = api.call("GET", f"{MDE}/api/indicators").json()["value"]
    assert len(listed) > 2 and _all(posted + listed, INDICATOR) == []


def test_advanced_hunting(api: Api) -> None:
    body = api.call("POST", f"{MDE}/api/advancedqueries/run",
                    json={"Query": "DeviceProcessEvents | project Timestamp, FileName | take 2"}).json()
    assert len(body["Results"]) == 2 and resource_problems(body, HUNTING) == []
