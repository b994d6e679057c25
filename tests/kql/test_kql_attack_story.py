"""The attack story of every seeded tenant (soar_defender.kql.story; docs/simulator.md, "The attack
story"), checked through the simulated services' HTTP APIs with real tokens.

The story incident is found the way a playbook would find it (the payload's SHA-256 in an alert's
evidence on XDR, MDE and Graph). Then a typical hunting query for each link of the chain must
return rows on that alert's device, for its user, inside its activity window. The queries
documented in docs/simulator.md must return rows too, and the data must be the same from run to
run.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

import runner.sim
from runner.auth import TokenProvider
from runner.auth.cache import MemoryCacheStore
from runner.sim import SimulatedCloud
from soar_defender.kql import story
from soar_defender.kql.tables import generate_tables

ROOT = Path(__file__).resolve().parents[2]
START = 1_795_435_200.0  # 2026-11-23T12:00:00Z
TENANTS = ("contoso", "fabrikam")
HOSTS = {"graph": "https://graph.microsoft.com", "xdr": "https://api.security.microsoft.com",
         "mde": "https://api.securitycenter.microsoft.com"}
HUNT_PATHS = {"graph": "/v1.0/security/runHuntingQuery", "xdr": "/api/advancedhunting/run",
              "mde": "/api/advancedqueries/run"}


class Api:
    """GETs and hunting POSTs against one simulated cloud, holding a real token per (tenant, API)."""

    def __init__(self, cloud: SimulatedCloud) -> None:
        self.cloud = cloud
        self.http = httpx.Client(transport=httpx.MockTransport(cloud.handler))
        self.provider = TokenProvider(cloud.demo_config(), cloud.network(), cache_store=MemoryCacheStore())
        self.tokens: dict[tuple[str, str], str] = {}

    def _headers(self, tenant: str, api: str) -> dict:
        if (tenant, api) not in self.tokens:
            self.tokens[(tenant, api)] = asyncio.run(self.provider.get_token(tenant, api)).value.reveal()
        return {"Authorization": f"Bearer {self.tokens[(tenant, api)]}"}

    def get(self, api: str, path: str, tenant: str, **params: str) -> dict:
        r = self.http.get(HOSTS[api] + path, params=params, headers=self._headers(tenant, api))
        assert r.status_code == 200, r.text
        return r.json()

    def hunt(self, api: str, query: str, tenant: str) -> list[dict]:
        r = self.http.post(HOSTS[api] + HUNT_PATHS[api], json={"Query": query}, headers=self._headers(tenant, api))
        assert r.status_code == 200, f"{query}\n{r.text}"
        return r.json()["results" if api == "graph" else "Results"]

    def close(self) -> None:
        self.http.close()
        self.provider.close()


@pytest.fixture(scope="module")
def api():
    client = Api(SimulatedCloud(defender={"time_scale": 0, "start": START, "quotas": False}))
    yield client
    client.close()


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def find_story(api: Api, tenant: str) -> dict:
    """The story incident, alert, device and user as the XDR, MDE and Graph APIs show them."""
    hits = [(inc, alert) for inc in api.get("xdr", "/api/incidents", tenant)["value"] for alert in inc["alerts"]
            if any(e.get("sha256") == story.STORY_PAYLOAD_SHA256 for e in alert["entities"])]
    assert len(hits) == 1, f"{tenant}: {len(hits)} alerts carry the story"
    incident, alert = hits[0]
    (device,) = alert["devices"]
    user = next(e for e in alert["entities"] if e["entityType"] == "User")
    machine = api.get("mde", f"/api/machines/{device['mdatpDeviceId']}", tenant)
    return {"incident": incident, "alert": alert, "device_id": machine["id"], "device_name": machine["computerDnsName"],
            "machine": machine, "upn": user["userPrincipalName"], "name": user["accountName"],
            "object_id": user["aadUserId"],
            "first": _time(alert["firstActivity"]), "last": _time(alert["lastActivity"]),
            "created": _time(alert["creationTime"])}


@pytest.fixture(scope="module")
def stories(api) -> dict[str, dict]:
    return {tenant: find_story(api, tenant) for tenant in TENANTS}


# ---- the incident, on every API ----------------------------------------------------------------

@pytest.mark.parametrize("tenant", TENANTS)
def test_the_story_incident_is_active_high_and_the_same_on_every_api(api, stories, tenant):
    s = stories[tenant]
    assert s["incident"]["status"] == "Active" and s["incident"]["severity"] == "High"
    assert s["alert"]["severity"] == "High" and s["alert"]["title"] == story.STORY_TITLE
    assert s["alert"]["category"] == story.STORY_CATEGORY
    assert s["machine"]["osPlatform"].startswith("Windows") and s["machine"]["riskScore"] == "High"
    assert s["first"] < s["last"] < s["created"] <= datetime.fromtimestamp(START, timezone.utc)
    assert (datetime.fromtimestamp(START, timezone.utc) - s["first"]).days < 14
    assert (s["created"] - s["first"]).total_seconds() == -story.STEPS["mail"]
    alert_id = s["alert"]["alertId"]
    mde = api.get("mde", f"/api/alerts/{alert_id}", tenant, **{"$expand": "evidence"})
    assert mde["incidentId"] == s["incident"]["incidentId"] and mde["machineId"] == s["device_id"]
    assert {e["sha256"] for e in mde["evidence"] if e["entityType"] == "File"} == {
        story.STORY_PAYLOAD_SHA256, story.STORY_ATTACHMENT_SHA256}
    assert {e.get("url") for e in mde["evidence"]} >= {story.STORY_URL}
    assert {e.get("ipAddress") for e in mde["evidence"]} >= {story.STORY_IP}
    graph = api.get("graph", f"/v1.0/security/incidents/{s['incident']['incidentId']}", tenant, **{"$expand": "alerts"})
    (galert,) = [a for a in graph["alerts"] if a["id"] == alert_id]
    hashes = {(e.get("fileDetails") or {}).get("sha256") for e in galert["evidence"]}
    assert story.STORY_PAYLOAD_SHA256 in hashes
    assert {(e.get("userAccount") or {}).get("userPrincipalName") for e in galert["evidence"]} >= {s["upn"]}


def test_each_tenant_has_its_own_victim_and_device(stories):
    assert len({s["device_id"] for s in stories.values()}) == len(TENANTS)
    assert all(s["upn"].endswith(f"@{t}.com") and s["device_name"].endswith(f".{t}.com") for t, s in stories.items())


# ---- every link of the chain, by a typical hunting query ---------------------------------------
# (name, query, expected row count, columns that must name the story's device / user)

LINKS = [
    ("phishing-mail", f'EmailEvents | where SenderFromAddress == "{story.STORY_SENDER}" '
     "| project Timestamp, RecipientEmailAddress, NetworkMessageId, ThreatTypes", 1, {"RecipientEmailAddress": "upn"}),
    ("mail-link", f'EmailUrlInfo | where UrlDomain == "{story.STORY_DOMAIN}" | join kind=inner '
     "(EmailEvents | project NetworkMessageId, RecipientEmailAddress) on NetworkMessageId "
     "| project Timestamp, RecipientEmailAddress, Url", 1, {"RecipientEmailAddress": "upn"}),
    ("attachment", f'EmailAttachmentInfo | where SHA256 == "{story.STORY_ATTACHMENT_SHA256}" '
     "| project Timestamp, RecipientEmailAddress, FileName", 1, {"RecipientEmailAddress": "upn"}),
    ("click-through", 'UrlClickEvents | where ActionType == "ClickAllowed" and IsClickedThrough '
     '| where ThreatTypes has "Phish" | project Timestamp, AccountUpn, Url', 1, {"AccountUpn": "upn"}),
    ("unlock", 'DeviceLogonEvents | where DeviceId == "{device_id}" and LogonType == "Unlock" '
     'and Timestamp between (datetime({first}) .. datetime({last})) | project Timestamp, DeviceName, AccountName',
     1, {"DeviceName": "device_name", "AccountName": "name"}),
    ("office-spawns-shell", 'DeviceProcessEvents | where InitiatingProcessFileName in~ ("winword.exe", "excel.exe", '
     '"outlook.exe") | where FileName in~ ("powershell.exe", "cmd.exe", "wscript.exe", "mshta.exe") '
     "| project Timestamp, DeviceId, DeviceName, AccountUpn, ProcessCommandLine", 1,
     {"DeviceId": "device_id", "DeviceName": "device_name", "AccountUpn": "upn"}),
    ("office-then-shell-sequence", 'DeviceProcessEvents | where FileName in~ ("winword.exe", "powershell.exe") '
     "| sort by DeviceId asc, Timestamp asc | scan declare (Opened: datetime) with ("
     'step doc output=none: FileName =~ "winword.exe" => Opened = Timestamp; '
     'step shell: FileName =~ "powershell.exe" and DeviceId == doc.DeviceId and Timestamp - doc.Opened < 10m '
     "=> Opened = doc.Opened;) | project Timestamp, DeviceId, AccountUpn, Opened", 1,
     {"DeviceId": "device_id", "AccountUpn": "upn"}),
    ("encoded-powershell-rundll32", 'DeviceProcessEvents | where FileName =~ "rundll32.exe" and '
     'InitiatingProcessFileName =~ "powershell.exe" and InitiatingProcessCommandLine has "-enc" '
     "| project Timestamp, DeviceId, AccountUpn, InitiatingProcessParentFileName", 1,
     {"DeviceId": "device_id", "AccountUpn": "upn"}),
    ("download", f'DeviceFileEvents | where FileOriginUrl has "{story.STORY_DOMAIN}" '
     "| project Timestamp, DeviceId, SHA256, InitiatingProcessFileName, InitiatingProcessAccountUpn", 1,
     {"DeviceId": "device_id", "InitiatingProcessAccountUpn": "upn"}),
    ("attachment-on-disk", f'DeviceFileEvents | where SHA256 == "{story.STORY_ATTACHMENT_SHA256}" '
     "| project Timestamp, DeviceId, InitiatingProcessFileName", 1, {"DeviceId": "device_id"}),
    ("payload-loaded", f'DeviceImageLoadEvents | where SHA256 == "{story.STORY_PAYLOAD_SHA256}" '
     "| project Timestamp, DeviceId, InitiatingProcessFileName", 1, {"DeviceId": "device_id"}),
    ("rare-domain", f'DeviceNetworkEvents | where RemoteUrl =~ "{story.STORY_DOMAIN}" or RemoteIP == "{story.STORY_IP}" '
     "| project Timestamp, DeviceId, InitiatingProcessFileName", 9, {"DeviceId": "device_id"}),
    ("run-key", 'DeviceRegistryEvents | where ActionType == "RegistryValueSet" and RegistryKey has @"\\CurrentVersion\\Run" '
     '| where RegistryValueData has "rundll32" | project Timestamp, DeviceId, RegistryValueName, '
     "InitiatingProcessAccountUpn", 1, {"DeviceId": "device_id", "InitiatingProcessAccountUpn": "upn"}),
    ("scheduled-task", 'DeviceEvents | where ActionType == "ScheduledTaskCreated" '
     "| project Timestamp, DeviceId, Task = tostring(parse_json(AdditionalFields).TaskName)", 1,
     {"DeviceId": "device_id"}),
    ("powershell-command", 'DeviceEvents | where ActionType == "PowerShellCommand" and AdditionalFields has '
     '"Invoke-WebRequest" | project Timestamp, DeviceId', 1, {"DeviceId": "device_id"}),
    ("antivirus", 'DeviceEvents | where ActionType == "AntivirusDetection" '
     "| project Timestamp, DeviceId, ThreatName = tostring(parse_json(AdditionalFields).ThreatName)", 1,
     {"DeviceId": "device_id"}),
    ("odd-sign-in", "AADSignInEventsBeta | where ErrorCode == 0 | summarize Countries = dcount(Country) by AccountUpn "
     '| where Countries > 1 | join kind=inner (AADSignInEventsBeta | where Country != "US") on AccountUpn '
     "| project Timestamp, AccountUpn, IPAddress", 1, {"AccountUpn": "upn"}),
    ("odd-sign-in-entra", f'EntraIdSignInEvents | where Country == "{story.STORY_SIGNIN_COUNTRY}" '
     "| project Timestamp, AccountUpn, AccountObjectId, IPAddress", 1, {"AccountUpn": "upn", "AccountObjectId": "object_id"}),
    ("identity-logon", f'IdentityLogonEvents | where IPAddress == "{story.STORY_SIGNIN_IP}" '
     "| project Timestamp, AccountUpn", 1, {"AccountUpn": "upn"}),
    ("inbox-rule", 'CloudAppEvents | where ActionType == "New-InboxRule" and tostring(RawEventData.Parameters) '
     'has "RSS Feeds" | project Timestamp, AccountObjectId, IPAddress', 1, {"AccountObjectId": "object_id"}),
]


@pytest.mark.parametrize("tenant", TENANTS)
@pytest.mark.parametrize("name, query, count, ties", LINKS, ids=[link[0] for link in LINKS])
def test_each_link_is_found_on_the_story_device_for_its_user_in_its_window(api, stories, tenant, name, query,
                                                                          count, ties):
    s = stories[tenant]
    rows = api.hunt("graph", query.format(**s), tenant)
    assert len(rows) == count, rows
    for row in rows:
        for column, fact in ties.items():
            assert str(row[column]).lower() == str(s[fact]).lower(), (column, row)
        assert s["first"] <= _time(row["Timestamp"]) <= s["last"], row


@pytest.mark.parametrize("tenant", TENANTS)
def test_device_links_answer_the_same_on_graph_xdr_and_mde(api, tenant):
    device_links = [query for _, query, _, ties in LINKS if "DeviceId" in ties]
    assert len(device_links) >= 8
    for query in device_links:
        answers = [api.hunt(a, query, tenant) for a in ("graph", "xdr", "mde")]
        assert answers[0] == answers[1] == answers[2] and answers[0], query


@pytest.mark.parametrize("tenant", TENANTS)
def test_the_alert_tables_tie_the_chain_to_the_alert(api, stories, tenant):
    s = stories[tenant]
    alert_id = s["alert"]["alertId"]
    (info,) = api.hunt("graph", f'AlertInfo | where AlertId == "{alert_id}"', tenant)
    assert info["Title"] == story.STORY_TITLE and info["Severity"] == "High"
    evidence = api.hunt("graph", f'AlertEvidence | where AlertId == "{alert_id}"', tenant)
    assert {e["EntityType"] for e in evidence} == {"Machine", "User", "File", "Process", "Url", "Ip", "MailMessage",
                                                  "RegistryValue"}
    assert {e["DeviceId"] for e in evidence} == {s["device_id"]}
    (mail,) = [e for e in evidence if e["EntityType"] == "MailMessage"]
    (sent,) = api.hunt("graph", f'EmailEvents | where NetworkMessageId == "{mail["NetworkMessageId"]}"', tenant)
    assert sent["SenderFromAddress"] == story.STORY_SENDER and sent["RecipientEmailAddress"] == s["upn"]
    (user,) = [e for e in evidence if e["EntityType"] == "User"]
    assert user["AccountUpn"] == s["upn"] and user["AccountObjectId"] == s["object_id"]


@pytest.mark.parametrize("tenant", TENANTS)
def test_the_victim_device_and_identity(api, stories, tenant):
    s = stories[tenant]
    info = api.hunt("graph", f'DeviceInfo | where DeviceId == "{s["device_id"]}" | project DeviceName, LoggedOnUsers',
                    tenant)
    assert info and all(r["DeviceName"] == s["device_name"] for r in info)
    victim = s["upn"].split("@")[0]
    assert all(victim in {u["UserName"] for u in json.loads(r["LoggedOnUsers"])} for r in info)
    risky = api.hunt("graph", 'IdentityInfo | where RiskLevel == "Medium" | project AccountUpn, AccountObjectId',
                     tenant)
    assert risky == [{"AccountUpn": s["upn"], "AccountObjectId": s["object_id"]}]
    everyone = api.hunt("graph", "IdentityInfo | summarize count() by AccountUpn | where count_ > 1", tenant)
    assert everyone == []  # one row per user


# ---- the documentation --------------------------------------------------------------------------

@pytest.mark.parametrize("tenant", TENANTS)
def test_alert_users_are_the_users_of_the_identity_tables(api, tenant):
    """Every alert's User evidence (the MDE alerts API) carries the SID the logon tables give that
    user."""
    alerts = api.get("mde", "/api/alerts", tenant, **{"$expand": "evidence"})["value"]
    users = {(ev["accountName"], ev["userSid"]) for a in alerts for ev in a.get("evidence") or []
             if ev.get("entityType") == "User"}
    seen = api.hunt("graph", "union DeviceLogonEvents, IdentityLogonEvents | where isnotempty(AccountSid) "
                             "| distinct AccountName = tolower(AccountName), AccountSid", tenant)
    sids = {r["AccountName"]: r["AccountSid"] for r in seen}
    assert len(sids) == len(seen)  # one SID per user across the tables
    assert users and all(sid == sids[name] for name, sid in users if name in sids), (users, sids)
    assert any(name in sids for name, _ in users)


def test_microsofts_credential_theft_target_hunt_finds_logons(api):
    """Microsoft's documented hunt joins credential-access alerts' User evidence (its
    AdditionalFields) to IdentityLogonEvents by SID: on the seeded tenants it finds logons (most
    seeded identity logons are cloud ones, without a SID, so not in every tenant)."""
    rows = [row for tenant in TENANTS for row in api.hunt("graph", """AlertInfo
