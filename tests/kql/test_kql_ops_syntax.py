"""Syntax published queries use: named arguments, bracketed names and dynamic access, string
forms, comments, let of scalars, tables and functions; and Kusto's column-name inference.

Each case: (id, query, result columns as ``name:type``, exact rows in JSON form)."""

from __future__ import annotations

import pytest

from soar_defender.kql import run_query

from kql_dataset import NOW

P = "DeviceProcessEvents"

CASES = [
    # --- named arguments inside calls name the result column
    ("named-argument-in-bin", f"{P} | summarize n = count() by bin(B1d = Timestamp, 1d) | top 1 by B1d",
     ["B1d:datetime", "n:long"], [("2026-11-23T00:00:00Z", 3)]),
    ("named-argument-in-aggregate", f"{P} | summarize toint(N = dcount(DeviceId))", ["N:int"], [(3,)]),
    ("named-argument-in-arg-max", f"{P} | summarize arg_max(Timestamp, Last = FileName) by DeviceId "
                                  "| order by DeviceId asc | project DeviceId, Last",
     ["DeviceId:string", "Last:string"], [("d1", "powershell.exe"), ("d2", "PowerShell.EXE"),
                                          ("d3", "powershell.exe")]),
    ("multi-name-assignment", f"{P} | summarize (When, What) = arg_max(Timestamp, FileName) by DeviceId "
                              '| where DeviceId == "d2" | project When, What',
     ["When:datetime", "What:string"], [("2026-11-22T12:00:00Z", "PowerShell.EXE")]),
    # --- column-name inference
    ("inferred-names", 'print d = dynamic({"a": {"b": 1}}) | project tostring(d.a.b), toint(d.a.b), '
                       'strcat("x", "y"), d["a"]',
     ["d_a_b:string", "d_a_b1:int", "Column1:string", "d_a:dynamic"], [("1", 1, "xy", {"b": 1})]),
    ("inferred-aggregate-names", f"{P} | summarize count(), dcount(DeviceId), toint(dcount(FileName)), "
                                 "make_list(AccountName, 1), take_any(FileSize), any(DeviceName)",
     ["count_:long", "dcount_DeviceId:long", "dcount_FileName:int", "list_AccountName:dynamic",
      "FileSize:long", "any_DeviceName:string"], [(8, 3, 6, ["alice"], 450000, "pc1.contoso.com")]),
    ("inferred-by-tostring", 'Extra | where Name == "b" | summarize n = count() by tostring(Tags.k)',
     ["Tags_k:string", "n:long"], [("1", 1)]),
    ("extend-inferred-replaces", "DeviceInfo | take 1 | extend tostring(OSBuild) | project OSBuild",
     ["OSBuild:string"], [("22631",)]),
    # --- bracketed names and dynamic access
    ("bracketed-assignment-targets", "print ['name with space'] = 1, [\"Bulletin\"] = 'x' "
                                     "| project-rename ['renamed one'] = ['name with space']",
     ["renamed one:long", "Bulletin:string"], [(1, "x")]),
    ("bracketed-dynamic-access", "print d = dynamic({\"TO.GROUP\": [10, 20], \"k\": {\"v\": 3}}) "
                                 '| project a = d.["TO.GROUP"][1], b = d["k"].v, c = d.k["v"], e = d["k"]["v"]',
     ["a:dynamic", "b:dynamic", "c:dynamic", "e:dynamic"], [(20, 3, 3, 3)]),
    ("json-string-column", 'datatable(AdditionalFields:string)[\'{"Command": "x"}\'] '
                           "| project c = tostring(AdditionalFields.Command)", ["c:string"], [("x",)]),
    # --- strings
    ("adjacent-literals", "print s = \"a\" 'b' @\"c\\d\"", ["s:string"], [("abc\\d",)]),
    ("verbatim-quote", 'print s = @"say ""hi"""', ["s:string"], [('say "hi"',)]),
    ("multi-line-string", "print s = ```line1\nline2```", ["s:string"], [("line1\nline2",)]),
    ("obfuscated-strings", "print s = strcat(h\"se\", H'cret', h@\"\\x\")", ["s:string"], [("secret\\x",)]),
    ("escapes", 'print s = "tab\\there\\u0041"', ["s:string"], [("tab\thereA",)]),
    # --- comments and statements
    ("comments-everywhere", "// a comment\nlet x = 1; // trailing\nprint y = x // end\n// last line",
     ["y:long"], [(1,)]),
    ("trailing-semicolons", "let x = 2;; print y = x;", ["y:long"], [(2,)]),
    ("let-tabular-alias", "let T = DeviceInfo; let U = T; U | count", ["Count:long"], [(4,)]),
    ("let-function-scalar", 'let label = (n:long, suffix:string = "!") { strcat(tostring(n * 2), suffix) }; '
                            "print a = label(2), b = label(suffix = '?', n = 5)",
     ["a:string", "b:string"], [("4!", "10?")]),
    ("let-function-no-params", "let Today = () { startofday(now()) }; print t = Today()",
     ["t:datetime"], [("2026-11-23T00:00:00Z",)]),
    ("let-function-over-columns", 'let IsShell = (name:string) { name in~ ("cmd.exe", "powershell.exe") }; '
                                  f"{P} | where IsShell(FileName) | count", ["Count:long"], [(4,)]),
    # --- literals
    ("datetime-forms", "print a = datetime(2024-01-01), b = datetime(2024-01-01T10:00:00.5Z), "
                       "c = datetime(\"01/16/2022 00:00:00\"), d = datetime(null)",
     ["a:datetime", "b:datetime", "c:datetime", "d:datetime"],
     [("2024-01-01T00:00:00Z", "2024-01-01T10:00:00.500000Z", "2022-01-16T00:00:00Z", None)]),
    ("timespan-forms", "print a = 1d, b = 2h, c = 30m, d = 10s, e = 100ms, f = 1tick, g = 1.5h, "
                       "h = timespan(1.02:03:04), i = 3 * 1d",
     ["a:timespan", "b:timespan", "c:timespan", "d:timespan", "e:timespan", "f:timespan", "g:timespan",
      "h:timespan", "i:timespan"],
     [("1.00:00:00", "02:00:00", "00:30:00", "00:00:10", "00:00:00.1000000", "00:00:00", "01:30:00",
       "1.02:03:04", "3.00:00:00")]),
    ("dynamic-literals", 'print a = dynamic([1, "x", {"k": null}]), b = dynamic(null), '
                         "c = array_length(dynamic([]))",
     ["a:dynamic", "b:dynamic", "c:long"], [([1, "x", {"k": None}], None, 0)]),
    ("typeof", 'print t = typeof(long), n = extract("(\\\\d+)", 1, "a42", typeof(int))',
     ["t:string", "n:int"], [("long", 42)]),
    ("in-double-parenthesised-subquery", f"DeviceInfo | where DeviceId in~ (({P} | where FileName == 'cmd.exe' "
                                         "| project DeviceId)) | project DeviceName",
     ["DeviceName:string"], [("pc1.contoso.com",)]),
    ("in-string-on-number", f'{P} | where FileSize in ("450000", "x") | count', ["Count:long"], [(3,)]),
    ("make-set-of-arrays", "datatable(Val:int, Arr1:dynamic)[1, dynamic(['A1', 'A2', 'A3']), 5, dynamic(['A2', 'C1']), "
                           "7, dynamic(['C2', 'A3']), 5, dynamic(['C2', 'A1'])] "
                           "| summarize Val_set = make_set(Val), Arr1_set = make_set(Arr1), n = array_length(make_list(Arr1))",
     ["Val_set:dynamic", "Arr1_set:dynamic", "n:long"], [([1, 5, 7], ["A1", "A2", "A3", "C1", "C2"], 4)]),
    ("count-of-a-column", f"{P} | summarize count(AccountName) by AccountName | order by AccountName asc",
     ["AccountName:string", "count_AccountName:long"], [("alice", 3), ("bob", 2), ("carol", 3)]),
    # --- hll sketches: merged per day, counted exactly
    ("hll-merge-dcount", f"{P} | summarize h = hll(AccountName) by bin(Timestamp, 1d) | summarize m = hll_merge(h) "
                         "| project n = dcount_hll(m)", ["n:long"], [(3,)]),
    ("hll-if-names", f'{P} | summarize hll_if(AccountName, FileName == "cmd.exe"), dcount(AccountName) '
                     "| project dcount_hll(hll_if_AccountName), dcount_AccountName",
     ["dcount_hll_hll_if_AccountName:long", "dcount_AccountName:long"], [(1, 3)]),
    # --- ranks and sessions over serialized rows
    ("row-rank", "datatable(x:long)[1, 1, 2, 2, 2, 5] | serialize | extend d = row_rank_dense(x), m = row_rank_min(x)",
     ["x:long", "d:long", "m:long"], [(1, 1, 1), (1, 1, 1), (2, 2, 3), (2, 2, 3), (2, 2, 3), (5, 3, 6)]),
    ("row-window-session", "datatable(t:datetime, u:string)[datetime(2026-01-01 10:00), 'a', "
                           "datetime(2026-01-01 10:04), 'a', datetime(2026-01-01 10:07), 'b', "
                           "datetime(2026-01-01 10:40), 'b', datetime(2026-01-01 10:42), 'b'] | sort by t asc "
                           "| project s = row_window_session(t, 1h, 5m), r = row_window_session(t, 1h, 1h, u != prev(u))",
     ["s:datetime", "r:datetime"], [("2026-01-01T10:00:00Z", "2026-01-01T10:00:00Z"),
                                    ("2026-01-01T10:00:00Z", "2026-01-01T10:00:00Z"),
                                    ("2026-01-01T10:00:00Z", "2026-01-01T10:07:00Z"),
                                    ("2026-01-01T10:40:00Z", "2026-01-01T10:07:00Z"),
                                    ("2026-01-01T10:40:00Z", "2026-01-01T10:07:00Z")]),
    # --- datatable values may end (or start) with a comma, as Kusto's parser allows
    ("datatable-trailing-comma", 'datatable(k:int, v:string)[\n 0, "Wibble",\n 1, "Wobble",\n]',
     ["k:int", "v:string"], [(0, "Wibble"), (1, "Wobble")]),
    ("datatable-leading-comma", 'datatable(k:int)[, 7]', ["k:int"], [(7,)]),
    # --- search names each row's table $table, which later operators may name too
    ("search-table-column-reordered", f'search in ({P}, DeviceInfo) DeviceId == "d4" '
                                      "| summarize n = count() by $table | project-reorder n, $table",
     ["n:long", "$table:string"], [(1, "DeviceInfo")]),
]


def _rows(result) -> list[tuple]:
    names = [c.name for c in result.columns]
    return [tuple(r[n] for n in names) for r in result.to_json_rows()]


@pytest.mark.parametrize("query,columns,rows", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_syntax_answers(tables, query, columns, rows):
    result = run_query(query, tables, now=NOW)
    assert [f"{c.name}:{c.type}" for c in result.columns] == columns
    assert _rows(result) == rows


def test_case_ids_are_unique():
    assert len({c[0] for c in CASES}) == len(CASES)
