"""Queries the evaluator must refuse, each with the right code, operator/name and position."""

from __future__ import annotations

import pytest

from soar_defender.kql import KqlError, run_query

from kql_dataset import NOW

P = "DeviceProcessEvents"


def pos_of(query: str, needle: str) -> tuple[int, int]:
    """1-based (line, column) of the first ``needle`` in ``query``."""
    offset = query.index(needle)
    line = query.count("\n", 0, offset) + 1
    return line, offset - (query.rfind("\n", 0, offset) + 1) + 1


def end_of(query: str) -> tuple[int, int]:
    return query.count("\n") + 1, len(query) - (query.rfind("\n") + 1) + 1


# (id, query, code, operator, name, where: needle in the query or "END", message fragment)
CASES = [
    ("fork", f"{P} | fork (take 1)", "NotSupported", "fork", "fork", "fork",
     "'fork' is not supported by the simulated hunting service"),
    ("facet-second-line", f"{P}\n| facet by FileName", "NotSupported", "facet",
     "facet", "facet", "Query could not be parsed at 'facet' on line [2,3]"),
    ("reduce", f"{P} | reduce by FileName", "NotSupported", "reduce", "reduce", "reduce", "'reduce'"),
    ("evaluate-plugin", f"{P} | evaluate autocluster()", "NotSupported", "evaluate", "autocluster",
     "autocluster", "'evaluate autocluster()' is not supported by the simulated hunting service"),
    ("find-pack-all", "find in (DeviceProcessEvents) where FileName == 'x' project FileName, pack_all()",
     "NotSupported", "find", "pack_all", "pack_all",
     "'find ... project pack_all()' is not supported by the simulated hunting service"),
    ("partition-own-source", f"{P} | partition by DeviceId {{ DeviceInfo | take 1 }}", "NotSupported",
     "partition", "partition", "{", "'partition by Column { subquery with its own source }' is not supported "
     "by the simulated hunting service"),
    ("unknown-column", f'{P} | where DeviceNme == "pc1"', "SemanticError", "where", "DeviceNme", "DeviceNme",
     "'where' operator: Failed to resolve scalar expression named 'DeviceNme' (line 1, column 29). "
     "Did you mean 'DeviceName'?"),
    ("unknown-column-in-project", f"{P} | project FileName, Sha256", "SemanticError", "project", "Sha256",
     "Sha256", "Did you mean 'SHA256'? (names are case-sensitive)"),
    ("unknown-table", f"{P}s | count", "SemanticError", None, f"{P}s", P,
     f"Failed to resolve table or column expression named '{P}s' (line 1, column 1)"),
    ("unknown-function", f"{P} | where foo(FileName)", "SemanticError", "where", "foo", "foo",
     "Unknown function: 'foo'"),
    ("unsupported-function", f'{P} | extend x = series_fir(dynamic([1]), dynamic([1]))', "NotSupported",
     "extend", "series_fir", "series_fir", "'series_fir()' is not supported by the simulated hunting service"),
    ("datetime-vs-string", f'{P} | where Timestamp > "2026-01-01"', "SemanticError", "where", ">", ">",
     "Cannot compare values of types datetime and string"),
    ("string-plus", f'{P} | extend x = FileName + "a"', "SemanticError", "extend", "+", "+",
     "use strcat() to join strings"),
    ("unbalanced-paren", f'{P} | where (FileName == "a"', "SyntaxError", None, None, "END", "expected ')'"),
    ("missing-operand", f"{P} | where FileName ==", "SyntaxError", None, None, "END", "expected an expression"),
    ("unterminated-string", f'{P} | where FileName == "abc', "SyntaxError", None, None, '"abc',
     "unterminated string literal"),
    ("bad-timespan-literal", f"{P} | where Timestamp > ago(7x)", "SyntaxError", None, None, "7x",
     "bad numeric literal '7x'"),
    ("bad-datetime-literal", f"{P} | where Timestamp > datetime(2026-13-45)", "SyntaxError", None, None,
     "datetime(", "bad datetime literal"),
    ("bad-escape", f'{P} | where FolderPath == "C:\\Windows"', "SyntaxError", None, None, "\\W",
     "invalid escape sequence"),
    ("unexpected-char", f"{P} | where FileSize # 1", "SyntaxError", None, None, "#", "unexpected character '#'"),
    ("misspelled-operator", f'{P} | wher FileName == "a"', "SyntaxError", "wher", "wher", "wher",
     "Did you mean 'where'?"),
    ("take-not-a-number", f'{P} | take "ten"', "SemanticError", "take", None, '"ten"', "must be an integer constant"),
    ("predicate-not-bool", f"{P} | where FileName", "SemanticError", "where", None, "FileName",
     "the predicate must be a Boolean expression, not string"),
    ("summarize-not-aggregate", f"{P} | summarize FileName", "SemanticError", "summarize", None, "FileName",
     "not an aggregation"),
    ("aggregate-outside-summarize", f"{P} | extend n = count()", "SemanticError", "extend", "count", "count",
     "'count()' is an aggregation function"),
    ("join-kind-unknown", f"{P} | join kind=leftoutr (DeviceInfo) on DeviceId", "SyntaxError", "join",
     "leftoutr", "leftoutr", "unknown join kind 'leftoutr'"),
    ("join-key-missing", f"{P} | join (DeviceInfo) on FileName", "SemanticError", "join", "FileName",
     "FileName", "the right side has no column named 'FileName'"),
    ("project-away-unknown", f"{P} | project-away Nope", "SemanticError", "project-away", "Nope", "Nope",
     "Failed to resolve column named 'Nope'"),
    ("multi-line-position", f"let x = 1;\n{P}\n| where y > x", "SemanticError", "where", "y", "y >",
     "(line 3, column 9)"),
    ("declare-statement", f"declare query_parameters(x:string = 'a');\n{P}", "NotSupported", "declare",
     "declare", "declare", "'declare statement' is not supported by the simulated hunting service"),
    ("arity", f'{P} | where substring(FileName) == "a"', "SemanticError", "where", "substring", "substring",
     "function 'substring' expects 2 to 3 arguments, got 1"),
    ("argument-type", f'{P} | where substring(FileName, "a") == "a"', "SemanticError", "where", "substring",
     "substring", "argument 2 of substring() must be an integer, not string"),
    ("and-needs-bool", f"{P} | where FileSize and true", "SemanticError", "where", "and", "FileSize",
     "'and' needs Boolean operands"),
    ("two-tabular-statements", f"{P} | count; DeviceInfo | count", "NotSupported", None, None, "DeviceInfo",
     "only one tabular expression per query"),
    ("empty-query", "   // nothing here\n", "SyntaxError", None, None, "END", "no tabular expression"),
    ("table-as-scalar", f"{P} | where FileName == DeviceInfo", "SemanticError", "where", "DeviceInfo",
     "DeviceInfo", "'DeviceInfo' is a table, not a scalar value"),
    ("deep-nesting", f"{P} | where " + "(" * 80 + "true" + ")" * 80, "LimitsExceeded", None, None, None,
     "nested more than 64 levels"),
]