| where Timestamp > ago(30d)
| where Category == "CredentialAccess"
| join AlertEvidence on AlertId
| extend IsJoined=(parse_json(AdditionalFields).Account.IsDomainJoined)
| extend TargetAccountSid=tostring(parse_json(AdditionalFields).Account.Sid)
| where IsJoined has "true"
| join kind=inner IdentityLogonEvents on $left.TargetAccountSid == $right.AccountSid
| project AccountDisplayName, TargetAccountSid, Application, Protocol, DeviceName, LogonType""", tenant)]
    assert rows and all(r["TargetAccountSid"].startswith("S-1-5-21-") for r in rows)


def _story_section() -> str:
    text = (ROOT / "docs" / "simulator.md").read_text(encoding="utf-8")
    start = text.index("### The attack story")
    return text[start:text.index("\n### ", start + 1)]


DOC_QUERIES = re.findall(r"```kusto\n(.*?)```", _story_section(), flags=re.S)


def test_the_docs_show_a_query_for_each_link():
    assert len(DOC_QUERIES) >= 14
    tables = {q.split()[0] for q in DOC_QUERIES} | {t for q in DOC_QUERIES for t in re.findall(r"\b[A-Z]\w+Events\b", q)}
    assert {"EmailEvents", "EmailUrlInfo", "EmailAttachmentInfo", "UrlClickEvents", "DeviceProcessEvents",
            "DeviceFileEvents", "DeviceNetworkEvents", "DeviceRegistryEvents", "DeviceEvents", "AADSignInEventsBeta",
            "IdentityLogonEvents", "CloudAppEvents", "AlertEvidence"} <= tables


@pytest.mark.parametrize("tenant", TENANTS)
@pytest.mark.parametrize("query", DOC_QUERIES, ids=[f"doc-{i + 1}" for i in range(len(DOC_QUERIES))])
def test_documented_queries_find_rows(api, tenant, query):
    assert api.hunt("graph", query, tenant)


def test_documented_indicators_are_the_constants():
    section = _story_section()
    for name in ["STORY_SENDER", "STORY_SENDER_IP", "STORY_SUBJECT", "STORY_URL", "STORY_DOMAIN", "STORY_IP",
                 "STORY_DOWNLOAD_URL", "STORY_ATTACHMENT", "STORY_ATTACHMENT_SHA256", "STORY_PAYLOAD",
                 "STORY_PAYLOAD_SHA256", "STORY_PAYLOAD_SHA1", "STORY_RUN_VALUE", "STORY_TASK", "STORY_THREAT",
                 "STORY_SIGNIN_IP", "STORY_SIGNIN_COUNTRY", "STORY_TITLE", "STORY_CATEGORY"]:
        assert f"`{getattr(story, name)}`" in section, name
    assert all(t in section for t in story.STORY_TECHNIQUES)


# ---- determinism --------------------------------------------------------------------------------

_DIGEST = """
import hashlib, json
from runner.sim import SimulatedCloud
cloud = SimulatedCloud(defender={"time_scale": 0, "start": %r, "quotas": False})
digest = hashlib.sha256()
for tenant in %r:
    for name, table in sorted(cloud.defender.hunting.tables(tenant).items()):
        digest.update(json.dumps([name, [[r.get(c.name) for c in table.columns] for r in table.rows]],
                                 default=str).encode())
