"""``evaluate pivot()``, ``find`` and ``partition``: known answers over kql_dataset.py and small
datatables, empty inputs, and the errors they raise.

Each case: (id, query, result columns as ``name:type``, exact rows in JSON form, in order).
"""

from __future__ import annotations

import pytest

from soar_defender.kql import KqlError, run_query

from kql_dataset import NOW

P = "DeviceProcessEvents"
STORMS = ('datatable(State:string, Event:string, Damage:long)'
          '["AL", "Wind", 10, "AL", "Hail", 5, "AK", "Wind", 3, "AL", "Wind", 1]')
TWO_TYPES = ('let A = datatable(x:long, k:string)[1, "a", 2, "b"]; '
             'let B = datatable(x:string, k:string, extra:bool)["1", "c", true];')

CASES = [
    # --- pivot
    ("pivot-count-groups-by-the-other-columns", f"{STORMS} | project State, Event | evaluate pivot(State)",
     ["Event:string", "AK:long", "AL:long"], [("Wind", 1, 2), ("Hail", 0, 1)]),
    ("pivot-aggregation-column-is-no-key", f"{STORMS} | evaluate pivot(State, sum(Damage))",
     ["Event:string", "AK:long", "AL:long"], [("Wind", 3, 11), ("Hail", None, 5)]),
    ("pivot-listed-key", f"{STORMS} | evaluate pivot(Event, count(), State)",
     ["State:string", "Hail:long", "Wind:long"], [("AL", 1, 2), ("AK", 0, 1)]),
    ("pivot-dcount-empty-cell-is-zero", f"{STORMS} | evaluate pivot(State, dcount(Damage), Event)",
     ["Event:string", "AK:long", "AL:long"], [("Wind", 1, 2), ("Hail", 0, 1)]),
    ("pivot-make-set", f"{STORMS} | evaluate pivot(State, make_set(Damage), Event)",
     ["Event:string", "AK:dynamic", "AL:dynamic"], [("Wind", [3], [10, 1]), ("Hail", [], [5])]),
    ("pivot-any-string", 'datatable(Device:string, Tag:string)["pc1", "VIP", "pc1", "Lab", "pc2", "Lab"] '
                         '| extend Mark = "y" | evaluate pivot(Tag, any(Mark), Device)',
     ["Device:string", "Lab:string", "VIP:string"], [("pc1", "y", "y"), ("pc2", "y", "")]),
    ("pivot-values-as-text-in-ordinal-order", "datatable(n:long, g:string)[10, 'a', 9, 'a', 10, 'b'] "
                                              "| evaluate pivot(n)",
     ["g:string", "10:long", "9:long"], [("a", 1, 1), ("b", 1, 0)]),
    ("pivot-empty-value-and-name-clash", 'datatable(U:string, T:string)["u", "", "u", "Phish", "u", "", "u", "U"] '
                                         "| evaluate pivot(T)",
     ["U:string", ":long", "Phish:long", "U1:long"], [("u", 2, 1, 1)]),
    ("pivot-declared-schema", f"{STORMS} | project State, Event | evaluate pivot(State) "
                              ": (Event:string, AL:long, TX:long)",
     ["Event:string", "AL:long", "TX:long"], [("Wind", 2, None), ("Hail", 1, None)]),
    ("pivot-then-sort", f"{P} | project DeviceId, FileName | evaluate pivot(FileName) | order by DeviceId desc "
                        "| project DeviceId, ['cmd.exe'], ['powershell.exe']",
     ["DeviceId:string", "cmd.exe:long", "powershell.exe:long"], [("d3", 0, 1), ("d2", 0, 0), ("d1", 1, 1)]),
    ("pivot-empty-input", f"{STORMS} | where false | project State, Event | evaluate pivot(State)",
     ["Event:string"], []),
    ("pivot-empty-input-later-names-are-columns", f"{STORMS} | where false | evaluate pivot(State, count(), Event) "
                                                  "| project Event, AL",
     ["Event:string", "AL:long"], []),
    # --- find
    ("find-project", f'find in ({P}, DeviceNetworkEvents) where RemoteIP == "203.0.113.66" or FileName == "cmd.exe" '
                     "project DeviceId, FileName, RemotePort",
     ["source_:string", "DeviceId:string", "FileName:string", "RemotePort:int"],
     [("DeviceProcessEvents", "d1", "cmd.exe", None), ("DeviceNetworkEvents", "d1", "", 443),
      ("DeviceNetworkEvents", "d3", "", 8080)]),
    ("find-table-without-predicate-columns-left-out", "find in (DeviceInfo, DeviceNetworkEvents) "
                                                      "where isnull(RemotePort) | count",
     ["Count:long"], [(0,)]),
    ("find-missing-predicate-column-is-null", "find in (DeviceInfo, DeviceNetworkEvents) "
                                              'where isnull(RemotePort) or OSPlatform == "none" project DeviceId',
     ["source_:string", "DeviceId:string"],
     [("DeviceInfo", "d1"), ("DeviceInfo", "d2"), ("DeviceInfo", "d3"), ("DeviceInfo", "d4")]),
    ("find-smart-all-tables", 'find where DeviceId == "d4"',
     ["source_:string", "DeviceId:string", "Timestamp:datetime", "DeviceName:string", "pack_:dynamic"],
     [("DeviceInfo", "d4", "2026-11-21T12:00:00Z", "mac1.contoso.com",
       {"OSPlatform": "macOS", "PublicIP": "", "IsAzureADJoined": False, "OSBuild": None})]),
    ("find-smart-explicit", "find in (DeviceInfo) where OSBuild > 20000 project-smart | project-away pack_",
     ["source_:string", "OSBuild:long", "Timestamp:datetime", "DeviceId:string", "DeviceName:string",
      "OSPlatform:string", "PublicIP:string", "IsAzureADJoined:bool"],
     [("DeviceInfo", 22631, "2026-11-23T11:00:00Z", "d1", "pc1.contoso.com", "Windows11", "198.51.100.1", True),
      ("DeviceInfo", 20348, "2026-11-23T11:00:00Z", "d3", "srv1.contoso.com", "WindowsServer2022",
       "198.51.100.3", True)]),
    ("find-bare-term-withsource", 'find withsource=T "203.0.113.66" project DeviceId',
     ["T:string", "DeviceId:string"],
     [("DeviceNetworkEvents", "d1"), ("DeviceNetworkEvents", "d3"), ("DeviceProcessEvents", "d3")]),
    ("find-star-has-wildcard-tables", 'find in (Device*Events) where * has "whoami" project DeviceId, FileName',
     ["source_:string", "DeviceId:string", "FileName:string"], [("DeviceProcessEvents", "d1", "cmd.exe")]),
    ("find-typed-project", 'find in (DeviceInfo) where DeviceId == "d1" project OSBuild:string, Missing:long',
     ["source_:string", "OSBuild:string", "Missing:long"], [("DeviceInfo", "22631", None)]),
    ("find-two-types-in-predicate", TWO_TYPES + ' find in (A, B) where tostring(x) == "1"',
     ["source_:string", "x_long:long", "x_string:string", "k:string", "pack_:dynamic"],
     [("A", 1, "", "a", {}), ("B", None, "1", "c", {"extra": True})]),
    ("find-in-a-let", 'let Recent = find in (DeviceNetworkEvents) where RemotePort == 80 project DeviceId;\n'
                      "Recent | join kind=inner (DeviceInfo) on DeviceId | project source_, DeviceId, OSPlatform",
     ["source_:string", "DeviceId:string", "OSPlatform:string"], [("DeviceNetworkEvents", "d2", "Windows10")]),
    ("find-nothing-matches", 'find in (DeviceInfo) where OSPlatform == "none" project DeviceId',
     ["source_:string", "DeviceId:string"], []),
    # --- partition
    ("partition-top-1", f"{P} | partition by DeviceId (top 1 by Timestamp | project DeviceId, FileName)",
     ["DeviceId:string", "FileName:string"],
     [("d1", "powershell.exe"), ("d2", "PowerShell.EXE"), ("d3", "powershell.exe")]),
    ("partition-hint-summarize", f"{P} | partition hint.strategy=shuffle by DeviceId (summarize n = count())",
     ["n:long"], [(3,), (2,), (3,)]),
    ("partition-null-key-is-a-partition", "Extra | partition by Score (count)", ["Count:long"], [(1,), (1,), (1,)]),
    ("partition-reads-lets", f"let n = 2; {P} | partition by AccountName (take n | summarize c = count() by "
                             "AccountName)",
     ["AccountName:string", "c:long"], [("alice", 2), ("bob", 2), ("carol", 2)]),
    ("partition-after-lookup", "DeviceNetworkEvents | lookup kind=inner (DeviceInfo | project DeviceId, OSPlatform) "
                               "on DeviceId | partition by OSPlatform ( top 1 by Timestamp asc ) "
                               "| project DeviceId, RemotePort",
     ["DeviceId:string", "RemotePort:int"], [("d1", 443), ("d2", 80), ("d3", 8080)]),
    ("partition-empty-input", f"{P} | where false | partition by DeviceId (count)", ["Count:long"], []),
    ("partition-data-dependent-columns", 'datatable(g:string, b:dynamic)["x", dynamic({"p": 1}), "y", '
                                         'dynamic({"q": 2})] | partition by g (evaluate bag_unpack(b))',
     ["g:string", "p:dynamic", "q:dynamic"], [("x", 1, None), ("y", None, 2)]),
]


