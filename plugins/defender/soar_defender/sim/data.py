"""Seeded tenant data: devices, incidents with alerts and entities, indicators.

Everything is derived from ``random.Random(f"{seed}/{tenant}")``, so one (seed, tenant, sizes,
start time) always gives the same data. Times are relative to the simulated clock's start.
The first incidents are Active, High severity and name High-risk devices, so a triage
playbook always has work to do. One alert carries the attack story of
:mod:`soar_defender.kql.story` (its evidence, title and activity times), which the hunting
tables then hold on the alert's device.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from typing import Any

from soar_defender.kql import story
from soar_defender.kql.identities import user_sid
from soar_defender.sim.clock import iso

OS = [("Windows11", "10.0.22631"), ("Windows10", "10.0.19045"), ("WindowsServer2022", "10.0.20348"),
      ("WindowsServer2019", "10.0.17763"), ("Linux", "Ubuntu 22.04"), ("macOS", "14.4")]
RISK = ["None", "Informational", "Low", "Medium", "High"]
HEALTH = ["Active"] * 8 + ["Inactive", "ImpairedCommunication", "NoSensorData"]
SEVERITIES = ["Informational", "Low", "Medium", "High"]
STATUSES = ["Active", "Active", "InProgress", "Resolved"]
CATEGORIES = ["Malware", "CredentialAccess", "LateralMovement", "SuspiciousActivity", "Execution",
              "InitialAccess", "Exfiltration", "CommandAndControl"]
SOURCES = ["WindowsDefenderAtp", "WindowsDefenderAv", "AutomatedInvestigation", "CustomDetection"]
TITLES = {
    "Malware": ["'Emotet' malware was detected", "An active 'Qakbot' backdoor was blocked"],
    "CredentialAccess": ["Suspicious access to LSASS service", "Possible credential theft via Mimikatz"],
    "LateralMovement": ["Suspicious remote service creation", "PsExec launched a command on a remote device"],
    "SuspiciousActivity": ["Suspicious PowerShell command line", "Unusual process spawned by Office"],
    "Execution": ["Suspicious script launched", "Encoded command executed by WMI"],
    "InitialAccess": ["Phishing link clicked", "Malicious attachment opened"],
    "Exfiltration": ["Large data upload to rare domain", "Sensitive file archived and staged"],
    "CommandAndControl": ["Connection to known C2 server", "Beaconing to newly registered domain"],
}
MITRE = {"Malware": ["T1204"], "CredentialAccess": ["T1003.001"], "LateralMovement": ["T1021.002", "T1569.002"],
         "SuspiciousActivity": ["T1059.001"], "Execution": ["T1047"], "InitialAccess": ["T1566.001"],
         "Exfiltration": ["T1567"], "CommandAndControl": ["T1071.001"]}
USERS = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy"]
FILES = ["invoice.pdf.exe", "update.ps1", "mimikatz.exe", "payload.dll", "svchost32.exe", "report.docm"]
URLS = ["http://login-micros0ft.example/auth", "http://cdn-update.example/p.bin", "http://paste.example/raw/x"]
GROUPS = ["Workstations", "Servers", "Finance", "UnassignedGroup"]
# Four states, so that the draw takes the random stream exactly as the earlier list did. Values from
# the alert resource type's investigationState enum (no bare "Unsupported": real ones name the reason).
INVESTIGATION_STATES = ["Running", "PendingApproval", "Benign", "UnsupportedAlertType"]


def _hex(*parts: Any, n: int = 40) -> str:
    return hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()[:n]


def _guid(*parts: Any) -> str:
    return str(uuid.UUID(_hex(*parts, n=32)))


def make_devices(rng: random.Random, tenant: str, seed: int, count: int, start: float) -> list[dict]:
    domain = f"{tenant}.com"
    devices = []
    for i in range(count):
        platform, version = rng.choice(OS)
        kind = "srv" if platform.startswith("WindowsServer") or platform == "Linux" else rng.choice(["ws", "lt"])
        risk = "High" if i < max(1, count // 8) else rng.choice(RISK)
        health = "Active" if i < max(1, count // 8) else rng.choice(HEALTH)
        first = start - rng.randint(30, 400) * 86400
        last = start - rng.randint(60, 6 * 3600) if health == "Active" else start - rng.randint(3, 40) * 86400
        group = "Servers" if kind == "srv" else rng.choice(GROUPS)
        tags = sorted(set(rng.sample(["VIP", "Finance", "Kiosk", "Lab", "PCI"], rng.randint(0, 2))))
        devices.append({
            "id": _hex(seed, tenant, "device", i),
            "computerDnsName": f"{kind}-{i + 1:03d}.{domain}",
            "firstSeen": iso(first), "lastSeen": iso(last),
            "osPlatform": platform, "osVersion": version, "osProcessor": "x64", "version": version.split(" ")[0],
            "lastIpAddress": (last_ip := f"10.{rng.randint(0, 9)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"),
            "lastExternalIpAddress": f"203.0.113.{rng.randint(1, 254)}",
            "agentVersion": "10.8750.22621.1000", "osBuild": rng.randint(17763, 22631),
            "healthStatus": health, "deviceValue": "High" if "VIP" in tags else "Normal",
            "rbacGroupId": GROUPS.index(group) + 1, "rbacGroupName": group,
            "riskScore": risk, "exposureLevel": rng.choice(["Low", "Medium", "High"]),
            "isAadJoined": platform.startswith("Windows1"),
            "aadDeviceId": _guid(seed, tenant, "aad", i) if platform.startswith("Windows1") else None,
            "machineTags": tags, "defenderAvStatus": "Updated", "onboardingStatus": "Onboarded",
            "osArchitecture": "64-bit", "managedBy": "Unknown", "managedByStatus": "Unknown",
            "ipAddresses": _ip_addresses(seed, tenant, i, platform, last_ip), "vmMetadata": None,
        })
    return devices


def _ip_addresses(seed: int, tenant: str, i: int, platform: str, last_ip: str) -> list[dict]:
    """A machine's NICs as recorded responses show them: the LAN address (``lastIpAddress``) and its
    IPv6 link-local twin on one Ethernet MAC, plus Windows' loopback. Hash-derived, not drawn from
    the tenant's random stream, so adding them left every other seeded value as it was."""
    mac = _hex(seed, tenant, "mac", i, n=12).upper()
    link = _hex(seed, tenant, "ipv6", i, n=16)
    v6 = "fe80::" + ":".join(link[k:k + 4].lstrip("0") or "0" for k in range(0, 16, 4))
    nics = [{"ipAddress": last_ip, "macAddress": mac, "type": "Ethernet", "operationalStatus": "Up"},
            {"ipAddress": v6, "macAddress": mac, "type": "Ethernet", "operationalStatus": "Up"}]
    if platform.startswith("Windows"):
        nics.append({"ipAddress": "127.0.0.1", "macAddress": None, "type": "SoftwareLoopback",
                     "operationalStatus": "Up"})
    return nics


