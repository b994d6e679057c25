"""Queries with known answers over the hand-made dataset in kql_dataset.py.

Each case gives the query, the result schema as ``name:type`` and the exact rows (JSON form:
datetimes as ISO strings, timespans as ``hh:mm:ss``), in order.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from soar_defender.kql import KqlError, QueryResult, run_query

from kql_dataset import BAD, GUID_A, NOW

P = "DeviceProcessEvents"
CASES = [
    # --- table reference, count, where with comparison operators
    ("count", f"{P} | count", ["Count:long"], [(8,)]),
    ("eq-case-sensitive", f'{P} | where FileName == "powershell.exe" | count', ["Count:long"], [(2,)]),
    ("eq-tilde", f'{P} | where FileName =~ "powershell.exe" | count', ["Count:long"], [(3,)]),
    ("neq", f'{P} | where FileName != "powershell.exe" | count', ["Count:long"], [(6,)]),
    ("neq-tilde", f'{P} | where FileName !~ "POWERSHELL.exe" | count', ["Count:long"], [(5,)]),
    ("lt-le-gt-ge", f"{P} | where FileSize < 450000 or FileSize >= 2500000 | project FileSize",
     ["FileSize:long"], [(280000,), (2500000,), (200000,)]),
    ("le-and-gt", f"{P} | where FileSize <= 450000 and FileSize > 200000 | count", ["Count:long"], [(4,)]),
    # --- string operators
    ("contains-ci", f'{P} | where ProcessCommandLine contains "INVOKE-webrequest" | project DeviceName',
     ["DeviceName:string"], [("srv1.contoso.com",)]),
    ("not-contains", f'{P} | where ProcessCommandLine !contains "powershell" | count', ["Count:long"], [(5,)]),
    ("has-term", f'{P} | where ProcessCommandLine has "WHOAMI" | project FileName', ["FileName:string"], [("cmd.exe",)]),
    ("has-is-not-substring", f'{P} | where ProcessCommandLine has "who" | count', ["Count:long"], [(0,)]),
    ("has-phrase", f'{P} | where ProcessCommandLine has "203.0.113.66" | count', ["Count:long"], [(1,)]),
    ("not-has", f'{P} | where ProcessCommandLine !has "silent" | count', ["Count:long"], [(6,)]),
    ("startswith", f'{P} | where DeviceName startswith "PC" | count', ["Count:long"], [(5,)]),
    ("endswith", f'{P} | where FileName endswith ".EXE" | count', ["Count:long"], [(8,)]),
    ("endswith-cs", f'{P} | where FileName endswith_cs ".EXE" | count', ["Count:long"], [(1,)]),
    ("in", f'{P} | where FileName in ("cmd.exe", "chrome.exe") | project FileName | order by FileName asc',
     ["FileName:string"], [("chrome.exe",), ("cmd.exe",)]),
    ("not-in", f'{P} | where DeviceId !in ("d1", "d2") | count', ["Count:long"], [(3,)]),
    ("in-tilde", f'{P} | where FileName in~ ("POWERSHELL.EXE") | count', ["Count:long"], [(3,)]),
    ("between-long", f"{P} | where FileSize between (400000 .. 500000) | count", ["Count:long"], [(5,)]),
    ("between-datetime", f"{P} | where Timestamp between (ago(1d) .. now()) | count", ["Count:long"], [(4,)]),
    ("not-between", f"{P} | where FileSize !between (400000 .. 500000) | count", ["Count:long"], [(3,)]),
    ("ago", f"{P} | where Timestamp > ago(7d) | count", ["Count:long"], [(5,)]),
    ("and-or-not", f'{P} | where (FileName == "cmd.exe" or FileName == "chrome.exe") and not(DeviceId == "d2")'
                   " | project FileName", ["FileName:string"], [("cmd.exe",)]),
    ("isempty", "DeviceInfo | where isempty(PublicIP) | project DeviceName", ["DeviceName:string"], [("mac1.contoso.com",)]),
    ("isnotempty", "DeviceInfo | where isnotempty(PublicIP) | count", ["Count:long"], [(3,)]),
    ("isnull", "DeviceInfo | where isnull(OSBuild) | project DeviceName", ["DeviceName:string"], [("mac1.contoso.com",)]),
    ("isnotnull", "DeviceInfo | where isnotnull(OSBuild) | count", ["Count:long"], [(3,)]),
    ("bool-column", "DeviceInfo | where IsAzureADJoined | project DeviceId", ["DeviceId:string"], [("d1",), ("d3",)]),
    ("filter-synonym", f'{P} | filter AccountName == "bob" | count', ["Count:long"], [(2,)]),
    # --- literals
    ("timespan-now-minus", f"{P} | where Timestamp > now() - 90m | count", ["Count:long"], [(2,)]),
    ("timespan-literals", f"{P} | extend x = 1h + 30m + 10s + 100ms | project x | take 1",
     ["x:timespan"], [("01:30:10.1000000",)]),
    ("days-literal", f"{P} | extend x = 7d / 2 | project x | take 1", ["x:timespan"], [("3.12:00:00",)]),
    ("single-quotes", f"{P} | where FileName == 'cmd.exe' | count", ["Count:long"], [(1,)]),
    ("verbatim-string", f'{P} | where ProcessCommandLine endswith @"C:\\notes.txt" | count', ["Count:long"], [(1,)]),
    ("escaped-string", f'{P} | where ProcessCommandLine endswith "C:\\\\notes.txt" | count', ["Count:long"], [(1,)]),
    ("datetime-literal", f"{P} | where Timestamp < datetime(2026-11-15) | count", ["Count:long"], [(2,)]),
    ("datetime-literal-time", f"{P} | where Timestamp == datetime(2026-11-23T11:30:00Z) | project FileName",
     ["FileName:string"], [("powershell.exe",)]),
    ("comments", f"// hunt\n{P} // the table\n| where FileName == 'cmd.exe' // only cmd\n| count",
     ["Count:long"], [(1,)]),
    # --- project, project-away, project-rename, extend and scalar functions
    ("project-rename-expr", f'{P} | where DeviceId == "d2" | project Device = DeviceName, Size = FileSize / 1000, '
                            "FileName | order by Size asc",
     ["Device:string", "Size:long", "FileName:string"],
     [("pc2.contoso.com", 450, "PowerShell.EXE"), ("pc2.contoso.com", 2500, "chrome.exe")]),
    ("project-unnamed-expr", f'{P} | where DeviceId == "d2" | project FileSize * 2 | order by Column1 asc',
     ["Column1:long"], [(900000,), (5000000,)]),
    ("project-away", "DeviceInfo | project-away Timestamp, OSBuild, IsAzureADJoined, PublicIP | take 1",
     ["DeviceId:string", "DeviceName:string", "OSPlatform:string"], [("d1", "pc1.contoso.com", "Windows11")]),
    ("project-away-wildcard", "DeviceNetworkEvents | project-away Remote*, Local*, Timestamp | take 1",
     ["DeviceId:string", "DeviceName:string", "ActionType:string"], [("d1", "pc1.contoso.com", "ConnectionSuccess")]),
    ("project-rename", 'DeviceInfo | project-rename Host = DeviceName | where Host == "pc2.contoso.com" | project Host, DeviceId',
     ["Host:string", "DeviceId:string"], [("pc2.contoso.com", "d2")]),
    ("string-functions", 'DeviceInfo | where DeviceId == "d1" | extend Upper = toupper(DeviceName), '
                         'Len = strlen(DeviceName), Short = substring(DeviceName, 0, 3), '
                         'Label = strcat(DeviceId, ":", OSPlatform), Low = tolower("ABC") | project Upper, Len, Short, Label, Low',
     ["Upper:string", "Len:long", "Short:string", "Label:string", "Low:string"],
     [("PC1.CONTOSO.COM", 15, "pc1", "d1:Windows11", "abc")]),
    ("conversions", 'DeviceInfo | where DeviceId == "d2" | extend a = tostring(OSBuild), b = toint("42"), '
                    'c = tolong("9000000000"), d = todouble("2.5"), e = tostring(IsAzureADJoined) | project a, b, c, d, e',
     ["a:string", "b:int", "c:long", "d:real", "e:string"], [("19045", 42, 9000000000, 2.5, "false")]),
    ("extend-sequential", 'DeviceInfo | where DeviceId == "d3" | extend a = OSBuild + 1, b = a * 2 | project a, b',
     ["a:long", "b:long"], [(20349, 40698)]),
    ("extend-replaces", 'DeviceInfo | extend DeviceName = toupper(DeviceName) | project DeviceName | take 1',
     ["DeviceName:string"], [("PC1.CONTOSO.COM",)]),
    ("iff-case", f'{P} | extend Size = iff(FileSize > 1000000, "big", "small"), Kind = case(FileName =~ '
                 '"powershell.exe", "shell", FileName == "cmd.exe", "shell", "other") | summarize count() by Size, Kind '
                 "| order by Size asc, Kind asc",
     ["Size:string", "Kind:string", "count_:long"], [("big", "other", 1), ("small", "other", 3), ("small", "shell", 4)]),
    ("format-datetime", 'DeviceInfo | where DeviceId == "d1" | project s = format_datetime(Timestamp, "yyyy-MM-dd HH:mm")',
     ["s:string"], [("2026-11-23 11:00",)]),
    ("arithmetic-real", 'DeviceInfo | where DeviceId == "d1" | project x = OSBuild / 2, y = OSBuild / 2.0, z = OSBuild % 10',
     ["x:long", "y:real", "z:long"], [(11315, 11315.5, 1)]),
    ("datetime-difference", f'{P} | where FileName == "notepad.exe" | project age = now() - Timestamp, '
                            "hours = (now() - Timestamp) / 1h",
     ["age:timespan", "hours:real"], [("20.00:00:00", 480.0)]),
    # --- summarize
    ("aggregates", f"{P} | summarize dcount(FileName), make_set(DeviceId), min(FileSize), max(FileSize), "
                   "sum(FileSize), avg(FileSize)",
     ["dcount_FileName:long", "set_DeviceId:dynamic", "min_FileSize:long", "max_FileSize:long",
      "sum_FileSize:long", "avg_FileSize:real"], [(6, ["d1", "d2", "d3"], 200000, 2500000, 5294608, 661826.0)]),
    ("make-list-by", f'{P} | where DeviceId == "d3" | summarize files = make_list(FileName) by DeviceName',
     ["DeviceName:string", "files:dynamic"],
     [("srv1.contoso.com", ["invoice_viewer.exe", "notepad.exe", "powershell.exe"])]),
    ("count-countif-by", f'{P} | summarize total = count(), shells = countif(FileName in~ ("powershell.exe", '
                         '"cmd.exe")) by DeviceId | order by DeviceId asc',
     ["DeviceId:string", "total:long", "shells:long"], [("d1", 3, 2), ("d2", 2, 1), ("d3", 3, 1)]),
    ("summarize-expression", f"{P} | summarize pct = 100 * countif(FileSize > 400000) / count()",
     ["pct:long"], [(75,)]),
    ("bin-by", f"{P} | where Timestamp > ago(1d) | summarize n = count() by bin(Timestamp, 1h) | order by Timestamp asc",
     ["Timestamp:datetime", "n:long"], [("2026-11-23T10:00:00Z", 1), ("2026-11-23T11:00:00Z", 2)]),
    ("bin-named", f"{P} | summarize n = count() by Day = bin(Timestamp, 1d) | top 1 by Day",
     ["Day:datetime", "n:long"], [("2026-11-23T00:00:00Z", 3)]),
    ("arg-max-star", f"{P} | summarize arg_max(Timestamp, *) by DeviceId | project DeviceId, FileName, Timestamp "
                     "| order by DeviceId asc",
     ["DeviceId:string", "FileName:string", "Timestamp:datetime"],
     [("d1", "powershell.exe", "2026-11-23T11:00:00Z"), ("d2", "PowerShell.EXE", "2026-11-22T12:00:00Z"),
      ("d3", "powershell.exe", "2026-11-23T11:30:00Z")]),
    ("arg-max-columns", f"{P} | summarize arg_max(FileSize, FileName) by DeviceId | order by DeviceId asc",
     ["DeviceId:string", "FileSize:long", "FileName:string"],
     [("d1", 482304, "invoice_viewer.exe"), ("d2", 2500000, "chrome.exe"), ("d3", 482304, "invoice_viewer.exe")]),
    ("summarize-by-only", f"{P} | summarize by AccountName | order by AccountName asc",
     ["AccountName:string"], [("alice",), ("bob",), ("carol",)]),
    ("summarize-empty-no-by", f'{P} | where FileName == "nothing" | summarize count(), make_set(FileName)',
     ["count_:long", "set_FileName:dynamic"], [(0, [])]),
    ("summarize-empty-by", f'{P} | where FileName == "nothing" | summarize count() by DeviceId', ["DeviceId:string", "count_:long"], []),
    # --- order, take, top, distinct
    ("order-default-desc", f"{P} | project DeviceId, FileSize | order by DeviceId, FileSize asc | take 3",
     ["DeviceId:string", "FileSize:long"], [("d3", 200000), ("d3", 450000), ("d3", 482304)]),
    ("sort-nulls-first-asc", "DeviceInfo | sort by OSBuild asc | project DeviceName",
     ["DeviceName:string"], [("mac1.contoso.com",), ("pc2.contoso.com",), ("srv1.contoso.com",), ("pc1.contoso.com",)]),
    ("sort-nulls-last-desc", "DeviceInfo | sort by OSBuild | project OSBuild",
     ["OSBuild:long"], [(22631,), (20348,), (19045,), (None,)]),
    ("limit", f"{P} | limit 2 | project FileName", ["FileName:string"], [("powershell.exe",), ("cmd.exe",)]),
    ("top", f"{P} | top 2 by FileSize | project FileName, FileSize",
     ["FileName:string", "FileSize:long"], [("chrome.exe", 2500000), ("invoice_viewer.exe", 482304)]),
    ("top-asc", f"{P} | top 1 by Timestamp asc | project DeviceName", ["DeviceName:string"], [("srv1.contoso.com",)]),
    ("distinct", f"{P} | distinct DeviceId, AccountName | order by DeviceId asc",
     ["DeviceId:string", "AccountName:string"], [("d1", "alice"), ("d2", "bob"), ("d3", "carol")]),
    # --- join
    ("join-inner", f'{P} | where SHA256 == "{BAD}" | join kind=inner (DeviceInfo | project DeviceId, OSPlatform) '
                   "on DeviceId | project DeviceName, OSPlatform, DeviceId1 | order by DeviceName asc",
     ["DeviceName:string", "OSPlatform:string", "DeviceId1:string"],
     [("pc1.contoso.com", "Windows11", "d1"), ("srv1.contoso.com", "WindowsServer2022", "d3")]),
    ("join-leftouter", 'DeviceInfo | join kind=leftouter (DeviceNetworkEvents | where RemoteIP == "203.0.113.66" '
                       "| project DeviceId, RemoteUrl, RemotePort) on DeviceId | project DeviceName, RemoteUrl, RemotePort "
                       "| order by DeviceName asc",
     ["DeviceName:string", "RemoteUrl:string", "RemotePort:int"],
     [("mac1.contoso.com", "", None), ("pc1.contoso.com", "update-check.badcdn.example", 443),
      ("pc2.contoso.com", "", None), ("srv1.contoso.com", "", 8080)]),
    ("join-left-right", "DeviceNetworkEvents | where RemotePort == 443 | join kind=inner (DeviceInfo | project "
                        "Id = DeviceId, OSPlatform) on $left.DeviceId == $right.Id | project RemoteUrl, OSPlatform, Id "
                        "| order by RemoteUrl asc",
     ["RemoteUrl:string", "OSPlatform:string", "Id:string"],
     [("login.microsoftonline.com", "Windows11", "d1"), ("update-check.badcdn.example", "Windows11", "d1")]),
    ("join-default-innerunique", f"{P} | join (DeviceInfo) on DeviceId | count", ["Count:long"], [(3,)]),
    ("join-inner-all-pairs", f"{P} | join kind=inner (DeviceInfo) on DeviceId | count", ["Count:long"], [(8,)]),
    ("join-table-name", "DeviceInfo | join kind=inner DeviceNetworkEvents on DeviceId | count", ["Count:long"], [(4,)]),
    ("join-leftanti", f"DeviceInfo | join kind=leftanti ({P}) on DeviceId | project DeviceName",
     ["DeviceName:string"], [("mac1.contoso.com",)]),
    ("join-leftsemi", f'DeviceInfo | join kind=leftsemi ({P} | where SHA256 == "{BAD}") on DeviceId | project DeviceId',
     ["DeviceId:string"], [("d1",), ("d3",)]),
    # --- let
    ("let-scalars", f'let since = ago(2h); let names = dynamic(["cmd.exe", "chrome.exe"]);\n{P} | where '
                    "Timestamp >= since or FileName in (names) | count", ["Count:long"], [(4,)]),
    ("let-arithmetic", f"let big = 1000 * 1000; {P} | where FileSize > big | project FileName",
     ["FileName:string"], [("chrome.exe",)]),
    ("let-tabular-in", f'let badDevices = {P} | where SHA256 == "{BAD}" | distinct DeviceId;\nDeviceInfo | where '
                       "DeviceId in (badDevices) | project DeviceName | order by DeviceName asc",
     ["DeviceName:string"], [("pc1.contoso.com",), ("srv1.contoso.com",)]),
    ("in-subquery", f'DeviceInfo | where DeviceId in ({P} | where FileName == "cmd.exe" | project DeviceId) '
                    "| project DeviceName", ["DeviceName:string"], [("pc1.contoso.com",)]),
    ("let-table-as-source", f'let procs = {P} | where AccountName == "bob"; procs | count', ["Count:long"], [(2,)]),
    # --- dynamic, real, timespan and guid values
    ("dynamic-access", "Extra | extend first = Tags[0], k = Tags.k, last = Tags[-1] | project Name, first, k, last",
     ["Name:string", "first:dynamic", "k:dynamic", "last:dynamic"],
     [("a", "x", None, "y"), ("b", None, 1, None), ("c", None, None, None)]),
    ("parse-json", 'Extra | take 1 | project v = parse_json("{\\"a\\": [1, 2]}").a[1], n = array_length(Tags)',
     ["v:dynamic", "n:long"], [(2, 2)]),
    ("real-and-timespan", "Extra | where Score > 0 | project Name, Duration, Score",
     ["Name:string", "Duration:timespan", "Score:real"], [("a", "01:00:00", 1.5)]),
    ("timespan-compare", "Extra | where Duration < 45m | project Name", ["Name:string"], [("b",)]),
    ("guid-compare", f'Extra | where Id == "{GUID_A}" | project Name', ["Name:string"], [("a",)]),
    ("null-real-sorted-last", "Extra | order by Score desc | project Score", ["Score:real"], [(1.5,), (-2.0,), (None,)]),
]


def _rows(result: QueryResult) -> list[tuple]:
    names = [c.name for c in result.columns]
    return [tuple(r[n] for n in names) for r in result.to_json_rows()]


@pytest.mark.parametrize("query,columns,rows", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_query_answers(tables, query, columns, rows):
    result = run_query(query, tables, now=NOW)
    assert [f"{c.name}:{c.type}" for c in result.columns] == columns
    assert _rows(result) == rows


def test_there_are_at_least_forty_known_answer_queries():
    assert len(CASES) >= 40
    assert len({c[0] for c in CASES}) == len(CASES)


def test_rows_hold_python_values_and_json_rows_hold_iso_strings(tables):
    result = run_query(f"{P} | top 1 by Timestamp | project Timestamp, FileSize", tables, now=NOW)
    assert result.rows == [{"Timestamp": NOW - timedelta(minutes=30), "FileSize": 450000}]
    assert result.rows[0]["Timestamp"].tzinfo is not None
    assert result.to_json_rows() == [{"Timestamp": "2026-11-23T11:30:00Z", "FileSize": 450000}]


def test_result_rows_are_fresh_dicts_with_exactly_the_result_columns(tables):
    result = run_query(f'{P} | where FileName == "cmd.exe"', tables, now=NOW)
    assert list(result.rows[0]) == [c.name for c in tables[P].columns]
    result.rows[0]["FileName"] = "changed"
    assert run_query(f'{P} | where FileName == "cmd.exe" | count', tables, now=NOW).rows == [{"Count": 1}]


def test_max_rows_truncates_and_says_so(tables):
    result = run_query(P, tables, now=NOW, max_rows=3)
    assert len(result.rows) == 3
    assert result.stats["truncated"] is True
    assert run_query(P, tables, now=NOW).stats["truncated"] is False


def test_stats_count_scanned_rows_and_time(tables):
    stats = run_query(f"{P} | join kind=inner (DeviceInfo) on DeviceId | count", tables, now=NOW).stats
    assert stats["rows_scanned"] == 8 + 4
    assert stats["rows_returned"] == 1
    assert stats["elapsed_seconds"] >= 0


def test_timespan_limits_the_rows_the_query_sees(tables):
    result = run_query(f"{P} | count", tables, now=NOW, timespan=timedelta(days=7))
    assert result.rows == [{"Count": 5}]


def test_now_fixes_ago_and_now(tables):
    later = NOW + timedelta(days=5)
    assert run_query(f"{P} | where Timestamp > ago(7d) | count", tables, now=later).rows == [{"Count": 4}]
    assert run_query(f"{P} | take 1 | project n = now()", tables, now=later).rows == [{"n": later}]


def test_operators_and_keywords_are_case_sensitive(tables):
    with pytest.raises(KqlError):
        run_query(f"{P} | WHERE FileName == 'cmd.exe'", tables, now=NOW)
    with pytest.raises(KqlError):
        run_query(f"{P} | where FileName CONTAINS 'cmd'", tables, now=NOW)


def test_table_rows_are_not_modified_by_queries(tables):
    before = [dict(r) for r in tables[P].rows]
    run_query(f"{P} | extend x = 1 | project-rename F = FileName | join kind=leftouter (DeviceInfo) on DeviceId",
              tables, now=NOW)
    assert tables[P].rows == before


def test_api_type_names_for_schema():
    from soar_defender.kql import Column
    assert Column("Timestamp", "datetime").api_type == "DateTime"
    assert Column("FileName", "string").api_type == "String"
    assert Column("IsAzureADJoined", "boolean").type == "bool"


def test_public_api_is_exactly_all():
    import soar_defender.kql as kql
    assert sorted(kql.__all__) == ["API_TYPE_NAMES", "Column", "KqlError", "QueryResult", "Table", "run_query"]
    assert all(hasattr(kql, name) for name in kql.__all__)
