"""The newer operators, functions and syntax under random input: whatever the text, the answer is
a result or a KqlError (never another exception), within the time limit."""

from __future__ import annotations

import os
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from soar_defender.kql import KqlError, QueryResult, run_query

from kql_dataset import NOW, make_tables

TABLES = make_tables()
TIME_LIMIT = 2.0

TOKENS = [
    "DeviceProcessEvents", "DeviceInfo", "Extra", "Device*", "FileName", "FileSize", "Tags", "Timestamp",
    "DeviceId", "x", "T", "f",
    "|", "mv-expand", "mvexpand", "mv-apply", "on", "to", "typeof(", "typeof(string)", "typeof(long)", "limit",
    "with_itemindex=", "bagexpansion=", "kind=", "bag", "array", "union", "withsource=", "outer", "inner",
    "project-reorder", "project-keep", "asc", "granny-asc", "lookup", "join", "rightanti", "fullouter",
    "parse", "parse-where", "with", "*", "evaluate", "bag_unpack(", "ipv4_lookup(", "invoke", "FileProfile(",
    "SeenBy()", "DeviceFromIP()", "AssignedIPAddresses(", "search", "in", "serialize", "getschema", "render",
    "as", "materialize(", "toscalar(", "datatable(", "externaldata(", "range", "from", "step", "print",
    "let", "=", ";", "(", ")", "[", "]", "{", "}", ",", ":", ".", "..", "==", "=~", "matches regex",
    "has_all", "has_any", "!has", "in~", "!in", "between", "and", "or", "not(",
    "extract(", "extract_all(", "parse_json(", "parse_url(", "parse_path(", "parse_command_line(", "split(",
    "strcat_array(", "set_difference(", "pack(", "bag_pack(", "pack_array(", "bag_keys(", "array_length(",
    "datetime_diff(", "startofweek(", "format_datetime(", "ipv4_is_private(", "ipv4_is_match(",
    "base64_decode_tostring(", "url_decode(", "replace_regex(", "trim(", "countof(", "prev(", "next(",
    "row_number()", "row_cumsum(", "ingestion_time()", "column_ifexists(", "pack_all()", "range(", "repeat(",
    "arg_max(", "take_any(", "any(", "makeset(", "count(", "dcountif(", "percentiles(", "make_bag(",
    "make-series", "default", "top-nested", "of", "others", "series_decompose_anomalies(", "series_stats(",
    "series_fit_line(", "search", "*", "has", "(a, b) =", "with others =",
    '"a"', "'b'", '@"c:\\x"', "```m```", 'h"s"', "1", "-1", "0", "2.5", "1d", "1tick", "datetime(2026-01-01)",
    'dynamic(["a", 1])', 'dynamic({"k": [1]})', "true", "null", "int(null)",
    "\n", "//", "$left", "$right", "$table", "#", "!", "~",
]
FUZZ = settings(max_examples=int(os.environ.get("KQL_FUZZ_EXAMPLES", "300")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow])


def _check(query: str) -> None:
    started = time.perf_counter()
    try:
        result = run_query(query, TABLES, now=NOW)
    except KqlError as err:
        assert err.code in ("SyntaxError", "SemanticError", "NotSupported", "LimitsExceeded")
        assert err.message and err.line and err.column
    else:
        assert isinstance(result, QueryResult)
        result.to_json_rows()
    assert time.perf_counter() - started < TIME_LIMIT, query


@FUZZ
@given(st.lists(st.sampled_from(TOKENS), max_size=40).map(" ".join))
def test_token_soup_of_the_newer_constructs(query):
    _check(query)


@FUZZ
@given(st.sampled_from(["DeviceProcessEvents", "Extra", "DeviceInfo"]),
       st.lists(st.lists(st.sampled_from(TOKENS), min_size=1, max_size=10).map(" ".join), max_size=4))
def test_pipelines_of_the_newer_constructs(table, steps):
    _check(" | ".join([table, *steps]))


_CALLS = ["extract(@'(\\d+)', 1, {})", "split({}, ',')", "parse_json({})", "array_length({})", "strlen({})",
          "tostring({})", "bag_keys({})", "pack_array({}, 1)", "set_difference({}, dynamic([1]))",
          "base64_decode_tostring({})", "parse_url({})", "parse_path({})", "parse_command_line({}, 'windows')",
          "ipv4_is_private({})", "datetime_diff('day', {}, now())", "startofweek({})", "round({}, 1)",
          "coalesce({}, {})", "iff(isnull({}), 1, 2)", "todynamic({})", "replace_regex({}, 'a', 'b')",
          "countof({}, 'a')", "trim(' ', {})", "url_decode({})", "strcat_array({}, '-')", "range(1, {}, 1)"]
_LEAVES = ["FileName", "FileSize", "Timestamp", "Tags", "Score", "Duration", "Id", "1", "-7", "2.5", '"a,b"',
           '"10.1.2.3"', "now()", "1h", "dynamic(null)", 'dynamic({"k": 1})', "dynamic([1, 2])", "int(null)"]


@FUZZ
@given(st.sampled_from(["extend v =", "project v =", "where", "summarize v = make_set(", "mv-expand v =",
                        "distinct"]),
       st.recursive(st.sampled_from(_LEAVES),
                    lambda inner: st.tuples(st.sampled_from(_CALLS), inner, inner).map(
                        lambda t: t[0].format(t[1], t[2]) if t[0].count("{}") == 2 else t[0].format(t[1])),
                    max_leaves=8))
def test_functions_on_every_type(op, expr):
    suffix = ")" if op.endswith("(") else ""
    for table in ("DeviceProcessEvents", "Extra"):
        _check(f"{table} | {op} {expr}{suffix}")
