"""No misleading error: valid KQL is evaluated, or refused as "'<construct>' is not supported by
the simulated hunting service" with its line and column; a real function, operator or plugin is
never "unknown" and never gets a typo hint, while real typos still do."""

from __future__ import annotations

import pytest

from soar_defender.kql import KqlError, run_query
from soar_defender.kql.catalog import AGGREGATE_FUNCTIONS, PLUGINS, SCALAR_FUNCTIONS, TABULAR_OPERATORS

from kql_dataset import NOW

NOT_SUPPORTED = "is not supported by the simulated hunting service"
P = "DeviceProcessEvents"
# Functions that take a table, not values: called without one they are a syntax error, rightly.
_TABULAR_ARGUMENT = {"toscalar", "materialize"}


def _outcome(tables, query: str) -> KqlError | None:
    try:
        run_query(query, tables, now=NOW)
    except KqlError as err:
        return err
    return None


def _assert_not_misleading(err: KqlError | None, name: str) -> None:
    if err is None:
        return
    assert "Unknown function" not in err.message, err.message
    assert "Did you mean" not in err.message, err.message
    assert "unknown plugin" not in err.message, err.message
    assert "expected a tabular operator" not in err.message, err.message
    if err.code == "NotSupported":
        assert NOT_SUPPORTED in err.message and name in err.message, err.message
        assert err.line and err.column


@pytest.mark.parametrize("name", sorted(SCALAR_FUNCTIONS - _TABULAR_ARGUMENT))
def test_every_real_scalar_function_is_known(tables, name):
    for args in ("", "FileName", "FileName, 1", "FileSize, FileSize, FileSize"):
        _assert_not_misleading(_outcome(tables, f"{P} | take 1 | extend x = {name}({args})"), name)


@pytest.mark.parametrize("name", sorted(AGGREGATE_FUNCTIONS))
def test_every_real_aggregation_is_known(tables, name):
    for args in ("", "FileName", "FileSize, FileSize > 1"):
        _assert_not_misleading(_outcome(tables, f"{P} | summarize x = {name}({args})"), name)


@pytest.mark.parametrize("name", sorted(TABULAR_OPERATORS))
def test_every_real_tabular_operator_is_known(tables, name):
    _assert_not_misleading(_outcome(tables, f"{P} | {name} x"), name)


@pytest.mark.parametrize("name", sorted(PLUGINS))
def test_every_real_plugin_is_known(tables, name):
    _assert_not_misleading(_outcome(tables, f"{P} | evaluate {name}()"), name)


def test_a_plugin_called_as_a_function_says_how_to_call_it(tables):
    err = _outcome(tables, f"{P} | extend x = bag_unpack(FileName)")
    assert err.code == "SemanticError" and "'| evaluate bag_unpack(...)'" in err.message, err.message
    assert "Unknown function" not in err.message


def test_an_implemented_function_misused_is_an_argument_error_not_unknown(tables):
    err = _outcome(tables, f'{P} | where datetime_diff("day", FileName, Timestamp) > 1')
    assert err.code == "SemanticError" and "argument 2 of datetime_diff() must be a datetime" in err.message


@pytest.mark.parametrize("query,where,hint", [
    (f'{P} | wher FileName == "a"', "wher", "Did you mean 'where'?"),
    (f'{P} | where tolowr(FileName) == "a"', "tolowr", "Did you mean 'tolower'?"),
    (f'{P} | summarize dcout(FileName)', "dcout", "Did you mean 'dcount'?"),
    (f"{P[:-1]} | count", P[:-1], f"Did you mean '{P}'?"),
    (f'{P} | extend x = FileNme', "FileNme", "Did you mean 'FileName'?"),
    (f"{P} | project-reorder FileNme", "FileNme", "Did you mean 'FileName'?"),
    (f"{P} | evaluate bag_unpak(x)", "bag_unpak", "Did you mean 'bag_unpack'?"),
])
def test_real_typos_keep_their_hint_and_position(tables, query, where, hint):
    err = _outcome(tables, query)
    assert err is not None and err.code in ("SyntaxError", "SemanticError"), err
    assert hint in err.message, err.message
    assert (err.line, err.column) == (1, query.index(where) + 1), err.message


@pytest.mark.parametrize("query", [
    'externaldata(Name:string, Hash:string)[@"https://example.com/a.csv"] with (format="csv")',
    'let Feed = externaldata(Sha256:string)[@"https://example.com/a.csv", h"https://example.com/b.csv"]\n'
    '  with (format="txt", ignoreFirstRecord=true);\nDeviceProcessEvents | where SHA256 in (Feed)',
    "DeviceProcessEvents | join kind=leftsemi (external_data(SHA256:string)['https://x/y.csv']) on SHA256",
])
def test_externaldata_parses_then_is_refused_by_name(tables, query):
    err = _outcome(tables, query)
    assert err is not None and err.code == "NotSupported", err
    word = "external_data" if "external_data" in query else "externaldata"
    assert err.message.startswith(f"'{word}' {NOT_SUPPORTED}"), err.message
    offset = query.index(word)
    line = query.count("\n", 0, offset) + 1
    assert (err.line, err.column) == (line, offset - (query.rfind("\n", 0, offset) + 1) + 1)
    assert "fetches no URLs" in err.message


@pytest.mark.parametrize("query,construct", [
    (f"{P} | reduce by FileName", "reduce"),
    (f"{P}\n| facet by FileName", "facet"),
    (f"{P} | extend s = series_fft(dynamic([1, 2]))", "series_fft()"),
    (f"{P} | summarize tdigest(FileSize)", "tdigest()"),
    (f"{P} | evaluate autocluster()", "evaluate autocluster()"),
    (f"{P} | facet by FileName", "facet"),
    (f"{P} | extend u = parse_user_agent(FileName, 'browser')", "parse_user_agent()"),
    (f'{P} | extend (a, b) = series_periods_detect(dynamic([1]), 1, 2, 1)', "series_periods_detect()"),
    ("set querytrace;\nDeviceInfo", "set statement"),
])
def test_unsupported_constructs_say_so_with_their_position(tables, query, construct):
    err = _outcome(tables, query)
    assert err is not None and err.code == "NotSupported", err
    assert f"'{construct}' {NOT_SUPPORTED}" in err.message, err.message
    word = construct.split("(")[0].split(" ")[-1] if construct.startswith("evaluate") else \
        construct.split("(")[0].split(" ")[0]
    offset = query.index(word)
    line = query.count("\n", 0, offset) + 1
    assert (err.line, err.column) == (line, offset - (query.rfind("\n", 0, offset) + 1) + 1), err.message
