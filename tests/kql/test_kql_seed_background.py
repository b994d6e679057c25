"""The background rows of every seeded tenant (soar_defender.kql.seed_*; docs/simulator.md, "Background
data"): vulnerability management, DeviceEvents, registry, DLL loads, adapters, signers, directory
queries and changes, links, clicks and removed mail. Checked with typical hunting queries: they
find rows, the rows belong to the tenant's devices and users, they are the same for the same
seed, and they never name the attack story's or the planted files' indicators.
"""

from __future__ import annotations

import asyncio
import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

from runner.auth import TokenProvider
from runner.auth.cache import MemoryCacheStore
from runner.sim import SimulatedCloud
from soar_defender.kql import run_query, story
from soar_defender.kql import tables as seed
from soar_defender.kql.seed_device_events import ASR_RULES

START = 1_795_435_200.0  # 2026-11-23T12:00:00Z
NOW = datetime.fromtimestamp(START, timezone.utc)
TENANTS = ("contoso", "fabrikam")
BACKGROUND = ["DeviceTvmSoftwareInventory", "DeviceTvmSoftwareVulnerabilities", "DeviceTvmSoftwareVulnerabilitiesKB",
              "DeviceTvmSecureConfigurationAssessment", "DeviceTvmSecureConfigurationAssessmentKB", "DeviceEvents",
              "DeviceRegistryEvents", "DeviceImageLoadEvents", "DeviceNetworkInfo", "DeviceFileCertificateInfo",
              "IdentityDirectoryEvents", "IdentityQueryEvents", "EmailPostDeliveryEvents", "EmailUrlInfo",
              "UrlClickEvents"]
DEVICE_TABLES = [t for t in BACKGROUND if t.startswith("Device") and not t.endswith("KB")]
INDICATORS = [story.STORY_SENDER, story.STORY_SENDER_IP, story.STORY_SUBJECT, story.STORY_DOMAIN, story.STORY_IP,
              story.STORY_ATTACHMENT, story.STORY_ATTACHMENT_SHA256, story.STORY_PAYLOAD, story.STORY_PAYLOAD_SHA256,
              story.STORY_PAYLOAD_SHA1, story.STORY_RUN_VALUE, story.STORY_TASK, story.STORY_THREAT,
              story.STORY_SIGNIN_IP, seed.KNOWN_BAD_SHA256, seed.KNOWN_BAD_SHA1, seed.KNOWN_BAD_MD5,
              seed.KNOWN_BAD_SHA256_2, seed.KNOWN_BAD_IP, seed.KNOWN_BAD_URL, seed.KNOWN_BAD_LOGON_IP,
              "invoice_viewer.exe", "mssecsvc.exe", "Invoke-WebRequest"]
WRITERS = ["write_tvm", "write_device_events", "write_device_state", "write_identity_events", "write_mail_activity"]


@pytest.fixture(scope="module")
def cloud() -> SimulatedCloud:
    return SimulatedCloud(defender={"time_scale": 0, "start": START, "quotas": False})


@pytest.fixture(scope="module", params=TENANTS)
def tenant(request, cloud):
    """(tenant name, its hunting tables, its MDE machines)."""
    name = request.param
    return name, cloud.defender.hunting.tables(name), cloud.defender.tenant(name).devices


def rows(query: str, tables) -> list[dict]:
    return run_query(query, tables, now=NOW).to_json_rows()


def test_every_background_table_has_rows_in_every_tenant(tenant):
    _, tables, _ = tenant
    assert [t for t in BACKGROUND if not tables[t].rows] == []


def test_devices_with_a_critical_exploitable_cve_join_to_device_info(tenant):
    _, tables, _ = tenant
    found = rows("""
        let exploitable = DeviceTvmSoftwareVulnerabilitiesKB
            | where IsExploitAvailable and VulnerabilitySeverityLevel == "Critical" | project CveId, CvssScore;
        DeviceTvmSoftwareVulnerabilities
        | join kind=inner exploitable on CveId
        | join kind=inner (DeviceInfo | summarize arg_max(Timestamp, *) by DeviceId | project DeviceId,
            InfoName = DeviceName, OSPlatform) on DeviceId
        | project DeviceId, DeviceName, InfoName, OSPlatform, SoftwareName, SoftwareVersion, CveId, CvssScore
        """, tables)
    assert found
    assert all(r["DeviceName"] == r["InfoName"] and float(r["CvssScore"]) >= 9 for r in found)
    kb = {r["CveId"]: r for r in tables["DeviceTvmSoftwareVulnerabilitiesKB"].rows}
    assert all(re.fullmatch(r"CVE-\d{4}-\d{4,}", cve) for cve in kb)
    assert len({r["CveId"] for r in found}) >= 1 and {r["CveId"] for r in found} <= set(kb)


