"""Tabular operators published hunting queries use, with known answers over kql_dataset.py.

Each case: (id, query, result columns as ``name:type``, exact rows in JSON form, in order).
"""

from __future__ import annotations

import pytest

from soar_defender.kql import run_query

from kql_dataset import BAD, NOW

P = "DeviceProcessEvents"
NETS = 'datatable(Net:string, Label:string)["203.0.113.0/24", "c2", "10.0.0.0/8", "lan"]'

CASES = [
    # --- projections
    ("project-reorder", f"{P} | project-reorder FileName, Device* | take 1 | project-away Timestamp, Process*, "
                        "AccountName, Initiating*, SHA256, FileSize",
     ["FileName:string", "DeviceId:string", "DeviceName:string"], [("powershell.exe", "d1", "pc1.contoso.com")]),
    ("project-reorder-sorted", "DeviceInfo | project-reorder * desc | take 1 | project-keep Timestamp, OSPlatform",
     ["Timestamp:datetime", "OSPlatform:string"], [("2026-11-23T11:00:00Z", "Windows11")]),
    ("project-reorder-order", "DeviceInfo | project-reorder P*, O* asc | getschema | take 3 | project ColumnName",
     ["ColumnName:string"], [("PublicIP",), ("OSBuild",), ("OSPlatform",)]),
    ("project-keep", f"{P} | project-keep Device*, FileName | take 1",
     ["DeviceId:string", "DeviceName:string", "FileName:string"], [("d1", "pc1.contoso.com", "powershell.exe")]),
    ("distinct-expression", f"{P} | distinct tostring(FileSize) | order by FileSize asc",
     ["FileSize:string"], [("200000",), ("2500000",), ("280000",), ("450000",), ("482304",)]),
    ("getschema", "Extra | getschema",
     ["ColumnName:string", "ColumnOrdinal:int", "DataType:string", "ColumnType:string"],
     [("Name", 0, "System.String", "string"), ("Tags", 1, "System.Object", "dynamic"),
      ("Score", 2, "System.Double", "real"), ("Duration", 3, "System.TimeSpan", "timespan"),
      ("Id", 4, "System.Guid", "guid")]),
    ("render-and-as-pass-rows", f"{P} | summarize n = count() by DeviceId | as T | order by DeviceId asc "
                                "| render columnchart with (title='x')",
     ["DeviceId:string", "n:long"], [("d1", 3), ("d2", 2), ("d3", 3)]),
    ("as-names-the-rows-so-far", f'{P} | where FileName == "cmd.exe" | as Cmd | join kind=inner (Cmd) on DeviceId '
                                 "| project DeviceId, FileName1",
     ["DeviceId:string", "FileName1:string"], [("d1", "cmd.exe")]),
    # --- mv-expand
    ("mv-expand", "Extra | mv-expand Tags | project Name, Tags",
     ["Name:string", "Tags:dynamic"], [("a", "x"), ("a", "y"), ("b", {"k": 1}), ("c", None)]),
    ("mv-expand-typed-index-limit", "Extra | mv-expand with_itemindex=i Tags to typeof(string) limit 1 "
                                    "| project Name, Tags, i",
     ["Name:string", "Tags:string", "i:long"], [("a", "x", 0), ("b", '{"k":1}', 0), ("c", "", 0)]),
    ("mv-expand-bag-as-array", 'print b = dynamic({"p": 1, "q": 2}) | mv-expand bagexpansion=array b',
     ["b:dynamic"], [(["p", 1],), (["q", 2],)]),
    ("mv-expand-parallel", "print a = dynamic([1, 2, 3]), b = dynamic(['x']) | mv-expand a, b",
     ["a:dynamic", "b:dynamic"], [(1, "x"), (2, None), (3, None)]),
    ("mv-expand-empty-array-drops-row", "print a = dynamic([]), n = 1 | mv-expand a | count",
     ["Count:long"], [(0,)]),
    ("mvexpand-legacy-named", f'{P} | where FileName == "cmd.exe" | mvexpand w = split(ProcessCommandLine, " ") '
                              "to typeof(string) | project w",
     ["w:string"], [("cmd.exe",), ("/c",), ("whoami",)]),
    # --- mv-apply
    ("mv-apply", f'{P} | where DeviceId == "d3" | mv-apply w = split(ProcessCommandLine, " ") to typeof(string) '
                 'on (where w startswith "-" or w startswith "/" | take 1) | project FileName, w',
     ["FileName:string", "w:string"], [("invoice_viewer.exe", "/silent"), ("powershell.exe", "-Command")]),
    ("mv-apply-summarize", "print id = 1, a = dynamic([3, 1, 2]) | mv-apply v = a to typeof(long) on "
                           "(summarize total = sum(v), biggest = max(v))",
     ["id:long", "a:dynamic", "total:long", "biggest:long"], [(1, [3, 1, 2], 6, 3)]),
    # --- union
    ("union-source", "union DeviceInfo, (DeviceNetworkEvents | take 1) | count", ["Count:long"], [(5,)]),
    ("union-wildcard-withsource", "union withsource=Src Device*Events | summarize n = count() by Src "
                                  "| order by Src asc",
     ["Src:string", "n:long"], [("DeviceNetworkEvents", 4), ("DeviceProcessEvents", 8)]),
    ("union-in-pipe-inner", "DeviceInfo | union kind=inner DeviceNetworkEvents | getschema | project ColumnName",
     ["ColumnName:string"], [("Timestamp",), ("DeviceId",), ("DeviceName",)]),
    ("union-outer-fills-nulls", 'DeviceInfo | where DeviceId == "d4" | union (Extra | where Name == "a") '
                                "| project DeviceId, Name",
     ["DeviceId:string", "Name:string"], [("d4", ""), ("", "a")]),
    ("union-isfuzzy-skips-missing-tables", "union isfuzzy=true DeviceInfo, NoSuchTable | count",
     ["Count:long"], [(4,)]),
    ("union-same-name-two-types", "union (print x = 1), (print x = 'a') | getschema | project ColumnName",
     ["ColumnName:string"], [("x_long",), ("x_string",)]),
    # --- sources
    ("datatable", 'datatable(Name:string, Hash:string, N:long)["a", "h1", 1, "b", "h2", 2] | where N > 1',
     ["Name:string", "Hash:string", "N:long"], [("b", "h2", 2)]),
    ("range-print", "range x from 1 to 7 step 3 | extend y = x * 2", ["x:long", "y:long"],
     [(1, 2), (4, 8), (7, 14)]),
    ("print-unnamed", "print 1 + 1, 'a'", ["print_0:long", "print_1:string"], [(2, "a")]),
    ("range-datetime", "range d from datetime(2026-01-01) to datetime(2026-01-03) step 1d | count",
     ["Count:long"], [(3,)]),
    # --- let: materialize, functions, toscalar
    ("materialize", 'let w = materialize(DeviceInfo | where OSPlatform startswith "Windows"); '
                    "w | join kind=inner (w | project DeviceId) on DeviceId | count", ["Count:long"], [(3,)]),
    ("toscalar", f"let biggest = toscalar({P} | summarize max(FileSize)); {P} | where FileSize == biggest "
                 "| project FileName", ["FileName:string"], [("chrome.exe",)]),
    ("tabular-function", "let T = (n:long) { range i from 1 to n step 1 }; T(4) | summarize s = sum(i)",
     ["s:long"], [(10,)]),
    ("tabular-function-table-param", f"let Recent = (T:(*), since:timespan) {{ T | where Timestamp > ago(since) }};"
                                     f" Recent({P}, 90m) | count", ["Count:long"], [(2,)]),
    ("invoke-user-function", f"let top1 = (T:(*)) {{ T | top 1 by FileSize }}; {P} | invoke top1() "
                             "| project FileName", ["FileName:string"], [("chrome.exe",)]),
    ("view", "let v = view () { DeviceInfo | where isnull(OSBuild) }; v | project DeviceId",
     ["DeviceId:string"], [("d4",)]),
    ("function-with-body-lets", "let f = (x:long) { let y = x * 10; y + 1 }; print r = f(4)",
     ["r:long"], [(41,)]),
    # --- joins and lookup
    ("join-rightanti", f"(DeviceInfo | project DeviceId) | join kind=rightanti (datatable(DeviceId:string)"
                       '["d1", "d9"]) on DeviceId', ["DeviceId:string"], [("d9",)]),
    ("join-rightsemi", 'DeviceInfo | join kind=rightsemi (datatable(DeviceId:string, X:long)["d1", 1, "d9", 2]) '
                       "on DeviceId", ["DeviceId:string", "X:long"], [("d1", 1)]),
    ("join-fullouter", 'DeviceInfo | where DeviceId in ("d1", "d2") | join kind=fullouter '
                       '(datatable(DeviceId:string, X:long)["d9", 1, "d1", 2]) on DeviceId '
                       "| project DeviceId, DeviceId1, X",
     ["DeviceId:string", "DeviceId1:string", "X:long"], [("d1", "d1", 2), ("d2", "", None), ("", "d9", 1)]),
    ("join-rightouter", '(DeviceInfo | where DeviceId == "d1") | join kind=rightouter '
                        '(datatable(DeviceId:string)["d1", "d7"]) on DeviceId | project DeviceId, DeviceId1',
     ["DeviceId:string", "DeviceId1:string"], [("d1", "d1"), ("", "d7")]),
    ("lookup-default-leftouter", 'DeviceInfo | lookup (datatable(DeviceId:string, X:long)["d1", 7]) on DeviceId '
                                 "| project DeviceId, X",
     ["DeviceId:string", "X:long"], [("d1", 7), ("d2", None), ("d3", None), ("d4", None)]),
    ("lookup-inner", 'DeviceInfo | lookup kind=inner (datatable(Id:string, X:long)["d2", 5]) '
                     "on $left.DeviceId == $right.Id | project DeviceId, Id, X",
     ["DeviceId:string", "Id:string", "X:long"], [("d2", "d2", 5)]),
    # --- parse
    ("parse-simple", f'{P} | parse ProcessCommandLine with * "-Command " Verb " " Url | where isnotempty(Url) '
                     "| project Verb, Url",
     ["Verb:string", "Url:string"], [("Invoke-WebRequest", "http://203.0.113.66/a")]),
    ("parse-typed-and-nomatch", 'datatable(s:string)["id=42;x", "id=zz;x", "nothing"] '
                                '| parse s with "id=" Id:long ";" * | project s, Id',
     ["s:string", "Id:long"], [("id=42;x", 42), ("id=zz;x", None), ("nothing", None)]),
    ("parse-where", 'datatable(s:string)["a=1", "b"] | parse-where s with "a=" v:int | project v',
     ["v:int"], [(1,)]),
    ("parse-regex", r'datatable(s:string)["user=bob uid=7"] | parse kind=regex s with @"user=" U @"\s+uid=" N:long '
                    "| project U, N", ["U:string", "N:long"], [("bob", 7)]),
    # --- top-hitters and sample-distinct (exact here)
    ("top-hitters", f"{P} | top-hitters 2 of AccountName", ["AccountName:string", "approximate_count_AccountName:long"],
     [("alice", 3), ("carol", 3)]),
    ("top-hitters-by", f"{P} | top-hitters 2 of AccountName by FileSize",
     ["AccountName:string", "approximate_sum_FileSize:long"], [("bob", 2950000), ("alice", 1212304)]),
    ("sample-distinct", f"{P} | sample-distinct 2 of DeviceId", ["DeviceId:string"], [("d1",), ("d2",)]),
    # --- search
    ("search-terms", f'search in ({P}, DeviceNetworkEvents) "whoami" or "203.0.113.66" '
                     "| summarize n = count() by $table | order by $table asc",
     ["$table:string", "n:long"], [("DeviceNetworkEvents", 2), ("DeviceProcessEvents", 2)]),
    ("search-predicate", f'search in ({P}) FileSize > 1000000 and "chrome" | project $table, FileName',
     ["$table:string", "FileName:string"], [("DeviceProcessEvents", "chrome.exe")]),
    ("search-column-term-and-star", f'search in ({P}) FileName:"cmd" or (* and FileSize > 2000000) | project FileName',
     ["FileName:string"], [("cmd.exe",), ("chrome.exe",)]),
    ("where-star-has", f'{P} | where * has "whoami" or * has_cs "WebRequest" or * has_cs "CHROME" '
                       "| project FileName", ["FileName:string"], [("cmd.exe",), ("powershell.exe",)]),
    # --- evaluate
    ("bag-unpack", 'datatable(Id:long, Bag:dynamic)[1, dynamic({"b": 2, "a": "x"}), 2, dynamic({"c": true})] '
                   "| evaluate bag_unpack(Bag)",
     ["Id:long", "a:dynamic", "b:dynamic", "c:dynamic"], [(1, "x", 2, None), (2, None, None, True)]),
    ("bag-unpack-prefix-schema", 'datatable(Bag:dynamic)[dynamic({"n": "5", "t": "2026-01-01"})] '
                                 "| evaluate bag_unpack(Bag, OutputColumnPrefix='p_') : (p_n:long, p_t:datetime)",
     ["p_n:long", "p_t:datetime"], [(5, "2026-01-01T00:00:00Z")]),
    ("ipv4-lookup", f"let nets = {NETS}; DeviceNetworkEvents | evaluate ipv4_lookup(nets, RemoteIP, Net, "
                    "return_unmatched = true) | project RemoteIP, Label",
     ["RemoteIP:string", "Label:string"],
     [("203.0.113.66", "c2"), ("20.190.151.6", ""), ("142.250.74.36", ""), ("203.0.113.66", "c2")]),
    # --- window functions on serialized rows
    ("window-functions", f"{P} | sort by Timestamp asc | extend n = row_number(), before = prev(FileName), "
                         "after = next(FileSize, 1, -1), run = row_cumsum(1, DeviceId != prev(DeviceId)) "
                         "| take 3 | project n, FileName, before, after, run",
     ["n:long", "FileName:string", "before:string", "after:long", "run:long"],
     [(1, "notepad.exe", "", 482304, 1), (2, "invoice_viewer.exe", "notepad.exe", 482304, 1),
      (3, "invoice_viewer.exe", "invoice_viewer.exe", 2500000, 1)]),
    ("serialize-extend", "range x from 1 to 3 step 1 | serialize s = row_cumsum(x)", ["x:long", "s:long"],
     [(1, 1), (2, 3), (3, 6)]),
    # --- top-nested
    ("top-nested", f"{P} | top-nested 2 of DeviceId by count(), top-nested 1 of FileName by Biggest = max(FileSize)",
     ["DeviceId:string", "aggregated_DeviceId:long", "FileName:string", "Biggest:long"],
     [("d1", 3, "invoice_viewer.exe", 482304), ("d3", 3, "invoice_viewer.exe", 482304)]),
    ("top-nested-others", f'{P} | top-nested 1 of AccountName with others = "other" by n = count() asc',
     ["AccountName:string", "n:long"], [("bob", 2), ("other", 6)]),
    # --- Defender functions
    ("file-profile", f'{P} | where FileName == "cmd.exe" | invoke FileProfile(SHA256, 10) '
                     "| project FileName, GlobalPrevalence, Signer, IsCertificateValid, ProfileAvailability",
     ["FileName:string", "GlobalPrevalence:long", "Signer:string", "IsCertificateValid:bool",
      "ProfileAvailability:string"], [("cmd.exe", None, "", None, "Missing")]),
    ("file-profile-string-column", f'{P} | take 1 | project SHA1 = SHA256 | invoke FileProfile("SHA1", 500) '
                                   "| getschema | summarize n = count()", ["n:long"], [(18,)]),
    ("seen-by", 'DeviceInfo | where DeviceId == "d1" | invoke SeenBy() | project DeviceId, SeenBy',
     ["DeviceId:string", "SeenBy:dynamic"], [("d1", [])]),
]


