"""Every table of the Defender XDR advanced hunting schema is served by the simulated tenants, with
the columns and types of Microsoft's schema reference; the ones with nothing seeded are empty.
A real table never gets a typo hint; a misspelled table or column still does."""

from __future__ import annotations

import pytest

from runner.sim import SimulatedCloud
from soar_defender.kql import API_TYPE_NAMES, KqlError, run_query
from soar_defender.kql.schemas import MDE_TABLES, SCHEMAS

from kql_dataset import NOW
from test_kql_http import Hunter

#: The tables of Microsoft's "Understand the advanced hunting schema" list.
REFERENCE_TABLES = """
AADSignInEventsBeta AADSpnSignInEventsBeta AgentsInfo AIAgentsInfo AlertEvidence AlertInfo BehaviorEntities
BehaviorInfo CallActivityEvents CampaignInfo CloudAppEvents CloudAuditEvents CloudDnsEvents
CloudPolicyEnforcementEvents CloudProcessEvents CloudStorageAggregatedEvents DataSecurityBehaviors
DataSecurityEvents DeviceBaselineComplianceAssessment DeviceBaselineComplianceAssessmentKB
DeviceBaselineComplianceProfiles DeviceEvents DeviceFileCertificateInfo DeviceFileEvents DeviceImageLoadEvents
DeviceInfo DeviceLogonEvents DeviceNetworkEvents DeviceNetworkInfo DeviceProcessEvents DeviceRegistryEvents
DeviceTvmBrowserExtensions DeviceTvmBrowserExtensionsKB DeviceTvmCertificateInfo DeviceTvmHardwareFirmware
DeviceTvmInfoGathering DeviceTvmInfoGatheringKB DeviceTvmSecureConfigurationAssessment
DeviceTvmSecureConfigurationAssessmentKB DeviceTvmSoftwareEvidenceBeta DeviceTvmSoftwareInventory
DeviceTvmSoftwareVulnerabilities DeviceTvmSoftwareVulnerabilitiesKB DisruptionAndResponseEvents
EmailAttachmentInfo EmailEvents EmailPostDeliveryEvents EmailUrlInfo EntraIdSignInEvents EntraIdSpnSignInEvents
ExposureGraphEdges ExposureGraphNodes FileMaliciousContentInfo GraphApiAuditEvents IdentityAccountInfo
IdentityDirectoryEvents IdentityEvents IdentityInfo IdentityLogonEvents IdentityQueryEvents MessageContents
MessageEvents MessagePostDeliveryEvents MessageUrlInfo OAuthAppInfo UrlClickEvents
""".split()

