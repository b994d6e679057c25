"""The rendered hunting answers: Graph, XDR and MDE shapes, lookback, and errors."""

from __future__ import annotations

from soar_defender.kql.api import hunting_response, parse_duration

from kql_dataset import NOW

QUERY = 'DeviceProcessEvents | where FileName =~ "powershell.exe" | project Timestamp, DeviceName | order by Timestamp desc'


def test_graph_shape_and_timespan(tables):
    status, body = hunting_response("graph", {"Query": QUERY, "Timespan": "PT1H"}, tables, now=NOW)
    assert status == 200
    assert body["schema"] == [{"name": "Timestamp", "type": "DateTime"}, {"name": "DeviceName", "type": "String"}]
    assert body["results"] == [{"Timestamp": "2026-11-23T11:30:00Z", "DeviceName": "srv1.contoso.com"},
                               {"Timestamp": "2026-11-23T11:00:00Z", "DeviceName": "pc1.contoso.com"}]
    status, body = hunting_response("graph", {"Query": QUERY}, tables, now=NOW)
    assert len(body["results"]) == 3  # default: 30 days


def test_xdr_shape_has_stats(tables):
    status, body = hunting_response("xdr", {"Query": QUERY}, tables, now=NOW)
    assert status == 200 and set(body) == {"Stats", "Schema", "Results"}
    assert body["Schema"][0] == {"Name": "Timestamp", "Type": "DateTime"}
    assert body["Stats"]["dataset_statistics"][0]["table_row_count"] == 3
    assert body["Results"][0] == {"Timestamp": "2026-11-23T11:30:00Z", "DeviceName": "srv1.contoso.com"}


def test_mde_sees_device_tables_only(tables):
    status, body = hunting_response("mde", {"Query": "DeviceInfo | count"}, tables, now=NOW)
    assert status == 200 and body["Results"] == [{"Count": 4}]
    status, body = hunting_response("mde", {"Query": "Extra | count"}, tables, now=NOW)
    assert status == 400 and "Failed to resolve table or column expression named 'Extra'" in body["error"]["message"]


def test_refused_query_is_a_400_in_each_api_shape(tables):
    status, body = hunting_response("xdr", {"Query": "DeviceInfo | facet by DeviceName"},
                                    tables, now=NOW)
    assert status == 400 and body["error"]["code"] == "BadRequest" and "target" in body["error"]
    assert body["error"]["message"].startswith("Query could not be parsed at 'facet' on line [1,14]")
    status, body = hunting_response("graph", {"Query": "DeviceInfo | where Nope"}, tables, now=NOW)
    assert status == 400 and body["error"]["code"] == "BadRequest" and "innerError" in body["error"]


def test_bad_request_bodies(tables):
    for body in (None, {}, {"query": "DeviceInfo"}, {"Query": "  "}, {"Query": 5}):
        status, answer = hunting_response("xdr", body, tables, now=NOW)
        assert status == 400 and answer["error"]["code"] == "InvalidRequestBody"
    status, answer = hunting_response("graph", {"Query": "DeviceInfo", "Timespan": "30 days"}, tables, now=NOW)
    assert status == 400 and "ISO 8601" in answer["error"]["message"]


def test_parse_duration():
    assert parse_duration("P30D").days == 30
    assert parse_duration("PT12H").total_seconds() == 12 * 3600
    assert parse_duration("P1DT2H30M").total_seconds() == 86400 + 2 * 3600 + 1800
    assert parse_duration("P2W").days == 14
    for bad in ("P", "PT", "30D", "P1DT", "", None):
        assert parse_duration(bad) is None
