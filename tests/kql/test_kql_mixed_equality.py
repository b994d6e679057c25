"""== and != between a string and another scalar type, which Kusto's own parser accepts (its
equality operator takes any scalar on the right) and published queries use: the string is read as
the other side's type; ordering comparisons between them stay a type error, as in Kusto."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from soar_defender.kql import KqlError, run_query

NOW = datetime(2026, 11, 23, tzinfo=timezone.utc)


def one(expr: str):
    return run_query(f"print x = {expr}", {}, now=NOW).rows[0]["x"]


@pytest.mark.parametrize("expr, expected", [
    ('true == "1"', True), ('false == "0"', True), ('"true" == true', True), ('true != "false"', True),
    ('true == "maybe"', None),                       # not a bool: null, so `where` drops the row
    ('5 == "5"', True), ('"5" == 5', True), ('5 != "5"', False), ('5.5 == "5.5"', True),
    ('toint(3) == "x"', None),
    ('datetime(2024-01-01) == "2024-01-01"', True),
    ('"5" in (5, 6)', True), ('"7" in (5, 6)', False), ('5 in ("5", "6")', True),
])
def test_a_string_is_read_as_the_other_sides_type(expr, expected):
    assert one(expr) == expected


def test_published_forms_filter_rows():
    rows = run_query('datatable(IsCompliant:bool, CrashProcessId:string, ProcessId:long, n:long)'
                     '[false, "12", 12, 1, true, "13", 14, 2, bool(null), "z", 1, 3]'
                     '| where IsCompliant == "0" or CrashProcessId == ProcessId | project n', {}, now=NOW).rows
    assert rows == [{"n": 1}]


@pytest.mark.parametrize("expr", ['"5" > 3', '"5" <= 3', "datetime(2024-01-01) == 5"])
def test_other_comparisons_of_mixed_types_stay_errors(expr):
    with pytest.raises(KqlError, match="Cannot compare values of types"):
        run_query(f"print x = {expr}", {}, now=NOW)


def test_iff_and_case_with_a_dynamic_and_a_string_branch_give_a_string():
    # Microsoft's baseline-comparison query unions iff(Split[-2] == "", Split[0], strcat(...)) with
    # string columns and summarizes by it: one string column, not Entity_dynamic and Entity_string
    q = ('let A = print E = iff(true, dynamic(["a"])[0], strcat("a", "b")); let B = print E = "x"; '
         "union A, B | summarize n = count() by E | order by E asc")
    result = run_query(q, {}, now=NOW)
    assert [(c.name, c.type) for c in result.columns] == [("E", "string"), ("n", "long")]
    assert result.rows == [{"E": "a", "n": 1}, {"E": "x", "n": 1}]
    assert run_query('print b = iff(true, dynamic([1, 2]), "s"), c = case(false, dynamic(null), "z")', {},
                     now=NOW).rows == [{"b": "[1,2]", "c": "z"}]
