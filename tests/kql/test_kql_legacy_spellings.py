"""Older spellings of string operators that Kusto still accepts and published queries use, the
TimeGenerated hint, and parse_version()."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from soar_defender.kql import run_query

NOW = datetime(2026, 11, 23, tzinfo=timezone.utc)


@pytest.mark.parametrize("expr, expected", [
    ('"Hello" notcontains "ell"', False), ('"Hello" notcontains "xyz"', True),
    ('"Hello" containscs "ell"', True), ('"Hello" containscs "ELL"', False),
    ('"Hello" notcontainscs "ELL"', True), ('"Hello" notcontainscs "ell"', False),
])
def test_old_spellings_are_the_operators_they_name(expr, expected):
    assert run_query(f"print x = {expr}", {}, now=NOW).rows == [{"x": expected}]


def test_notcontains_filters_like_not_contains():
    q = 'datatable(AccountName:string)["svc_backup", "alice", "SVC_sql"] | where AccountName notcontains "svc"'
    assert run_query(q, {}, now=NOW).rows == [{"AccountName": "alice"}]


def test_timegenerated_is_refused_with_the_defender_name_of_the_column():
    from soar_defender.kql import KqlError, Table
    from soar_defender.kql.schemas import SCHEMAS

    tables = {"DeviceEvents": Table("DeviceEvents", SCHEMAS["DeviceEvents"])}
    with pytest.raises(KqlError) as err:
        run_query("DeviceEvents | where TimeGenerated > ago(1d)", tables, now=NOW)
    assert "'TimeGenerated'" in err.value.message and "name the event time Timestamp" in err.value.message


@pytest.mark.parametrize("expr, expected", [
    ('parse_version("1.2.3.4")', 1000000002000000003000000004), ('parse_version("0.0.0.1")', 1),
    ('parse_version("0.0.2.0") < parse_version("0.0.10")', True), ('parse_version("1.2") == parse_version("1.2.0.0")', True),
    ('parse_version("x")', None), ('parse_version("123456789.1")', None),
])
def test_parse_version_compares_versions_part_by_part(expr, expected):
    assert run_query(f"print x = {expr}", {}, now=NOW).rows == [{"x": expected}]