print(digest.hexdigest())
"""


def _digest_in_another_process() -> str:
    run = subprocess.run([sys.executable, "-c", _DIGEST % (START, TENANTS)], capture_output=True, text=True,
                         check=True, env={**os.environ, "PYTHONHASHSEED": "12345"})
    return run.stdout.strip()


def _local_digest(cloud: SimulatedCloud) -> str:
    digest = hashlib.sha256()
    for tenant in TENANTS:
        for name, table in sorted(cloud.defender.hunting.tables(tenant).items()):
            digest.update(json.dumps([name, [[r.get(c.name) for c in table.columns] for r in table.rows]],
                                     default=str).encode())
    return digest.hexdigest()


def test_same_tables_from_run_to_run(api):
    here = _local_digest(api.cloud)
    assert here == _local_digest(SimulatedCloud(defender={"time_scale": 0, "start": START, "quotas": False}))
    assert here == _digest_in_another_process()  # another hash seed too


def test_another_seed_moves_the_story_but_keeps_its_indicators():
    cloud = SimulatedCloud(defender={"time_scale": 0, "start": START, "quotas": False, "seed": 7})
    other = Api(cloud)
    try:
        s = find_story(other, "contoso")
        assert s["incident"]["status"] == "Active" and s["incident"]["severity"] == "High"
        rows = other.hunt("graph", f'DeviceFileEvents | where SHA256 == "{story.STORY_PAYLOAD_SHA256}" '
                                   "| project DeviceId", "contoso")
        assert rows == [{"DeviceId": s["device_id"]}]
    finally:
        other.close()


def test_tables_without_a_story_alert_hold_no_story():
    devices = [{"deviceId": "1" * 40, "computerDnsName": "pc.contoso.com", "osPlatform": "Windows11",
                "riskScore": "High"}]
    alerts = [{"id": "da1", "severity": "High", "status": "New", "machineId": "1" * 40,
               "alertCreationTime": "2026-11-22T08:00:00Z",
               "evidence": [{"entityType": "User", "accountName": "alice", "userPrincipalName": "alice@contoso.com"}]}]
    tables = generate_tables(devices, alerts, seed=1, now=_time("2026-11-23T10:00:00Z"), events_per_device=5)
    # those tables hold background activity, but nothing of the story: no row names one of its indicators
    from soar_defender.kql import story as chain

    indicators = [chain.STORY_SENDER, chain.STORY_SUBJECT, chain.STORY_DOMAIN, chain.STORY_IP, chain.STORY_PAYLOAD,
                  chain.STORY_ATTACHMENT, chain.STORY_RUN_VALUE, chain.STORY_TASK, chain.STORY_THREAT]
    for table in ("EmailEvents", "EmailUrlInfo", "UrlClickEvents", "DeviceRegistryEvents", "DeviceEvents",
                  "DeviceProcessEvents", "DeviceNetworkEvents", "DeviceFileEvents"):
        text = json.dumps(tables[table].rows, default=str)
        assert not [i for i in indicators if i in text], table
    assert tables["DeviceEvents"].rows and tables["UrlClickEvents"].rows  # the background is there
    assert [r["AccountUpn"] for r in tables["IdentityInfo"].rows][:1] == ["alice@contoso.com"]


# ---- playbooks ----------------------------------------------------------------------------------

INCIDENT_TO_HUNT = """
name: story-incident-to-hunt
tenants: all
steps:
  - id: incidents
    action: defender.list_incidents
    with: {status: Active, min_severity: High, max_items: 100}
  - id: hunt
    action: defender.run_hunting_query
    foreach: "${{ steps.incidents.output | devices }}"
    with:
      parameters: {device: "${{ item.deviceId }}"}
      query: |
        DeviceProcessEvents
        | where DeviceId == device and InitiatingProcessFileName =~ "winword.exe" and FileName =~ "powershell.exe"
        | project DeviceName, AccountUpn