def _rows(result) -> list[tuple]:
    names = [c.name for c in result.columns]
    return [tuple(r[n] for n in names) for r in result.to_json_rows()]


@pytest.mark.parametrize("query,columns,rows", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_reshape_answers(tables, query, columns, rows):
    result = run_query(query, tables, now=NOW)
    assert [f"{c.name}:{c.type}" for c in result.columns] == columns
    assert _rows(result) == rows


def test_case_ids_are_unique():
    assert len({c[0] for c in CASES}) == len(CASES)


def _pos(query: str, needle: str) -> tuple[int, int]:
    offset = query.index(needle)
    return query.count("\n", 0, offset) + 1, offset - (query.rfind("\n", 0, offset) + 1) + 1


# (id, query, code, operator, where: needle in the query, message fragment)
ERRORS = [
    ("pivot-no-arguments", f"{STORMS} | evaluate pivot()", "SemanticError", "evaluate", "pivot(",
     "pivot() takes the pivot column"),
    ("pivot-unknown-column", f"{STORMS} | evaluate pivot(Stat)", "SemanticError", "evaluate", "Stat)",
     "pivot(): Failed to resolve column named 'Stat' (line 1, column"),
    ("pivot-aggregation-it-does-not-take", f"{STORMS} | evaluate pivot(State, percentile(Damage, 50))",
     "SemanticError", "evaluate", "percentile", "pivot() does not take the aggregation 'percentile()'"),
    ("pivot-not-an-aggregation", f"{STORMS} | evaluate pivot(State, strlen(Event))", "SemanticError", "evaluate",
     "strlen", "'strlen()' is not an aggregation function"),
    ("pivot-key-expression", f"{STORMS} | evaluate pivot(State, count(), tolower(Event))", "SemanticError",
     "evaluate", "tolower", "pivot() takes column names after the aggregation, not an expression"),
    ("pivot-later-unknown-name", f"{STORMS} | evaluate pivot(State) | project TX", "SemanticError", "project",
     "TX", "Failed to resolve scalar expression named 'TX'"),
    ("find-unknown-column", f"find in ({P}) where FileNme == 'x'", "SemanticError", "find", "FileNme",
     "Failed to resolve scalar expression named 'FileNme' (line 1, column 37). Did you mean 'FileName'?"),
    ("find-predicate-not-bool", f"find in ({P}) where FileName", "SemanticError", "find", "find",
     "the find predicate must be a Boolean expression, not string"),
    ("find-project-unknown-column", f"find in ({P}) where FileName == 'x' project Nope", "SemanticError", "find",
     "Nope", "Failed to resolve column named 'Nope' in the tables of 'find'"),
    ("find-missing-where", f"find in ({P}) FileName == 'x'", "SyntaxError", None, "FileName",
     "expected 'where' after the tables of 'find'"),
    ("find-subquery", f"find in (({P} | take 1)) where FileName == 'x'", "NotSupported", "find", f"{P} |",
     "'find in ((subquery))' is not supported by the simulated hunting service"),
    ("find-pack-all", f"find in ({P}) where FileName == 'x' project FileName, pack_all()", "NotSupported",
     "find", "pack_all", "'find ... project pack_all()' is not supported by the simulated hunting service"),
    ("partition-unknown-key", f"{P} | partition by DeviceID (take 1)", "SemanticError", "partition", "DeviceID",
     "Failed to resolve column named 'DeviceID' (line 1, column 36). Did you mean 'DeviceId'?"),
    ("partition-bad-subquery-column", f"{P} | partition by DeviceId (project Nope)", "SemanticError", "project",
     "Nope", "Failed to resolve scalar expression named 'Nope'"),
    ("partition-needs-parentheses", f"{P} | partition by DeviceId take 1", "SyntaxError", None, "take",
     "expected '(' after the column of 'partition'"),
    ("partition-own-source", f"{P} | partition by DeviceId {{ DeviceInfo | take 1 }}", "NotSupported", "partition",
     "{", "'partition by Column { subquery with its own source }' is not supported"),
]


@pytest.mark.parametrize("query,code,operator,where,fragment", [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_reshape_errors(tables, query, code, operator, where, fragment):
    with pytest.raises(KqlError) as info:
        run_query(query, tables, now=NOW)
    err = info.value
    assert err.code == code, err.message
    assert fragment in err.message, err.message
    assert err.operator == operator, err.message
    assert (err.line, err.column) == _pos(query, where), err.message


def test_partition_limit_is_a_limits_error(tables, monkeypatch):
    from soar_defender.kql import reshape
    monkeypatch.setattr(reshape, "MAX_PARTITIONS", 2)
    with pytest.raises(KqlError) as info:
        run_query(f"{P} | partition by DeviceId (take 1)", tables, now=NOW)
    assert info.value.code == "LimitsExceeded" and "more than 2 partitions" in info.value.message


def test_find_honours_the_timespan(tables):
    from datetime import timedelta
    query = f"find in ({P}) where FileName endswith '.exe' project FileName"
    assert len(run_query(query, tables, now=NOW).rows) == 8
    assert len(run_query(query, tables, now=NOW, timespan=timedelta(days=2)).rows) == 4
