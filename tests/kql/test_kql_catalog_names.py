"""Names the Kusto language service declares, which the catalog once missed: valid KQL that the
simulator does not evaluate is refused as "not supported", never answered "Unknown function" with
a typo hint pointing at some other function. The names come from the public Kusto language
service source (see the docstring of soar_defender.kql.catalog)."""

from __future__ import annotations

import pytest

from soar_defender.kql import KqlError, run_query
from soar_defender.kql.catalog import AGGREGATE_FUNCTIONS, PLUGINS, SCALAR_FUNCTIONS

from kql_dataset import NOW

NOT_SUPPORTED = "is not supported by the simulated hunting service"
P = "DeviceProcessEvents"


def _refusal(tables, query: str) -> KqlError:
    with pytest.raises(KqlError) as info:
        run_query(query, tables, now=NOW)
    return info.value


@pytest.mark.parametrize("query,name", [
    ('print c=replace_strings("ab", dynamic(["a"]), dynamic(["c"]))', "replace_strings"),
    (f"{P} | take 1 | extend s = set_equals(dynamic([1]), dynamic([1]))", "set_equals"),
    (f"{P} | take 1 | extend b = bag_pack_columns(FileName, FileSize)", "bag_pack_columns"),
    ("print e = erf(0.5)", "erf"),
    ("print p = series_product(dynamic([1, 2, 3]))", "series_product"),
    ('print d = punycode_domain_to_string("xn--mnchen-3ya.de")', "punycode_domain_to_string"),
    ("print g = geo_point_buffer(-122.3, 47.6, 10)", "geo_point_buffer"),
    (f"{P} | summarize c = covariance(FileSize, FileSize)", "covariance"),
    (f"{P} | summarize v = variancepif(FileSize, FileSize > 0)", "variancepif"),
    (f'{P} | evaluate geo_polygon_lookup(DeviceInfo, Polygon, Lon, Lat)', "geo_polygon_lookup"),
    (f"{P} | evaluate identity()", "identity"),
    (f'{P} | evaluate ai_embeddings(FileName, "https://example.invalid")', "ai_embeddings"),
])
def test_real_but_unimplemented_names_are_refused_as_not_supported(tables, query, name):
    err = _refusal(tables, query)
    assert err.code == "NotSupported", err.message
    assert NOT_SUPPORTED in err.message and name in err.message, err.message
    assert "Unknown function" not in err.message, err.message
    assert "unknown plugin" not in err.message, err.message
    assert "Did you mean" not in err.message, err.message
    assert err.name == name
    assert (err.line, err.column) == (1, query.index(name) + 1), err.message


@pytest.mark.parametrize("query,where,hint", [
    ('print c=replace_strin("ab", "a", "c")', "replace_strin", "Did you mean 'replace_string'?"),
    (f"{P} | summarize c = covarianc(FileSize, FileSize)", "covarianc", "Did you mean 'covariance'?"),
    (f"{P} | evaluate geo_polygon_lookp(T, P, X, Y)", "geo_polygon_lookp", "Did you mean 'geo_polygon_lookup'?"),
])
def test_real_typos_still_get_the_hint(tables, query, where, hint):
    err = _refusal(tables, query)
    assert err.code in ("SyntaxError", "SemanticError"), err.message
    assert hint in err.message, err.message
    assert (err.line, err.column) == (1, query.index(where) + 1), err.message


def test_the_catalog_holds_the_names_the_language_service_declares():
    assert {"replace_strings", "set_equals", "bag_pack_columns", "erf", "erfc", "series_product",
            "entity_group", "column_names_of"} <= SCALAR_FUNCTIONS
    assert {"covariance", "covarianceif", "covariancep", "covariancepif", "variancepif"} <= AGGREGATE_FUNCTIONS
    assert {"csharp", "identity", "geo_line_lookup", "geo_polygon_lookup", "ai_chat_completion",
            "ai_embeddings", "execute_query", "external_datatable"} <= PLUGINS
    assert not (SCALAR_FUNCTIONS | AGGREGATE_FUNCTIONS | PLUGINS) & {"replace_strin", "covarianc"}


@pytest.mark.parametrize("op", ["assert-schema", "project-smart", "project-by-names"])
def test_hyphenated_operators_of_the_language_service_are_refused_as_operators(tables, op):
    """Once read as a subtraction ('assert - schema'): an 'expected ...' parse error on valid KQL."""
    query = f"{P} | {op} (FileName:string) | take 1"
    err = _refusal(tables, query)
    assert err.code == "NotSupported", err.message
    assert f"'{op}' {NOT_SUPPORTED}" in err.message, err.message
    assert (err.line, err.column) == (1, query.index(op) + 1), err.message