def _rows(result) -> list[tuple]:
    names = [c.name for c in result.columns]
    return [tuple(r[n] for n in names) for r in result.to_json_rows()]


@pytest.mark.parametrize("query,columns,rows", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_operator_answers(tables, query, columns, rows):
    result = run_query(query, tables, now=NOW)
    assert [f"{c.name}:{c.type}" for c in result.columns] == columns
    assert _rows(result) == rows


def test_case_ids_are_unique():
    assert len({c[0] for c in CASES}) == len(CASES)


def test_a_tabular_let_runs_once(tables, monkeypatch):
    from soar_defender.kql import evaluator
    calls = []
    original = evaluator.Evaluator._table

    def counting(self, node, env):
        calls.append(node.name)
        return original(self, node, env)
    monkeypatch.setattr(evaluator.Evaluator, "_table", counting)
    query = (f'let bad = materialize({P} | where SHA256 == "{BAD}"); '
             "bad | join kind=inner (bad) on DeviceId | union bad | count")
    assert run_query(query, tables, now=NOW).rows == [{"Count": 4}]  # 2 joined rows, then the 2 again
    assert calls.count(P) == 1


def test_search_of_every_table_finds_what_where_star_finds(tables):
    """search with no table list reads each row's own table's columns only (a speed-up): it must
    find exactly the rows a plain union filtered with `where * has` finds."""
    for term in ("whoami", "d4", "contoso", "203.0.113"):
        searched = run_query(f'search "{term}" | summarize n = count() by $table | order by $table asc',
                             tables, now=NOW).to_json_rows()
        names = ", ".join(sorted(tables))
        unioned = run_query(f'union withsource=$table {names} | where * has "{term}" '
                            "| summarize n = count() by $table | order by $table asc", tables, now=NOW).to_json_rows()
        assert searched == unioned and searched, term