def test_vulnerabilities_are_the_installed_software_below_the_fixed_version(tenant):
    _, tables, _ = tenant
    orphans = rows("""
        DeviceTvmSoftwareVulnerabilities
        | join kind=leftanti DeviceTvmSoftwareInventory on DeviceId, SoftwareVendor, SoftwareName, SoftwareVersion
        """, tables)
    assert orphans == []
    missing_kb = rows("DeviceTvmSoftwareVulnerabilities | join kind=leftanti DeviceTvmSoftwareVulnerabilitiesKB "
                      "on CveId", tables)
    assert missing_kb == []
    inventory = tables["DeviceTvmSoftwareInventory"].rows
    assert all(r["SoftwareVendor"] == r["SoftwareVendor"].lower() and r["ProductCodeCpe"].startswith("cpe:2.3:")
               for r in inventory)
    assert {r["EndOfSupportStatus"] for r in inventory} <= {"", "EOS Software", "EOS Version",
                                                            "Upcoming EOS Software"}
    windows10 = [r for r in inventory if r["SoftwareName"] == "windows_10"]
    assert windows10 and all(r["EndOfSupportStatus"] == "EOS Software" for r in windows10)  # ended 2025-10-14
    assert rows('DeviceTvmSoftwareVulnerabilities | where VulnerabilitySeverityLevel has_any ("critical", "High") '
                "| summarize count(), VulnerableCVE = make_set(CveId) by DeviceName | top 10 by count_", tables)


def test_every_device_has_its_platform_os_in_the_inventory(tenant):
    _, tables, machines = tenant
    os_rows = rows('DeviceTvmSoftwareInventory | where ProductCodeCpe startswith "cpe:2.3:o:" '
                   "| summarize OS = make_set(SoftwareName) by DeviceId, OSPlatform", tables)
    assert {r["DeviceId"] for r in os_rows} == {m["id"] for m in machines}
    assert all(len(r["OS"]) == 1 for r in os_rows)


def test_secure_configuration_rows_and_their_kb(tenant):
    _, tables, machines = tenant
    health = rows("""
        DeviceTvmSecureConfigurationAssessment
        | where ConfigurationId in ("scid-2000", "scid-2003", "scid-2010", "scid-2011", "scid-2012", "scid-2016")
        | summarize arg_max(Timestamp, IsCompliant, IsApplicable) by DeviceId, ConfigurationId
        """, tables)
    windows = {m["id"] for m in machines if m["osPlatform"].startswith("Windows")}
    assert {r["DeviceId"] for r in health} == windows and len(health) == 6 * len(windows)
    signatures = rows('DeviceTvmSecureConfigurationAssessment | where ConfigurationId == "scid-2011" '
                      "| extend av = parse_json(Context) | project AVSigVersion = tostring(av[0][0]), "
                      "Updated = todatetime(av[0][2])", tables)
    assert signatures and all(r["AVSigVersion"].startswith("1.") and r["Updated"] for r in signatures)
    kb = rows("DeviceTvmSecureConfigurationAssessment | distinct ConfigurationId "
              "| join kind=leftanti DeviceTvmSecureConfigurationAssessmentKB on ConfigurationId", tables)
    assert kb == []


def test_asr_rows_parse_their_additional_fields(tenant):
    _, tables, _ = tenant
    asr = rows("""
        DeviceEvents
        | where ActionType startswith "Asr"
        | extend Fields = parse_json(AdditionalFields)
        | project DeviceName, ActionType, IsAudit = tobool(Fields.IsAudit), RuleId = tostring(Fields.RuleId),
            FileName, InitiatingProcessFileName
        """, tables)
    assert asr
    for r in asr:
        rule = re.fullmatch(r"(Asr\w+?)(Audited|Blocked)", r["ActionType"])
        assert rule and r["IsAudit"] == (rule.group(2) == "Audited"), r
        assert r["RuleId"] == ASR_RULES[rule.group(1)][0] and r["FileName"] and r["InitiatingProcessFileName"]


def test_device_events_additional_fields_are_json_objects(tenant):
    _, tables, _ = tenant
    actions = {r["ActionType"] for r in tables["DeviceEvents"].rows}
    assert {"AntivirusScanCompleted", "PowerShellCommand", "DnsQueryResponse", "NamedPipeEvent",
            "BrowserLaunchedToOpenUrl"} <= actions
    for r in tables["DeviceEvents"].rows:
        if r["AdditionalFields"]:
            assert isinstance(json.loads(r["AdditionalFields"]), dict), r
    dns = rows('DeviceEvents | where ActionType == "DnsQueryResponse" | extend F = parse_json(AdditionalFields) '
               "| project Host = tostring(F.DnsQueryString), Answer = parse_json(tostring(F.DnsQueryResult)), RemoteUrl",
               tables)
    assert dns and all(r["Host"] == r["RemoteUrl"] and r["Answer"][0]["DnsQueryType"] == "A" for r in dns)