#: (table, column) → type, as the table's reference page gives it (boolean → bool).
REFERENCE_TYPES = {
    ("DeviceEvents", "ActionType"): "string", ("DeviceEvents", "RemotePort"): "int",
    ("DeviceEvents", "ProcessCreationTime"): "datetime", ("DeviceEvents", "FileSize"): "long",
    ("DeviceEvents", "IsProcessRemoteSession"): "bool", ("DeviceEvents", "AdditionalFields"): "string",
    ("DeviceInfo", "HardwareUuid"): "string", ("DeviceInfo", "OsBuildRevision"): "string",
    ("DeviceInfo", "OSBuild"): "long", ("DeviceInfo", "IsTransient"): "bool",
    ("DeviceRegistryEvents", "RegistryValueData"): "string", ("DeviceRegistryEvents", "InitiatingProcessId"): "long",
    ("DeviceImageLoadEvents", "InitiatingProcessCreationTime"): "datetime",
    ("DeviceFileCertificateInfo", "IsTrusted"): "bool", ("DeviceFileCertificateInfo", "CertificateExpirationTime"): "datetime",
    ("DeviceTvmSecureConfigurationAssessment", "ConfigurationImpact"): "real",
    ("DeviceTvmSecureConfigurationAssessment", "IsCompliant"): "bool",
    ("DeviceTvmSecureConfigurationAssessment", "Context"): "dynamic",
    ("DeviceTvmSoftwareVulnerabilities", "CveTags"): "dynamic",
    ("DeviceTvmSoftwareVulnerabilitiesKB", "IsExploitAvailable"): "bool",
    ("DeviceTvmSoftwareVulnerabilitiesKB", "PublishedDate"): "datetime",
    ("DeviceTvmSoftwareInventory", "EndOfSupportDate"): "datetime",
    ("CloudAppEvents", "ApplicationId"): "int", ("CloudAppEvents", "RawEventData"): "dynamic",
    ("CloudAppEvents", "IsAdminOperation"): "bool",
    ("AADSignInEventsBeta", "ErrorCode"): "int", ("AADSignInEventsBeta", "IsGuestUser"): "bool",
    ("AADSignInEventsBeta", "LastPasswordChangeTimestamp"): "datetime",
    ("IdentityInfo", "IsAccountEnabled"): "bool", ("IdentityInfo", "CriticalityLevel"): "int",
    ("IdentityLogonEvents", "AdditionalFields"): "dynamic", ("IdentityLogonEvents", "Port"): "int",
    ("EmailAttachmentInfo", "FileSize"): "long", ("EmailEvents", "EmailClusterId"): "long",
    ("UrlClickEvents", "IsClickedThrough"): "bool", ("AIAgentsInfo", "AIAgentId"): "guid",
    ("DataSecurityEvents", "NetworkMessageId"): "guid", ("ExposureGraphNodes", "NodeProperties"): "dynamic",
    ("CloudStorageAggregatedEvents", "OperationNamesList"): "dynamic",  # "object" on its page
    ("OAuthAppInfo", "RiskScore"): "int",  # "integer" on its page
}

#: Whole tables, every column in the reference's order.
REFERENCE_COLUMNS = {
    "CampaignInfo": "Timestamp CampaignName CampaignId CampaignType CampaignSubtype NetworkMessageId "
                    "RecipientEmailAddress ReportId",
    "EmailUrlInfo": "Timestamp NetworkMessageId Url UrlDomain UrlLocation UrlChainId UrlChainPosition ReportId",
    "ExposureGraphNodes": "NodeId NodeLabel NodeName Categories NodeProperties EntityIds",
    "DeviceTvmInfoGathering": "Timestamp LastSeenTime DeviceId DeviceName OSPlatform AdditionalFields",
    "DeviceRegistryEvents": "Timestamp DeviceId DeviceName ActionType RegistryKey RegistryValueType "
                            "RegistryValueName RegistryValueData PreviousRegistryKey PreviousRegistryValueName "
                            "PreviousRegistryValueData",  # ... then the InitiatingProcess* columns
}


def names(table: str) -> list[str]:
    return [c.name for c in SCHEMAS[table]]


def test_every_reference_table_is_in_the_schemas():
    assert sorted(SCHEMAS) == sorted(REFERENCE_TABLES)
    assert all(len(set(names(t))) == len(names(t)) for t in SCHEMAS)
    assert MDE_TABLES == {t for t in REFERENCE_TABLES if t.startswith("Device")}


def test_column_types_and_order_follow_the_reference():
    types = {(t, c.name): c.type for t, cols in SCHEMAS.items() for c in cols}
    assert {key: types.get(key) for key in REFERENCE_TYPES} == REFERENCE_TYPES
    for table, columns in REFERENCE_COLUMNS.items():
        assert names(table)[:len(columns.split())] == columns.split(), table
    assert names("DeviceEvents")[:10] == ["Timestamp", "DeviceId", "DeviceName", "ActionType", "FileName",
                                          "FolderPath", "SHA1", "SHA256", "MD5", "FileSize"]


@pytest.fixture(scope="module")
def hunter():
    cloud = SimulatedCloud(defender={"time_scale": 0, "start": NOW.timestamp(), "quotas": False})
    h = Hunter(cloud)
    yield h
    h.close()


