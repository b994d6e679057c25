"""Defender's own advanced-hunting functions (InboundExternalNetworkEvents()), and the columns of an
evaluate bag_unpack() whose rows hold nothing to unpack."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from soar_defender.kql import KqlError, Table, run_query
from soar_defender.kql.schemas import SCHEMAS

NOW = datetime(2026, 11, 23, tzinfo=timezone.utc)


@pytest.fixture
def network():
    t = Table("DeviceNetworkEvents", SCHEMAS["DeviceNetworkEvents"])
    day = timedelta(days=1)
    t.extend([
        dict(Timestamp=NOW - day, DeviceId="d1", ActionType="InboundConnectionAccepted", RemoteIPType="Public",
             RemoteIP="192.0.2.10"),
        dict(Timestamp=NOW - 9 * day, DeviceId="d1", ActionType="InboundConnectionAccepted", RemoteIPType="Public",
             RemoteIP="192.0.2.11"),  # older than the function's 7 days
        dict(Timestamp=NOW - day, DeviceId="d1", ActionType="InboundConnectionAccepted", RemoteIPType="Private",
             RemoteIP="10.0.0.5"),  # not from the internet
        dict(Timestamp=NOW - day, DeviceId="d1", ActionType="ConnectionSuccess", RemoteIPType="Public",
             RemoteIP="198.51.100.1"),  # outgoing
        dict(Timestamp=NOW - day, DeviceId="d2", ActionType="InboundConnectionAccepted", RemoteIPType="Public",
             RemoteIP="192.0.2.12"),  # another device
    ])
    return {"DeviceNetworkEvents": t}


def test_inbound_external_network_events_keeps_the_devices_inbound_public_connections_of_7_days(network):
    result = run_query('InboundExternalNetworkEvents("d1") | project RemoteIP', network, now=NOW)
    assert [r["RemoteIP"] for r in result.rows] == ["192.0.2.10"]
    whole = run_query('InboundExternalNetworkEvents("d1")', network, now=NOW)
    assert [c.name for c in whole.columns] == [c.name for c in SCHEMAS["DeviceNetworkEvents"]]


def test_inbound_external_network_events_needs_one_device_id(network):
    with pytest.raises(KqlError, match="one device id"):
        run_query("InboundExternalNetworkEvents()", network, now=NOW)


# ---- bag_unpack's data-dependent columns ------------------------------------------------------

def test_names_after_an_empty_bag_unpack_are_the_bags_properties_as_nulls(network):
    # no row is an InboundInternetScanInspected event, so bag_unpack has nothing to unpack and its
    # columns (the properties real scans carry) are unknown: the ones the query names are nulls
    query = ('DeviceNetworkEvents | where ActionType == "InboundInternetScanInspected" '
             "| extend Fields = todynamic(AdditionalFields) | evaluate bag_unpack(Fields) "
             "| project Timestamp, DeviceName, PublicScannedIp, PublicScannedPort")
    result = run_query(query, network, now=NOW)
    assert [c.name for c in result.columns] == ["Timestamp", "DeviceName", "PublicScannedIp", "PublicScannedPort"]
    assert result.rows == []


def test_names_in_column_lists_after_an_empty_bag_unpack_are_properties_too(network):
    # project-reorder / project-away / project-rename name columns, not expressions: the same rule
    query = ('DeviceNetworkEvents | where ActionType == "InboundInternetScanInspected" '
             "| extend Fields = todynamic(AdditionalFields) | evaluate bag_unpack(Fields) "
             "| project-reorder PublicScannedIp, DeviceName | project-rename Port = PublicScannedPort "
             "| project-away Fields*")
    result = run_query(query, network, now=NOW)
    assert [c.name for c in result.columns][:2] == ["PublicScannedIp", "DeviceName"]
    assert "Port" in [c.name for c in result.columns] and result.rows == []


def test_a_name_no_bag_holds_is_still_an_error_when_the_bags_had_properties(network):
    query = ('print d = dynamic({"PublicScannedIp": "192.0.2.1"}) | evaluate bag_unpack(d) '
             "| project PublicScannedIpp")
    with pytest.raises(KqlError, match="PublicScannedIpp"):
        run_query(query, network, now=NOW)
    assert run_query('print d = dynamic({"A": 1}) | evaluate bag_unpack(d) | project A', network,
                     now=NOW).rows == [{"A": 1}]
