"""Seed tables: Defender schemas, determinism, consistency with the tenant, the planted story."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from soar_defender.kql import run_query
from soar_defender.kql.tables import (KNOWN_BAD_IP, KNOWN_BAD_LOGON_IP, KNOWN_BAD_SHA1, KNOWN_BAD_SHA256,
                                   KNOWN_BAD_SHA256_2, KNOWN_BAD_URL, MDE_TABLES, SCHEMAS, generate_tables,
                                   known_bad_hosts)

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)
DEVICES = [
    {"deviceId": "1" * 40, "computerDnsName": "finance-pc.contoso.com", "osPlatform": "Windows11",
     "riskScore": "Medium", "lastIpAddress": "10.1.0.11"},
    {"deviceId": "2" * 40, "computerDnsName": "build-srv.contoso.com", "osPlatform": "Linux",
     "riskScore": "High", "lastIpAddress": "10.1.0.12"},
    {"id": "3" * 40, "computerDnsName": "ceo-laptop.contoso.com", "osPlatform": "Windows10",
     "riskScore": "High", "lastIpAddress": "10.1.0.13"},
    {"deviceId": "4" * 40, "computerDnsName": "kiosk.contoso.com", "osPlatform": "Windows10",
     "riskScore": "Low", "lastIpAddress": "10.1.0.14"},
]
ALERTS = [
    {"id": "da638000000000000001_1", "title": "Suspicious PowerShell command line", "severity": "High",
     "category": "Execution", "machineId": "4" * 40, "alertCreationTime": "2026-11-22T08:00:00Z",
     "detectionSource": "WindowsDefenderAtp",
     "evidence": [{"entityType": "File", "sha1": "a" * 40, "sha256": "b" * 64, "fileName": "stage2.ps1",
                   "filePath": r"C:\Users\Public"},
                  {"entityType": "Ip", "ipAddress": "192.0.2.200"},
                  {"entityType": "Url", "url": "http://drop.example/stage2"},
                  {"entityType": "User", "accountName": "kiosk", "domainName": "CONTOSO"}]},
    {"alertId": "da638000000000000002_1", "title": "Unwanted software", "severity": "Low",
     "category": "UnwantedSoftware", "machineId": "1" * 40, "evidence": []},
]
IMPORTANT_COLUMNS = {
    "DeviceInfo": ["Timestamp", "DeviceId", "DeviceName", "OSPlatform", "PublicIP"],
    "DeviceProcessEvents": ["Timestamp", "DeviceId", "DeviceName", "ActionType", "FileName", "FolderPath", "SHA1",
                            "SHA256", "MD5", "ProcessCommandLine", "InitiatingProcessFileName",
                            "InitiatingProcessCommandLine", "AccountName", "AccountDomain"],
    "DeviceNetworkEvents": ["RemoteIP", "RemotePort", "RemoteUrl", "LocalIP"],
    "DeviceLogonEvents": ["LogonType", "AccountName", "AccountDomain", "RemoteIP"],
    "DeviceFileEvents": ["FileName", "FolderPath", "SHA1", "SHA256", "MD5"],
    "AlertInfo": ["AlertId", "Title", "Severity", "Category", "ServiceSource", "DetectionSource"],
    "AlertEvidence": ["AlertId", "EntityType", "EvidenceRole", "SHA1", "RemoteIP", "RemoteUrl", "DeviceId"],
    "EmailEvents": ["NetworkMessageId", "SenderFromAddress", "RecipientEmailAddress", "Subject",
                    "DeliveryAction", "ThreatTypes"],
}


@pytest.fixture(scope="module")
def seeded():
    return generate_tables(DEVICES, ALERTS, seed=42, now=NOW, events_per_device=30)


def test_schemas_have_the_documented_columns_and_types():
    assert set(IMPORTANT_COLUMNS) <= set(SCHEMAS)  # every table is in SCHEMAS: see test_kql_schema_tables.py
    for table, names in IMPORTANT_COLUMNS.items():
        assert set(names) <= {c.name for c in SCHEMAS[table]}, table
    types = {(t, c.name): c.type for t, cols in SCHEMAS.items() for c in cols}
    assert types[("DeviceNetworkEvents", "RemotePort")] == "int"
    assert types[("DeviceInfo", "OSBuild")] == "long"
    assert types[("DeviceProcessEvents", "ProcessCreationTime")] == "datetime"
    assert types[("DeviceLogonEvents", "IsLocalAdmin")] == "bool"
    assert types[("EmailEvents", "ReportId")] == "string"
    assert all(SCHEMAS[t][0].name == "Timestamp" for t in IMPORTANT_COLUMNS)
    assert MDE_TABLES == {t for t in SCHEMAS if t.startswith("Device")}


def test_same_seed_same_rows_and_other_seed_other_rows(seeded):
    again = generate_tables(DEVICES, ALERTS, seed=42, now=NOW, events_per_device=30)
    assert {t: v.rows for t, v in again.items()} == {t: v.rows for t, v in seeded.items()}
    other = generate_tables(DEVICES, ALERTS, seed=43, now=NOW, events_per_device=30)
    assert other["DeviceProcessEvents"].rows != seeded["DeviceProcessEvents"].rows


def test_volumes_follow_events_per_device(seeded):
    counts = {t: len(v.rows) for t, v in seeded.items()}
    assert counts["DeviceInfo"] == 2 * len(DEVICES)
    assert counts["DeviceProcessEvents"] >= 30 * len(DEVICES)
    assert counts["DeviceNetworkEvents"] >= 30 * len(DEVICES)
    assert counts["AlertInfo"] == len(ALERTS)


def test_every_event_device_exists_in_device_info(seeded):
    known = {r["DeviceId"] for r in seeded["DeviceInfo"].rows}
    assert known == {d.get("deviceId") or d["id"] for d in DEVICES}
    for table in ("DeviceProcessEvents", "DeviceNetworkEvents", "DeviceLogonEvents", "DeviceFileEvents"):
        result = run_query(f"{table} | distinct DeviceId, DeviceName", seeded, now=NOW)
        assert {r["DeviceId"] for r in result.rows} <= known, table
        names = {r["DeviceId"]: r["DeviceName"] for r in seeded["DeviceInfo"].rows}
        assert all(names[r["DeviceId"]] == r["DeviceName"] for r in result.rows), table


def test_rows_match_their_schema_and_lie_in_the_past(seeded):
    for name, table in seeded.items():
        for row in table.rows:
            assert set(row) >= {c.name for c in table.columns}
            assert row["Timestamp"].tzinfo is not None and row["Timestamp"] <= NOW, name


def test_known_bad_hash_ran_on_the_devices_known_bad_hosts_names(seeded):
    hosts = known_bad_hosts(DEVICES)
    # Windows devices first, riskiest first: the High Windows laptop, then the Medium finance PC.
    assert hosts[KNOWN_BAD_SHA256] == ["3" * 40, "1" * 40]
    assert hosts[KNOWN_BAD_SHA256_2] == ["3" * 40]
    query = f'DeviceProcessEvents | where SHA256 == "{KNOWN_BAD_SHA256}" | distinct DeviceId'
    assert {r["DeviceId"] for r in run_query(query, seeded, now=NOW).rows} == set(hosts[KNOWN_BAD_SHA256])
    query = f'DeviceProcessEvents | where SHA1 =~ "{KNOWN_BAD_SHA1.upper()}" | count'
    assert run_query(query, seeded, now=NOW).rows == [{"Count": 2}]
    query = f'DeviceProcessEvents | where SHA256 == "{KNOWN_BAD_SHA256_2}" | distinct DeviceName'
    assert run_query(query, seeded, now=NOW).rows == [{"DeviceName": "ceo-laptop.contoso.com"}]


def test_the_planted_story_is_huntable(seeded):
    c2 = run_query(f'DeviceNetworkEvents | where RemoteIP == "{KNOWN_BAD_IP}" and RemoteUrl == "{KNOWN_BAD_URL}" '
                   "| summarize count() by DeviceId", seeded, now=NOW)
    assert {r["DeviceId"] for r in c2.rows} == set(known_bad_hosts(DEVICES)[KNOWN_BAD_SHA256])
    spray = run_query(f'DeviceLogonEvents | where ActionType == "LogonFailed" and RemoteIP == "{KNOWN_BAD_LOGON_IP}" '
                      "| summarize failures = count() by DeviceName", seeded, now=NOW)
    assert spray.rows == [{"DeviceName": "ceo-laptop.contoso.com", "failures": 20}]
    written = run_query(f'DeviceFileEvents | where SHA256 == "{KNOWN_BAD_SHA256}" | count', seeded, now=NOW)
    assert written.rows == [{"Count": 2}]
    mail = run_query('EmailEvents | where ThreatTypes has "Malware" and DeliveryAction == "Delivered" | count',
                     seeded, now=NOW)
    assert mail.rows == [{"Count": 2}]


def test_alerts_and_their_evidence_show_up(seeded):
    info = run_query("AlertInfo | order by AlertId asc | project AlertId, Severity, DetectionSource, Timestamp",
                     seeded, now=NOW).to_json_rows()
    assert info[0] == {"AlertId": "da638000000000000001_1", "Severity": "High", "DetectionSource": "EDR",
                       "Timestamp": "2026-11-22T08:00:00Z"}
    assert info[1]["AlertId"] == "da638000000000000002_1" and info[1]["Severity"] == "Low"
    evidence = run_query('AlertEvidence | where AlertId == "da638000000000000001_1" | summarize make_set(EntityType)',
                         seeded, now=NOW)
    assert evidence.rows[0]["set_EntityType"] == ["Machine", "File", "Ip", "Url", "User"]
    ran = run_query(f'DeviceProcessEvents | where SHA1 == "{"a" * 40}" | project DeviceId, FileName', seeded, now=NOW)
    assert ran.rows == [{"DeviceId": "4" * 40, "FileName": "stage2.ps1"}]
    called = run_query('DeviceNetworkEvents | where RemoteUrl == "http://drop.example/stage2" or '
                       'RemoteIP == "192.0.2.200" | distinct DeviceId', seeded, now=NOW)
    assert called.rows == [{"DeviceId": "4" * 40}]


def test_evidence_rows_carry_their_entity_in_additional_fields(seeded):
    """As Microsoft's own hunting example reads a User evidence row (.Account.Sid, .IsDomainJoined),
    and a File one (Name, Directory, hashes, as bag_unpack makes columns of them)."""
    users = run_query('AlertEvidence | where EntityType == "User" | extend A = parse_json(AdditionalFields).Account '
                      "| project AccountName, Name = tostring(A.Name), NTDomain = tostring(A.NTDomain)", seeded,
                      now=NOW).to_json_rows()
    assert users == [{"AccountName": "kiosk", "Name": "kiosk", "NTDomain": "CONTOSO"}]
    files = run_query('AlertEvidence | where EntityType == "File" | extend F = parse_json(AdditionalFields) '
                      "| evaluate bag_unpack(F) | project Name, Directory, Hashes = array_length(FileHashes)",
                      seeded, now=NOW).to_json_rows()
    assert files == [{"Name": "stage2.ps1", "Directory": r"C:\Users\Public", "Hashes": 2}]


def test_typical_hunting_playbook_query(seeded):
    query = f"""
    let bad = dynamic(["{KNOWN_BAD_SHA256}", "{KNOWN_BAD_SHA256_2}"]);
    DeviceProcessEvents
    | where Timestamp > ago(30d) and SHA256 in (bad)
    | summarize Executions = count(), Files = make_set(FileName) by DeviceId, DeviceName
    | join kind=inner (DeviceInfo | summarize arg_max(Timestamp, *) by DeviceId | project DeviceId, OSPlatform) on DeviceId
    | project DeviceId, DeviceName, OSPlatform, Executions, Files
    | order by Executions desc, DeviceName asc
    """
    rows = run_query(query, seeded, now=NOW).to_json_rows()
    assert rows == [
        {"DeviceId": "3" * 40, "DeviceName": "ceo-laptop.contoso.com", "OSPlatform": "Windows10", "Executions": 2,
         "Files": ["invoice_viewer.exe", "mssecsvc.exe"]},
        {"DeviceId": "1" * 40, "DeviceName": "finance-pc.contoso.com", "OSPlatform": "Windows11", "Executions": 1,
         "Files": ["invoice_viewer.exe"]},
    ]


def test_no_devices_gives_empty_device_tables():
    tables = generate_tables([], [], seed=1, now=NOW)
    assert all(len(t.rows) == 0 for t in tables.values())
    assert run_query("DeviceProcessEvents | count", tables, now=NOW).rows == [{"Count": 0}]