def _evidence(rng: random.Random, tenant: str, device: dict | None, created: float, seed: int, key: str) -> list[dict]:
    user = rng.choice(USERS)
    fname = rng.choice(FILES)
    common = {"evidenceCreationTime": iso(created), "detectionStatus": rng.choice(["Detected", "Blocked", "Prevented"])}
    rng.randint(10**8, 10**9), rng.randint(1000, 9999)  # the draws of a former random SID: the rest stays put
    out = [
        {**common, "entityType": "User", "accountName": user, "domainName": tenant.upper(),
         "userSid": user_sid(user),  # the SID the hunting tables give this user
         "aadUserId": _guid(seed, tenant, "user", user), "userPrincipalName": f"{user}@{tenant}.com"},
        {**common, "entityType": "File", "fileName": fname, "filePath": f"C:\\Users\\{user}\\Downloads",
         "sha1": _hex(seed, key, "sha1", n=40), "sha256": _hex(seed, key, "sha256", n=64)},
    ]
    if rng.random() < 0.6:
        out.append({**common, "entityType": "Process", "fileName": "powershell.exe", "processId": rng.randint(1000, 9999),
                    "processCommandLine": f"powershell.exe -enc {_hex(key, 'cmd', n=24)}",
                    "sha1": _hex(seed, key, "psha1", n=40), "parentProcessId": rng.randint(500, 999)})
    if rng.random() < 0.5:
        out.append({**common, "entityType": "Ip", "ipAddress": f"198.51.100.{rng.randint(1, 254)}"})
    if rng.random() < 0.4:
        out.append({**common, "entityType": "Url", "url": rng.choice(URLS)})
    return out