def test_every_device_row_is_on_a_tenant_device(tenant):
    _, tables, machines = tenant
    names = {m["id"]: m["computerDnsName"] for m in machines}
    for table in DEVICE_TABLES:
        for r in tables[table].rows:
            assert names.get(r["DeviceId"]) == r["DeviceName"], (table, r["DeviceId"], r["DeviceName"])
    windows = {m["id"] for m in machines if m["osPlatform"].startswith("Windows")}
    for table in ("DeviceEvents", "DeviceRegistryEvents", "DeviceImageLoadEvents", "DeviceFileCertificateInfo"):
        assert {r["DeviceId"] for r in tables[table].rows} <= windows, table
    assert {r["DeviceId"] for r in tables["DeviceNetworkInfo"].rows} == set(names)


def test_timed_rows_lie_in_the_30_days_before_now(tenant):
    _, tables, _ = tenant
    for table in BACKGROUND:
        for r in tables[table].rows:
            assert NOW - timedelta(days=30) <= r["Timestamp"] <= NOW, (table, r["Timestamp"])


def test_adapters_carry_the_machine_addresses(tenant):
    _, tables, machines = tenant
    found = rows("""
        DeviceNetworkInfo
        | summarize arg_max(Timestamp, *) by DeviceId, NetworkAdapterName
        | where NetworkAdapterStatus == "Up"
        | mv-expand IP = parse_json(IPAddresses)
        | where tostring(IP.AddressType) == "Private"
        | project DeviceId, Address = tostring(IP.IPAddress), Domain = ConnectedNetworks
        """, tables)
    last = {m["id"]: m["lastIpAddress"] for m in machines}
    assert {r["DeviceId"] for r in found} == set(last)
    assert all(r["Address"] == last[r["DeviceId"]] for r in found)


def test_signers_cover_the_programs_that_ran_and_no_unsigned_file(tenant):
    _, tables, _ = tenant
    signed = rows("""
        DeviceFileCertificateInfo
        | join kind=inner (DeviceProcessEvents | distinct DeviceId, SHA1, FileName) on DeviceId, SHA1
        | summarize Devices = dcount(DeviceId) by FileName, Signer, IsRootSignerMicrosoft
        """, tables)
    by_file = {r["FileName"]: r for r in signed}
    assert by_file["explorer.exe"]["Signer"] == "Microsoft Windows"
    assert by_file["chrome.exe"]["Signer"] == "Google LLC" and not by_file["chrome.exe"]["IsRootSignerMicrosoft"]
    sha1s = {r["SHA1"] for r in tables["DeviceFileCertificateInfo"].rows}
    assert not sha1s & {seed.KNOWN_BAD_SHA1, story.STORY_PAYLOAD_SHA1}


def test_ldap_queries_have_the_service_query_form(tenant):
    _, tables, machines = tenant
    ldap = rows("""
        IdentityQueryEvents
        | where ActionType == "LDAP query"
        | parse Query with * "Search Scope: " SearchScope ", Base Object:" BaseObject ", Search Filter: " SearchFilter
        | project DeviceName, DestinationDeviceName, SearchScope, BaseObject, SearchFilter, AccountUpn
        """, tables)
    names = {m["computerDnsName"] for m in machines}
    assert ldap and all(r["SearchFilter"].startswith("(") and r["BaseObject"].startswith("DC=") for r in ldap)
    assert {r["DeviceName"] for r in ldap} <= names and len({r["DestinationDeviceName"] for r in ldap}) == 1
    roasting = rows('IdentityQueryEvents | where Query has_any ("serviceprincipalname=*", "4194304") | count', tables)
    assert roasting == [{"Count": 0}]


def test_directory_changes_name_known_users(tenant):
    _, tables, _ = tenant
    changes = rows("""
        IdentityDirectoryEvents
        | where ActionType == "Group Membership changed"
        | project Group = tostring(AdditionalFields["TO.GROUP"]), Actor = tostring(AdditionalFields["ACTOR.ACCOUNT"]),
            TargetAccountUpn
        | join kind=inner (IdentityInfo | project TargetAccountUpn = AccountUpn, Department) on TargetAccountUpn
        """, tables)
    assert changes and all(r["Group"] and r["Actor"] for r in changes)
    passwords = rows('IdentityDirectoryEvents | where ActionType == "Account Password changed" '
                     "| join kind=leftanti (IdentityInfo | project AccountUpn) on AccountUpn", tables)
    assert passwords == []