outputs:
  found: "${{ steps.hunt.output | map(attribute='results') | sum(start=[]) }}"
"""


def _soar(tmp_path, *args):
    from runner.cli import main

    result = CliRunner().invoke(main, ["--store", f"sqlite:///{tmp_path}/s.db", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture
def fixed_cloud(monkeypatch):
    """--simulate gets the same simulated cloud as the ``api`` fixture (same start)."""
    cloud = SimulatedCloud(defender={"time_scale": 0, "start": START, "quotas": False})
    monkeypatch.setattr(runner.sim, "SimulatedCloud", lambda *a, **k: cloud)
    return cloud


def test_a_playbook_listing_incidents_then_hunting_their_devices_finds_the_chain(tmp_path, stories, fixed_cloud):
    path = tmp_path / "story.yaml"
    path.write_text(INCIDENT_TO_HUNT)
    doc = _soar(tmp_path, "run", str(path), "--simulate", "--json")
    assert doc["status"] == "succeeded", doc
    for tenant, s in stories.items():
        assert doc["tenants"][tenant]["outputs"]["found"] == [{"DeviceName": s["device_name"], "AccountUpn": s["upn"]}]


def test_the_shipped_domain_hunt_finds_the_story_device(tmp_path, stories, fixed_cloud, monkeypatch):
    monkeypatch.setenv("SOAR_CHAT_WEBHOOK", "http://127.0.0.1:9/hook")  # read at start; a dry run posts nothing
    doc = _soar(tmp_path, "run", str(ROOT / "playbooks" / "hunt-domain-indicator.yaml"), "--simulate", "--json",
                "--dry-run", "--input", f"domain={story.STORY_DOMAIN}")
    for tenant, s in stories.items():
        outputs = doc["tenants"][tenant]["outputs"]
        assert outputs["devices"] == [s["device_name"]] and outputs["connections"] == 9
