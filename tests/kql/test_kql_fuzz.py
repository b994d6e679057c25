"""Whatever text arrives, the evaluator answers with a result or a KqlError — never another
exception — and does so quickly."""

from __future__ import annotations

import os
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from soar_defender.kql import KqlError, QueryResult, run_query

from kql_dataset import NOW, make_tables

TABLES = make_tables()
TIME_LIMIT = 2.0  # seconds per query; the real ones take milliseconds

TOKENS = [
    # tables, columns, names
    "DeviceProcessEvents", "DeviceInfo", "DeviceNetworkEvents", "Extra", "FileName", "DeviceId", "DeviceName",
    "Timestamp", "FileSize", "OSBuild", "Tags", "Score", "Duration", "Id", "RemotePort", "x", "y", "bad",
    # operators and keywords
    "|", "where", "project", "project-away", "project-rename", "extend", "summarize", "by", "order", "sort",
    "asc", "desc", "nulls", "first", "take", "limit", "top", "distinct", "count", "join", "kind", "=", "inner",
    "leftouter", "leftanti", "on", "$left", "$right", ".", "let", ";", "mv-expand", "union", "and", "or",
    "not", "==", "!=", "=~", "!~", "<", "<=", ">", ">=", "+", "-", "*", "/", "%", "contains", "!contains",
    "has", "!has", "startswith", "endswith", "in", "!in", "in~", "has_any", "between", "..", "(", ")", "[",
    "]", "{", "}", ",", ":",
    # functions
    "count()", "dcount(", "make_set(", "make_list(", "min(", "max(", "sum(", "avg(", "arg_max(", "countif(",
    "ago(", "now()", "bin(", "iff(", "case(", "strcat(", "substring(", "strlen(", "tolower(", "toupper(",
    "tostring(", "toint(", "tolong(", "todouble(", "format_datetime(", "isempty(", "isnotempty(",
    "isnull(", "isnotnull(", "parse_json(", "dynamic(", "datetime(2026-11-20)", "datetime(", "int(null)",
    # literals
    "0", "1", "-1", "42", "9223372036854775807", "1.5", "1e308", "0x1F", "7d", "1h", "30m", "10s", "100ms",
    '"cmd.exe"', "'a'", '@"C:\\x"', '""', "true", "false", "null", "[1, 2]", '{"k": 1}',
    # junk
    "//", "\n", "#", "'", '"', "\\", "$", "~", "!", "@",
]


def _check(query: str) -> None:
    started = time.perf_counter()
    try:
        result = run_query(query, TABLES, now=NOW)
    except KqlError as err:
        assert err.code in ("SyntaxError", "SemanticError", "NotSupported", "LimitsExceeded")
        assert err.message
    else:
        assert isinstance(result, QueryResult)
        result.to_json_rows()
    assert time.perf_counter() - started < TIME_LIMIT, query


# KQL_FUZZ_EXAMPLES=5000 python -m pytest tests/kql/test_kql_fuzz.py  for a longer hunt.
FUZZ = settings(max_examples=int(os.environ.get("KQL_FUZZ_EXAMPLES", "300")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.text(max_size=200))
def test_random_text(query):
    _check(query)


@FUZZ
@given(st.lists(st.sampled_from(TOKENS), max_size=40).map(" ".join))
def test_token_soup(query):
    _check(query)


@FUZZ
@given(st.sampled_from(["DeviceProcessEvents", "DeviceInfo", "Extra", "DeviceNetworkEvents"]),
       st.lists(st.lists(st.sampled_from(TOKENS), min_size=1, max_size=12).map(" ".join), max_size=4))
def test_pipelines_of_token_soup(table, steps):
    _check(" | ".join([table, *steps]))


@FUZZ
@given(st.sampled_from(["where", "extend x =", "project y =", "summarize n = count() by", "order by", "top 3 by"]),
       st.recursive(st.sampled_from(["FileName", "FileSize", "Timestamp", "Tags", "Score", "Duration", "1",
                                     "1.5", '"a"', "1h", "true", "now()", "dynamic(null)", "int(null)"]),
                    lambda inner: st.one_of(
                        st.tuples(inner, st.sampled_from(["+", "-", "*", "/", "%", "==", "<", "and", "or", "=~",
                                                          "contains", "has", "in"]), inner).map(
                            lambda t: f"({t[0]} {t[1]} {t[2]})" if t[1] != "in" else f"({t[0]} in ({t[2]}))"),
                        st.tuples(st.sampled_from(["tostring", "isnull", "strlen", "tolower", "not", "toint",
                                                   "todouble", "bin", "iff", "strcat", "ago"]), inner).map(
                            lambda t: f"{t[0]}({t[1]})" if t[0] not in ("bin", "iff") else
                            (f"bin({t[1]}, 1h)" if t[0] == "bin" else f"iff({t[1]}, 1, 2)"))),
                    max_leaves=12))
def test_well_formed_expressions_over_every_table(op, expr):
    for table in ("DeviceProcessEvents", "Extra"):
        _check(f"{table} | {op} {expr}")