def test_mail_links_clicks_and_removals_join_their_mail(tenant):
    _, tables, _ = tenant
    for table in ("EmailUrlInfo", "UrlClickEvents", "EmailPostDeliveryEvents"):
        assert rows(f"{table} | join kind=leftanti EmailEvents on NetworkMessageId", tables) == [], table
    zapped = rows("""
        EmailPostDeliveryEvents
        | where ActionType in ("Phish ZAP", "Manual remediation")
        | join kind=inner (EmailEvents | project NetworkMessageId, SenderFromDomain, LatestDeliveryLocation)
            on NetworkMessageId
        | project ActionType, ActionResult, DeliveryLocation, LatestDeliveryLocation, ThreatTypes, DetectionMethods
        """, tables)
    assert zapped and all(r["DeliveryLocation"] == r["LatestDeliveryLocation"] for r in zapped)
    assert all(json.loads(r["DetectionMethods"]) for r in zapped)
    clicks = rows('UrlClickEvents | where ActionType == "ClickAllowed" and IsClickedThrough | where ThreatTypes '
                  'has "Phish" | project AccountUpn', tables)
    assert len(clicks) == 1  # the story's click-through, alone


def test_no_background_row_names_a_story_or_known_bad_indicator(cloud, monkeypatch):
    """Rows naming an indicator are the same with and without the background."""
    data = cloud.defender.tenant("contoso")
    with_background = seed.generate_tables(data.devices, data.alerts, seed=0, now=NOW)
    for name in WRITERS:
        monkeypatch.setattr(seed, name, lambda *a, **k: None)
    without = seed.generate_tables(data.devices, data.alerts, seed=0, now=NOW)
    for table in BACKGROUND:
        def marked(tables):
            return [r for r in tables[table].rows
                    if any(i.lower() in json.dumps(r, default=str).lower() for i in INDICATORS)]
        assert marked(with_background) == marked(without), table
    assert all(without[t].rows == with_background[t].rows for t in ("DeviceProcessEvents", "DeviceNetworkEvents",
                                                                    "AlertEvidence", "IdentityInfo"))


def test_same_seed_same_rows_other_seed_other_rows(cloud):
    data = cloud.defender.tenant("fabrikam")
    first = seed.generate_tables(data.devices, data.alerts, seed=5, now=NOW)
    again = seed.generate_tables(data.devices, data.alerts, seed=5, now=NOW)
    other = seed.generate_tables(data.devices, data.alerts, seed=6, now=NOW)
    assert all(first[t].rows == again[t].rows for t in BACKGROUND)
    fixed = {"DeviceTvmSoftwareVulnerabilitiesKB", "DeviceTvmSecureConfigurationAssessmentKB",  # the catalogue
             "DeviceNetworkInfo"}  # the machines' adapters
    assert [t for t in BACKGROUND if t not in fixed and first[t].rows == other[t].rows] == []


def test_no_devices_no_background():
    tables = seed.generate_tables([], [], seed=1, now=NOW)
    assert all(not tables[t].rows for t in BACKGROUND)


def test_the_mde_route_serves_the_vulnerability_tables(cloud):
    http = httpx.Client(transport=httpx.MockTransport(cloud.handler))
    provider = TokenProvider(cloud.demo_config(), cloud.network(), cache_store=MemoryCacheStore())
    try:
        token = asyncio.run(provider.get_token("contoso", "mde")).value.reveal()
        r = http.post("https://api.securitycenter.microsoft.com/api/advancedqueries/run",
                      headers={"Authorization": f"Bearer {token}"},
                      json={"Query": 'DeviceTvmSoftwareInventory | where SoftwareName has "openssh" '
                                     r'| extend V = toreal(extract(@"(\d+\.\d+)", 1, SoftwareVersion)) '
                                     "| where V between (8.5 .. 9.7) | distinct DeviceId, DeviceName, V"})
    finally:
        provider.close()
        http.close()
    assert r.status_code == 200, r.text
    linux = {m["id"] for m in cloud.defender.tenant("contoso").devices if m["osPlatform"] == "Linux"}
    assert {row["DeviceId"] for row in r.json()["Results"]} <= linux


def _background_section() -> str:
    text = (Path(__file__).resolve().parents[2] / "docs" / "simulator.md").read_text(encoding="utf-8")
    start = text.index("### Background data")
    return text[start:text.index("\n### ", start + 1)]


DOC_QUERIES = re.findall(r"```kusto\n(.*?)```", _background_section(), flags=re.S)


def test_the_docs_list_every_background_table():
    section = _background_section()
    assert len(DOC_QUERIES) >= 5
    assert [t for t in BACKGROUND if t.removesuffix("KB") not in section] == []


@pytest.mark.parametrize("query", DOC_QUERIES, ids=[f"doc-{i + 1}" for i in range(len(DOC_QUERIES))])
def test_documented_background_queries_find_rows(tenant, query):
    _, tables, _ = tenant
    assert rows(query, tables)
