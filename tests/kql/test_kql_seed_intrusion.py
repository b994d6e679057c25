"""The red-team exercise of every seeded tenant (soar_defender.kql.seed_intrusion; docs/simulator.md,
"The red-team exercise"): a second, hands-on-keyboard intrusion on a beachhead workstation, the
domain controller and a file server. Each hunt the docs show finds rows on the devices its comment
names and nowhere else, the story's and the background's rows are left as they were, the rows
fit the schema, the same seed gives the same rows and the phases come in the documented order.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from runner.sim import SimulatedCloud
from soar_defender.kql import run_query, story
from soar_defender.kql import seed_intrusion as intrusion
from soar_defender.kql import tables as seed
from soar_defender.kql.seed_identity_events import domain_controller

START = 1_795_435_200.0  # 2026-11-23T12:00:00Z
NOW = datetime.fromtimestamp(START, timezone.utc)
TENANTS = ("contoso", "fabrikam")
ROOT = Path(__file__).resolve().parents[2]
#: Device tables the exercise writes, and the identity tables (no device columns).
DEVICE_TABLES = ("DeviceProcessEvents", "DeviceNetworkEvents", "DeviceFileEvents", "DeviceRegistryEvents",
                 "DeviceEvents", "DeviceLogonEvents", "DeviceImageLoadEvents")
IDENTITY_TABLES = ("IdentityLogonEvents", "IdentityQueryEvents", "IdentityDirectoryEvents")


def _generate(data, monkeypatch, *, seed_value: int = 0, with_intrusion: bool = True):
    """The tenant's tables and the exercise's plan (None without the exercise)."""
    plans: list = []
    write = intrusion.write_intrusion
    monkeypatch.setattr(seed, "write_intrusion", (lambda *a, **k: plans.append(write(*a, **k)))
                        if with_intrusion else (lambda *a, **k: None))
    tables = seed.generate_tables(data.devices, data.alerts, seed=seed_value, now=NOW)
    monkeypatch.undo()
    return tables, (plans[0] if plans else None)


@pytest.fixture(scope="module")
def cloud() -> SimulatedCloud:
    return SimulatedCloud(defender={"time_scale": 0, "start": START, "quotas": False})


@pytest.fixture(scope="module", params=TENANTS)
def tenant(request, cloud):
    """(name, tables with the exercise, its plan, tables without it, the tenant's data)."""
    data = cloud.defender.tenant(request.param)
    with pytest.MonkeyPatch.context() as mp:
        tables, plan = _generate(data, mp)
    with pytest.MonkeyPatch.context() as mp:
        without, _ = _generate(data, mp, with_intrusion=False)
    return request.param, tables, plan, without, data


def _added(tables, without, name: str) -> list[dict]:
    return tables[name].rows[len(without[name].rows):]


def test_the_served_tables_hold_the_exercise(cloud, tenant):
    name, tables, plan, _, _ = tenant
    served = cloud.defender.hunting.tables(name)
    for table in DEVICE_TABLES + IDENTITY_TABLES:
        assert served[table].rows == tables[table].rows, table
    assert plan is not None


def test_the_exercise_is_on_other_devices_and_users_than_the_story(tenant):
    _, _, plan, _, data = tenant
    devs = [seed._device(d) for d in data.devices]
    alert = story.find_alert(data.alerts, [d["id"] for d in devs])
    victim = next(e["accountName"] for e in alert["evidence"] if e.get("entityType") == "User")
    bad = {i for ids in seed.known_bad_hosts(data.devices).values() for i in ids}
    b = plan.beachhead.d
    assert b["id"] != alert["machineId"] and b["id"] not in bad
    assert b["os"].startswith("Windows") and "Server" not in b["os"]
    assert plan.user.name != victim and plan.admin.name not in (victim, plan.user.name)
    assert plan.user.name in b["users"]
    assert plan.dc.d["id"] == domain_controller(devs)["id"]
    assert "Server" in plan.fs.d["os"] and plan.fs.d["id"] not in bad | {plan.dc.d["id"]}


def test_existing_rows_are_unchanged(tenant):
    _, tables, _, without, _ = tenant
    for name, table in without.items():
        assert tables[name].rows[:len(table.rows)] == table.rows, name
    added = {t: len(_added(tables, without, t)) for t in tables if len(tables[t].rows) != len(without[t].rows)}
    assert set(added) == set(DEVICE_TABLES + IDENTITY_TABLES), added
    assert added["DeviceProcessEvents"] >= 100 and added["DeviceNetworkEvents"] >= 50


def test_rows_obey_the_schema_types(tenant):
    _, tables, plan, without, _ = tenant
    python = {"string": str, "int": int, "long": int, "real": float, "bool": bool, "datetime": datetime,
              "timespan": timedelta, "guid": str}
    names = {plan.beachhead.name, plan.dc.name, plan.fs.name}
    for table in DEVICE_TABLES + IDENTITY_TABLES:
        columns = {c.name: c.type for c in tables[table].columns}
        for row in _added(tables, without, table):
            assert set(row) == set(columns), (table, set(row) ^ set(columns))
            for column, kind in columns.items():
                value = row[column]
                if value is None:
                    assert kind != "string"
                elif kind == "dynamic":
                    assert isinstance(value, (dict, list)), (table, column, value)
                else:
                    assert type(value) is python[kind], (table, column, value)
            assert row["Timestamp"].tzinfo is not None
            if table.startswith("Device"):
                assert row["DeviceName"] in names and row["DeviceId"]
                assert row["ActionType"]
            if row.get("AdditionalFields") and isinstance(row["AdditionalFields"], str):
                assert isinstance(json.loads(row["AdditionalFields"]), dict), row


def test_report_ids_stay_unique(tenant):
    _, tables, _, _, _ = tenant
    for table in DEVICE_TABLES:
        ids = [r["ReportId"] for r in tables[table].rows]
        assert len(ids) == len(set(ids)), table


def test_process_trees_are_consistent(tenant):
    _, tables, plan, without, _ = tenant
    rows = _added(tables, without, "DeviceProcessEvents")
    by_pid = {(r["DeviceId"], r["ProcessId"]): r for r in rows}
    for r in rows:
        assert r["ProcessCreationTime"] == r["Timestamp"] and r["InitiatingProcessCreationTime"] <= r["Timestamp"]
        assert r["InitiatingProcessFileName"] and r["InitiatingProcessCommandLine"] and r["ProcessCommandLine"]
        parent = by_pid.get((r["DeviceId"], r["InitiatingProcessId"]))
        if parent is not None:  # a parent the exercise started: the columns agree with its own row
            assert (parent["FileName"], parent["ProcessCommandLine"], parent["Timestamp"]) == (
                r["InitiatingProcessFileName"], r["InitiatingProcessCommandLine"], r["InitiatingProcessCreationTime"])
            assert r["InitiatingProcessParentFileName"] == parent["InitiatingProcessFileName"]
    user = [r for r in rows if r["DeviceName"] == plan.beachhead.name and r["AccountName"] == plan.user.name]
    assert user and all(r["AccountUpn"] == plan.user.upn for r in user)


# phase → a row that marks it (table, predicate on the row)
MARKERS = {
    "initial_access": ("DeviceProcessEvents", lambda r: r["FileName"] == "regsvr32.exe"),
    "discovery": ("DeviceProcessEvents", lambda r: r["ProcessCommandLine"] == "whoami /all"),
    "ad_recon": ("DeviceProcessEvents", lambda r: r["FileName"] == "AdFind.exe"),
    "persistence": ("DeviceProcessEvents", lambda r: "-urlcache" in r["ProcessCommandLine"]),
    "relogon": ("DeviceProcessEvents", lambda r: r["FileName"] == "mshta.exe"),
    "credential_access": ("DeviceProcessEvents", lambda r: r["FileName"] == "fodhelper.exe"),
    "smb_sweep": ("DeviceNetworkEvents", lambda r: r["ActionType"] == "ConnectionFailed" and r["RemotePort"] == 445),
    "lateral_movement": ("DeviceProcessEvents", lambda r: r["FileName"] == "PsExec.exe"),
    "domain_persistence": ("DeviceProcessEvents", lambda r: "Domain Admins" in r["ProcessCommandLine"]
                           and "/add" in r["ProcessCommandLine"]),
    "ntds": ("DeviceProcessEvents", lambda r: r["FileName"] == "ntdsutil.exe"),
    "staging": ("DeviceProcessEvents", lambda r: r["FileName"] == "7z.exe"),
    "exfiltration": ("DeviceProcessEvents", lambda r: " copy " in r["ProcessCommandLine"]
                     and r["FileName"] == "rclone.exe"),
    "defense_evasion": ("DeviceProcessEvents", lambda r: "Set-MpPreference" in r["ProcessCommandLine"]),
    "impact": ("DeviceProcessEvents", lambda r: "delete shadows" in r["ProcessCommandLine"]),
}


def test_the_timeline_is_in_order(tenant):
    _, tables, plan, without, _ = tenant
    assert list(MARKERS) == list(intrusion.STEPS)
    firsts = []
    for step, (table, marks) in MARKERS.items():
        found = [r["Timestamp"] for r in _added(tables, without, table) if marks(r)]
        assert found, step
        assert plan.at(step) <= min(found) < plan.at(step) + timedelta(hours=1), step
        firsts.append(min(found))
    assert firsts == sorted(firsts)
    assert plan.start == NOW - timedelta(hours=intrusion.SPAN_HOURS)
    for table in DEVICE_TABLES + IDENTITY_TABLES:
        for r in _added(tables, without, table):
            assert plan.start - timedelta(minutes=5) <= r["Timestamp"] <= NOW, (table, r["Timestamp"])
    impact = [r["Timestamp"] for r in _added(tables, without, "DeviceFileEvents") if r["ActionType"] == "FileRenamed"]
    assert impact and NOW - timedelta(hours=2) < min(impact) and max(impact) < NOW


def test_same_seed_same_rows_other_seed_other_rows(cloud, monkeypatch):
    data = cloud.defender.tenant("fabrikam")
    first, plan = _generate(data, monkeypatch, seed_value=5)
    again, _ = _generate(data, monkeypatch, seed_value=5)
    other, _ = _generate(data, monkeypatch, seed_value=6)

    def marked(tables):
        return [r for t in DEVICE_TABLES for r in tables[t].rows
                if intrusion.INTRUSION_C2_DOMAIN in json.dumps(r, default=str)]
    assert marked(first) and marked(first) == marked(again)
    assert marked(first) != marked(other)
    assert plan.user.name and plan.beachhead.name


def test_no_exercise_without_a_windows_server():
    devices = [{"deviceId": "1" * 40, "computerDnsName": "pc.contoso.com", "osPlatform": "Windows11",
                "riskScore": "Low"},
               {"deviceId": "2" * 40, "computerDnsName": "srv.contoso.com", "osPlatform": "Linux", "riskScore": "Low"}]
    tables = seed.generate_tables(devices, [], seed=1, now=NOW, events_per_device=5)
    text = json.dumps({t: tables[t].rows for t in DEVICE_TABLES + IDENTITY_TABLES}, default=str)
    assert intrusion.INTRUSION_C2_DOMAIN not in text and "AdFind" not in text
    devices += [{"deviceId": "3" * 40, "computerDnsName": "pc2.contoso.com", "osPlatform": "Windows10",
                 "riskScore": "High"},  # the riskiest two run the planted files: not the beachhead
                {"deviceId": "4" * 40, "computerDnsName": "dc1.contoso.com", "osPlatform": "WindowsServer2022",
                 "riskScore": "High"}]
    tables = seed.generate_tables(devices, [], seed=1, now=NOW, events_per_device=5)
    hits = run_query(f'DeviceNetworkEvents | where RemoteUrl == "{intrusion.INTRUSION_C2_DOMAIN}" '
                     "| distinct DeviceName", tables, now=NOW).rows
    # the beachhead, and the domain controller as the file server too
    assert hits == [{"DeviceName": "pc.contoso.com"}, {"DeviceName": "dc1.contoso.com"}]


def test_the_exercise_names_no_story_indicator(tenant):
    _, tables, _, without, _ = tenant
    indicators = [story.STORY_DOMAIN, story.STORY_IP, story.STORY_PAYLOAD, story.STORY_RUN_VALUE, story.STORY_TASK,
                  story.STORY_THREAT, story.STORY_SIGNIN_IP, seed.KNOWN_BAD_IP, seed.KNOWN_BAD_URL, "Invoke-WebRequest"]
    for table in ("DeviceEvents", "DeviceRegistryEvents"):
        text = json.dumps(_added(tables, without, table), default=str)
        assert not [i for i in indicators if i in text], table
    events = _added(tables, without, "DeviceEvents")
    assert not {r["ActionType"] for r in events} & {"AntivirusDetection", "ScheduledTaskCreated"}


# ---- the documentation --------------------------------------------------------------------------

def _section() -> str:
    text = (ROOT / "docs" / "simulator.md").read_text(encoding="utf-8")
    start = text.index("### The red-team exercise")
    return text[start:text.index("\n### ", start + 1)]


DOC_QUERIES = re.findall(r"```kusto\n(.*?)```", _section(), flags=re.S)
ROLES = re.compile(r"^//.*\(([a-z, ]+)\)\s*$")


def test_the_docs_show_a_hunt_per_technique_and_name_the_indicators():
    assert len(DOC_QUERIES) >= 20
    assert all(ROLES.match(q.splitlines()[0]) for q in DOC_QUERIES)
    section = _section()
    for name in ["INTRUSION_C2_DOMAIN", "INTRUSION_C2_IP", "INTRUSION_LURE", "INTRUSION_RUN_VALUE", "INTRUSION_TASK",
                 "INTRUSION_SERVICE", "INTRUSION_WMI_NAME", "INTRUSION_BACKDOOR_ACCOUNT",
                 "INTRUSION_BACKDOOR_LOCAL_ACCOUNT", "INTRUSION_EXFIL_DOMAIN", "INTRUSION_EXFIL_IP",
                 "INTRUSION_ENCRYPTOR", "INTRUSION_RANSOM_EXTENSION", "INTRUSION_NOTE", "INTRUSION_SCT_URL"]:
        value = getattr(intrusion, name)
        assert value.rsplit("/", 1)[-1] in section, name
    assert all(t in section for t in intrusion.INTRUSION_TECHNIQUES)
    whens = {w for cell in re.findall(r"^\| (−[^|]*)\|", section, flags=re.M) for w in re.findall(r"−[\d.]+", cell)}
    assert {f"−{intrusion.SPAN_HOURS - h:g}" for h in intrusion.STEPS.values()} <= whens
    assert f"`SPAN_HOURS` = {intrusion.SPAN_HOURS}" in section


@pytest.mark.parametrize("query", DOC_QUERIES, ids=[f"doc-{i + 1}" for i in range(len(DOC_QUERIES))])
def test_documented_hunts_find_the_exercise_on_its_devices_only(tenant, query):
    _, tables, plan, without, _ = tenant
    roles = {"beachhead": plan.beachhead.name, "domain controller": plan.dc.name, "file server": plan.fs.name}
    expected = {roles[r.strip()] for r in ROLES.match(query.splitlines()[0]).group(1).split(",")}
    rows = run_query(query, tables, now=NOW).to_json_rows()
    assert {r["DeviceName"] for r in rows} == expected, rows
    assert run_query(query, without, now=NOW).rows == []  # the exercise's rows, no one else's