def _investigation_state(state: str, device: dict | None) -> str:
    # Automated investigation covers Windows only; elsewhere the alert says so (as recorded ones do).
    if state == "UnsupportedAlertType" or device is None or device["osPlatform"].startswith("Windows"):
        return state
    return "UnsupportedOs"


def related_user(evidence: list[dict]) -> dict | None:
    """The alert's ``relatedUser`` (``{userName, domainName}``, as Microsoft's examples show) from its
    User evidence."""
    user = next((e for e in evidence if e.get("entityType") == "User"), None)
    return {"userName": user["accountName"], "domainName": user.get("domainName")} if user else None


def make_incidents(rng: random.Random, tenant: str, seed: int, devices: list[dict], n_incidents: int,
                   n_alerts: int, start: float) -> tuple[list[dict], list[dict]]:
    """Incidents (XDR shape, with internal ``alertIds``) and MDE alerts (with internal ``evidence``)."""
    high_risk = [d for d in devices if d["riskScore"] == "High"] or devices
    incidents: list[dict] = []
    base_id = 1000 + rng.randint(0, 8000) * 10
    created_times = sorted((start - rng.randint(600, 14 * 86400) for _ in range(n_incidents)))
    hot = max(1, n_incidents // 3) if n_incidents else 0
    next_id = base_id
    for i, created in enumerate(created_times):
        next_id += rng.randint(1, 40)
        important = i >= n_incidents - hot  # the newest third: Active, High, on High-risk devices
        sev = "High" if important else rng.choice(SEVERITIES)
        status = "Active" if important else rng.choice(STATUSES)
        important = important or (sev == "High" and status == "Active")
        updated = created + rng.randint(60, 3 * 3600)
        resolved = status == "Resolved"
        cls = rng.choice(["TruePositive", "FalsePositive", "InformationalExpectedActivity"]) if resolved else "Unknown"
        det = rng.choice(["Malware", "Phishing", "MultiStagedAttack"]) if cls == "TruePositive" else "NotAvailable"
        assigned = f"{rng.choice(USERS)}@{tenant}.com" if status != "Active" else None
        incidents.append({
            "incidentId": next_id, "redirectIncidentId": None,
            "incidentName": "", "incidentUri": "", "createdTime": iso(created), "lastUpdateTime": iso(updated),
            "assignedTo": assigned, "classification": cls, "determination": det, "status": status,
            "severity": sev, "tags": ["Simulated"] if rng.random() < 0.3 else [], "comments": [],
            "alertIds": [], "_important": important,
        })
    alerts: list[dict] = []
    for j in range(n_alerts if incidents else 0):
        inc = incidents[j] if j < len(incidents) else rng.choice(incidents)
        device = rng.choice(high_risk if inc["_important"] else devices) if devices else None
        category = rng.choice(CATEGORIES)
        created = _parse(inc["createdTime"]) + rng.randint(0, 600)
        aid = f"da637{rng.randint(10**13, 10**14 - 1)}_{rng.randint(-2**31, 2**31 - 1)}"
        status = {"Active": "New", "InProgress": "InProgress", "Resolved": "Resolved"}.get(inc["status"], "New")
        alerts.append({
            "id": aid, "incidentId": inc["incidentId"], "investigationId": rng.randint(1, 9999),
            "assignedTo": inc["assignedTo"], "severity": inc["severity"] if j < len(incidents) else rng.choice(SEVERITIES),
            "status": status, "classification": None if status != "Resolved" else inc["classification"],
            "determination": None if status != "Resolved" else inc["determination"],
            "investigationState": _investigation_state(rng.choice(INVESTIGATION_STATES), device),
            "detectionSource": rng.choice(SOURCES), "detectorId": _guid(seed, "detector", category),
            "category": category, "threatFamilyName": "Emotet" if category == "Malware" else None,
            "title": rng.choice(TITLES[category]), "description": f"Simulated {category} alert.",
            "alertCreationTime": iso(created), "firstEventTime": iso(created - 120), "lastEventTime": iso(created - 30),
            "lastUpdateTime": inc["lastUpdateTime"], "resolvedTime": inc["lastUpdateTime"] if status == "Resolved" else None,
            "machineId": device["id"] if device else None,
            "computerDnsName": device["computerDnsName"] if device else None,
            "rbacGroupName": device["rbacGroupName"] if device else None,
            "aadTenantId": None, "threatName": None, "mitreTechniques": MITRE[category],
            "relatedUser": None, "comments": [],
            "evidence": _evidence(rng, tenant, device, created, seed, aid),
        })
        alerts[-1]["relatedUser"] = related_user(alerts[-1]["evidence"])
        inc["alertIds"].append(aid)
    _plant_story(story.pick_alert(alerts, devices, incidents))
    for inc in incidents:
        first = next((a for a in alerts if a["id"] in inc["alertIds"]), None)
        where = f" on {first['computerDnsName'].split('.')[0]}" if first and first["computerDnsName"] else ""
        label = "Multi-stage incident" if len(inc["alertIds"]) > 1 else "Incident"
        inc["incidentName"] = f"{label} involving {first['category'] if first else 'Unknown'}{where}"
        inc["incidentUri"] = f"https://security.microsoft.com/incidents/{inc['incidentId']}?tid={tenant}"
    return incidents, alerts


def _plant_story(alert: Any) -> None:
    """Make ``alert`` the attack story's: its evidence names the chain's files, process, URL and IP
    (and keeps its user, the story's victim); its activity spans the chain. Draws nothing from the
    tenant's random stream, so every other seeded value stays as it was."""
    if alert is None:
        return
    created = _parse(alert["alertCreationTime"])
    user = next(ev for ev in alert["evidence"] if ev["entityType"] == "User")
    alert.update(title=story.STORY_TITLE, category=story.STORY_CATEGORY, threatFamilyName=None,
                 description=f"Simulated {story.STORY_CATEGORY} alert: {story.STORY_ATTACHMENT} from a phishing mail "
                             f"ran PowerShell, which fetched {story.STORY_PAYLOAD} from {story.STORY_DOMAIN}.",
                 mitreTechniques=list(story.STORY_TECHNIQUES), firstEventTime=iso(created + story.STEPS["mail"]),
                 lastEventTime=iso(created + story.STEPS["detection"]),
                 evidence=story.alert_evidence(user, alert["alertCreationTime"]))
    alert["relatedUser"] = related_user(alert["evidence"])


def make_indicators(rng: random.Random, tenant: str, seed: int, count: int, start: float) -> list[dict]:
    out = []
    for i in range(count):
        kind = ["FileSha1", "IpAddress", "DomainName", "Url"][i % 4]
        value = {"FileSha1": _hex(seed, tenant, "ioc", i), "IpAddress": f"192.0.2.{10 + i}",
                 "DomainName": f"bad-{i}.example", "Url": f"http://bad-{i}.example/x"}[kind]
        t = iso(start - rng.randint(1, 30) * 86400)
        out.append({"id": str(i + 1), "indicatorValue": value, "indicatorType": kind,
                    "action": rng.choice(["Alert", "Block", "AlertAndBlock"]), "application": None,
                    "source": "soar-sim", "sourceType": "AadApp", "title": f"Seeded indicator {i + 1}",
                    "creationTimeDateTimeUtc": t, "createdBy": "soar-sim", "createdByDisplayName": "soar-sim",
                    "createdBySource": "PublicApi",
                    "expirationTime": None, "lastUpdateTime": t, "lastUpdatedBy": "soar-sim",
                    "severity": rng.choice(SEVERITIES), "description": "Seeded by the simulator",
                    "recommendedActions": None, "rbacGroupNames": [], "rbacGroupIds": [], "generateAlert": True})
    return out


def _parse(text: str) -> float:
    from soar_defender.sim.clock import parse_iso

    return parse_iso(text).timestamp()  # type: ignore[union-attr]