@pytest.mark.parametrize("api", ["graph", "xdr"])
def test_every_table_answers_take_1_with_its_reference_schema(hunter, api):
    served = hunter.cloud.defender.hunting.tables("contoso")
    assert set(served) == set(SCHEMAS)
    wrong = {}
    for table, columns in SCHEMAS.items():
        r = hunter.post(api, {"Query": f"{table} | take 1"})
        if r.status_code != 200:
            wrong[table] = r.text
            continue
        body = r.json()
        schema = body["schema"] if api == "graph" else body["Schema"]
        key = "name" if api == "graph" else "Name"
        got = [(c[key], c["type" if api == "graph" else "Type"]) for c in schema]
        rows = body["results"] if api == "graph" else body["Results"]
        if got != [(c.name, API_TYPE_NAMES[c.type]) for c in columns] or len(rows) != min(1, len(served[table].rows)):
            wrong[table] = (got[:3], len(rows))
    assert wrong == {}


def test_tables_with_nothing_seeded_are_empty_and_still_filter(hunter):
    served = hunter.cloud.defender.hunting.tables("contoso")
    empty = sorted(t for t, v in served.items() if not v.rows)
    assert "DeviceTvmBrowserExtensions" in empty and "DeviceInfo" not in empty
    for table in empty:
        first = SCHEMAS[table][0].name
        assert hunter.rows("xdr", f"{table} | where isnotempty({first}) | count") == [{"Count": 0}], table


def test_mde_serves_the_device_tables_and_says_why_not_the_others(hunter):
    assert hunter.rows("mde", "DeviceTvmBrowserExtensions | take 1") == []
    assert len(hunter.rows("mde", "DeviceTvmSoftwareVulnerabilities | take 1")) == 1
    r = hunter.post("mde", {"Query": "EmailEvents | take 1"})
    assert r.status_code == 400
    message = r.json()["error"]["message"]
    assert "'EmailEvents' is an advanced hunting table" in message and "Device* tables only" in message
    assert "Did you mean" not in message


def test_device_events_is_a_table_not_a_typo(hunter):
    r = hunter.post("graph", {"Query": 'DeviceEvents | where ActionType == "AntivirusDetection" | take 5'})
    assert r.status_code == 200, r.text
    # Without DeviceEvents among the tables given, it is still named as a real table, not a typo.
    tables = {"DeviceFileEvents": hunter.cloud.defender.hunting.tables("contoso")["DeviceFileEvents"]}
    with pytest.raises(KqlError) as err:
        run_query("DeviceEvents | take 1", tables, now=NOW)
    assert "Did you mean" not in err.value.message
    assert "'DeviceEvents' is an advanced hunting table" in err.value.message


@pytest.mark.parametrize("query, hint", [
    ("DeviceProcesEvents | take 1", "Did you mean 'DeviceProcessEvents'?"),
    ("deviceevents | take 1", "Did you mean 'DeviceEvents'? (names are case-sensitive)"),
    ("DeviceEvents | where ActionTyp == 'x'", "Did you mean 'ActionType'?"),
    ("DeviceTvmSoftwareInventory | project SoftwareNme", "Did you mean 'SoftwareName'?"),
    ("DeviceInfo | where HardwareUUID != ''", "Did you mean 'HardwareUuid'? (names are case-sensitive)"),
])
def test_real_mistakes_still_get_a_hint(hunter, query, hint):
    r = hunter.post("xdr", {"Query": query})
    assert r.status_code == 400
    assert r.json()["error"]["message"].endswith(hint)


def test_getschema_lists_the_reference_columns_or_is_refused_as_not_supported(hunter):
    r = hunter.post("xdr", {"Query": "DeviceEvents | getschema"})
    if r.status_code == 400:
        message = r.json()["error"]["message"]
        assert "not supported" in message and "Did you mean" not in message
        return
    assert r.status_code == 200, r.text
    got = [(row["ColumnName"], row["ColumnType"]) for row in r.json()["Results"]]
    assert got == [(c.name, c.type) for c in SCHEMAS["DeviceEvents"]]