@pytest.mark.parametrize("query,code,operator,name,where,fragment", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_refused_queries(tables, query, code, operator, name, where, fragment):
    with pytest.raises(KqlError) as info:
        run_query(query, tables, now=NOW)
    err = info.value
    assert err.code == code, err.message
    assert fragment in err.message, err.message
    assert err.operator == operator, err.message
    assert err.name == name, err.message
    if where is not None:
        expected = end_of(query) if where == "END" else pos_of(query, where)
        assert (err.line, err.column) == expected, err.message
        assert f"line [{expected[0]},{expected[1]}]" in err.message or \
               f"(line {expected[0]}, column {expected[1]})" in err.message, err.message
    assert str(err) == err.message
    assert err.to_dict()["code"] == code


def test_at_least_fifteen_refusals():
    assert len(CASES) >= 15


def test_example_messages_from_the_issue(tables):
    query = f"{P} | where Timestamp > ago(1d) | facet by FileName"
    with pytest.raises(KqlError) as info:
        run_query(query, tables, now=NOW)
    assert info.value.message.startswith("Query could not be parsed at 'facet' on line [1,")
    with pytest.raises(KqlError) as info:
        run_query(f'{P} | where DeviceNme == "x"', tables, now=NOW)
    assert info.value.message.startswith(
        "'where' operator: Failed to resolve scalar expression named 'DeviceNme' (line 1, column 29)")


def test_non_string_query_is_refused(tables):
    with pytest.raises(KqlError):
        run_query(None, tables, now=NOW)  # type: ignore[arg-type]
