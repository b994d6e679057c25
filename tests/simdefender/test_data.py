"""Seeded tenant data: shapes, demo defaults, determinism, sizing."""

from __future__ import annotations

import re

from simdefender_helpers import START

from runner.sim import SimulatedCloud


def test_demo_defaults_give_a_triage_playbook_work(cloud):
    for name in ("contoso", "fabrikam"):
        t = cloud.defender.tenant(name)
        assert len(t.devices) == 25 and len(t.incidents) == 12 and len(t.alerts) == 30
        hot = [i for i in t.incidents if i["status"] == "Active" and i["severity"] == "High"]
        assert len(hot) >= 3
        risky = {a["machineId"] for i in hot for a in t.incident_alerts(i)}
        assert risky and all(t.device(m)["riskScore"] == "High" for m in risky)
        assert {i["severity"] for i in t.incidents} > {"High"}
        assert {i["status"] for i in t.incidents} > {"Active"}


def test_device_and_alert_shapes(cloud):
    t = cloud.defender.tenant("contoso")
    d = t.devices[0]
    assert re.fullmatch(r"[0-9a-f]{40}", d["id"])
    assert re.fullmatch(r"(ws|lt|srv)-\d{3}\.contoso\.com", d["computerDnsName"])
    for key in ("osPlatform", "riskScore", "exposureLevel", "healthStatus", "lastSeen", "lastIpAddress",
                "machineTags", "rbacGroupName", "aadDeviceId", "onboardingStatus"):
        assert key in d
    a = t.alerts[0]
    assert a["id"].startswith("da637") and a["incidentId"] in {i["incidentId"] for i in t.incidents}
    kinds = {e["entityType"] for a in t.alerts for e in a["evidence"]}
    assert {"File", "User"} <= kinds
    f = next(e for e in a["evidence"] if e["entityType"] == "File")
    assert len(f["sha1"]) == 40 and len(f["sha256"]) == 64 and f["fileName"]


def test_deterministic_per_tenant_and_seed():
    a = SimulatedCloud(defender={"start": START}).defender.tenant("contoso")
    b = SimulatedCloud(defender={"start": START}).defender.tenant("contoso")
    assert a.devices == b.devices and a.incidents == b.incidents and a.alerts == b.alerts
    other = SimulatedCloud(defender={"start": START}).defender.tenant("fabrikam")
    assert other.devices[0]["id"] != a.devices[0]["id"]
    reseeded = SimulatedCloud(defender={"start": START, "seed": 7}).defender.tenant("contoso")
    assert reseeded.devices[0]["id"] != a.devices[0]["id"]


def test_sizes_are_configurable():
    cloud = SimulatedCloud(4, defender={"devices_per_tenant": 500, "tenant_devices": {"tenant-03": 0}})
    assert len(cloud.defender.tenant("tenant-01").devices) == 500
    assert sum(len(cloud.defender.tenant(f"tenant-{i:02d}").devices) for i in range(1, 5)) == 1500
    assert len({d["computerDnsName"] for d in cloud.defender.tenant("tenant-02").devices}) == 500
    assert cloud.defender.tenant("tenant-03").incidents == []
