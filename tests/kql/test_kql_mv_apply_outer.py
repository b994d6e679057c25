"""mv-apply's subquery reads the row's other columns too (published queries filter on them)."""

from __future__ import annotations

from datetime import datetime, timezone

from soar_defender.kql import run_query

NOW = datetime(2026, 11, 23, tzinfo=timezone.utc)


def test_the_subquery_filters_on_a_column_that_is_not_expanded():
    q = ('datatable(FileName:string)["a.js", "b.txt", "c.PS1"] '
         '| mv-apply ext = dynamic([".js", ".ps1"]) to typeof(string) on (where FileName endswith ext)')
    result = run_query(q, {}, now=NOW)
    assert [c.name for c in result.columns] == ["FileName", "ext"]
    assert result.rows == [{"FileName": "a.js", "ext": ".js"}, {"FileName": "c.PS1", "ext": ".ps1"}]


def test_other_columns_come_back_once_whether_or_not_the_subquery_keeps_them():
    # Kusto's reference example: top 1 by element keeps xMod2 and l; summarize drops them
    kept = run_query("range x from 1 to 8 step 1 | summarize l = make_list(x) by xMod2 = x % 2 "
                     "| mv-apply element = l to typeof(long) on (top 1 by element)", {}, now=NOW)
    assert [c.name for c in kept.columns] == ["xMod2", "l", "element"]
    assert kept.rows == [{"xMod2": 1, "l": [1, 3, 5, 7], "element": 7}, {"xMod2": 0, "l": [2, 4, 6, 8], "element": 8}]
    summed = run_query('datatable(k:string, a:dynamic)["x", dynamic([1, 2, 3])] '
                       "| mv-apply v = a to typeof(long) on (summarize s = sum(v))", {}, now=NOW)
    assert [c.name for c in summed.columns] == ["k", "a", "s"] and summed.rows == [{"k": "x", "a": [1, 2, 3], "s": 6}]
