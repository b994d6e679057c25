"""Conformance with Kusto's own reference: every example of the kusto_reference_*.py modules is a
query from a page of Microsoft's Kusto reference with the answer that page documents. Each one
runs through run_query and must give the documented columns and rows.

Only what must be is normalized: a datetime or timespan cell is parsed from the page's text form,
a real is compared to the digits the page shows, a dynamic cell is parsed from the page's JSON
text, a bool cell is read case-insensitively, and rows are compared as a multiset only where the
example's query fixes no order (``ordered=False``). An empty cell is Kusto's null (or an empty
string). An example whose page is wrong is skipped with the checked reason; one that needs a
change outside the functions modules is xfail(strict=True) with the reason.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime, timedelta

import pytest

from soar_defender.kql import run_query
from soar_defender.kql.model import jsonable

from kusto_reference_examples import EXAMPLES, NOW

_TIMESPAN = re.compile(r"^(-)?(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d{1,7}))?$")


def parse_doc_datetime(text: str) -> datetime:
    """A datetime as a page writes it: ``2017-01-01``, ``2017-01-01 10:00:00.0000000``,
    ``2017-01-01T10:00:00Z``, ``2017-01-01T10:00:00.1234567Z``."""
    text = text.strip().rstrip("Z").replace("T", " ")
    frac = ""
    if "." in text:
        text, frac = text.split(".", 1)
    for form in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"):
        try:
            value = datetime.strptime(text, form)
            break
        except ValueError:
            continue
    else:
        raise AssertionError(f"the page's datetime {text!r} is in no known form")
    micros = int((frac + "000000")[:6]) if frac else 0
    return value.replace(microsecond=micros, tzinfo=UTC)


def parse_doc_timespan(text: str) -> timedelta:
    m = _TIMESPAN.match(text.strip())
    assert m, f"the page's timespan {text!r} is in no known form"
    sign, days, hours, minutes, seconds, frac = m.groups()
    ticks = int((frac or "").ljust(7, "0"))
    value = timedelta(days=int(days or 0), hours=int(hours), minutes=int(minutes), seconds=int(seconds),
                      microseconds=ticks // 10)
    return -value if sign else value


def _close(ours: float, doc: str) -> bool:
    """Equal to the digits the page shows (a page rounds, or cuts, the last digit it shows)."""
    text = doc.strip()
    if text.lower() in ("nan", "infinity", "-infinity"):
        return str(jsonable(ours)).lower() == text.lower()
    expected = float(text)
    mantissa = text.lower().split("e")[0]
    decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
    exponent = int(text.lower().split("e")[1]) if "e" in text.lower() else 0
    unit = 10.0 ** (exponent - decimals)
    return math.isclose(ours, expected, rel_tol=1e-9) or abs(ours - expected) <= unit


def _same_json(ours, doc) -> bool:
    if isinstance(doc, float) and isinstance(ours, (int, float)) and not isinstance(ours, bool):
        return _close(float(ours), repr(doc))
    if isinstance(doc, list) and isinstance(ours, list):
        return len(doc) == len(ours) and all(_same_json(o, d) for o, d in zip(ours, doc))
    if isinstance(doc, dict) and isinstance(ours, dict):
        return doc.keys() == ours.keys() and all(_same_json(ours[k], doc[k]) for k in doc)
    return type(ours) is type(doc) and ours == doc if isinstance(doc, bool) or isinstance(ours, bool) \
        else ours == doc


def cell_matches(ours, kql_type: str, doc: str) -> bool:
    """Whether our value of type ``kql_type`` is the page's cell text ``doc``."""
    if kql_type != "string":
        doc = doc.strip()
    if ours is None or (ours == "" and kql_type == "string"):
        return doc == "" or (kql_type == "dynamic" and doc == "null")
    if doc == "" and kql_type != "string":
        return False
    if kql_type == "string":
        return ours == doc
    if kql_type in ("int", "long"):
        return re.fullmatch(r"-?\d+", doc) is not None and ours == int(doc)
    if kql_type in ("real", "decimal"):
        return _close(float(ours), doc)
    if kql_type == "bool":
        return doc.lower() == ("true" if ours else "false")
    if kql_type == "datetime":
        return ours == parse_doc_datetime(doc)
    if kql_type == "timespan":
        return ours == parse_doc_timespan(doc)
    if kql_type == "guid":
        return str(ours).lower() == doc.lower()
    if kql_type == "dynamic":
        try:
            expected = json.loads(doc.replace("<br>", "\n"))  # a page's line breaks in a cell
        except ValueError:
            return ours == doc
        return _same_json(jsonable(ours), expected)
    raise AssertionError(f"no comparison for type {kql_type}")


def _row_matches(row: dict, columns, doc_row: list[str]) -> bool:
    return len(doc_row) == len(columns) and all(
        cell_matches(row[c.name], c.type, cell) for c, cell in zip(columns, doc_row))


def _params():
    for ex in EXAMPLES:
        marks = []
        if ex.get("skip"):
            marks.append(pytest.mark.skip(reason=ex["skip"]))
        if ex.get("xfail"):
            marks.append(pytest.mark.xfail(strict=True, reason=ex["xfail"]))
        yield pytest.param(ex, id=ex["id"], marks=marks)


@pytest.mark.parametrize("example", list(_params()))
def test_documented_example(example: dict) -> None:
    result = run_query(example["query"], {}, now=NOW)
    columns = example["columns_fixed"][0] if "columns_fixed" in example else example["columns"]
    if columns is None:  # the page's header names a column the query does not: only the count is checked
        columns = example["columns"]
        assert len(result.columns) == len(columns)
    else:
        assert [c.name for c in result.columns] == list(columns), (
            f"columns {[c.name for c in result.columns]}; {example['page']} documents {columns}")
    got = result.rows
    want = [list(r) for r in example.get("rows_fixed", (None,))[0] or example["rows"]]
    shown = [[jsonable(r[c.name]) for c in result.columns] for r in got]
    assert len(got) == len(want), f"{len(got)} rows {shown}; the page documents {len(want)}: {want}"
    if example.get("ordered", True):
        for i, (row, doc_row) in enumerate(zip(got, want)):
            assert _row_matches(row, result.columns, doc_row), (
                f"row {i}: {shown[i]} ({[c.type for c in result.columns]}); the page documents {doc_row}")
        return
    unmatched = list(range(len(got)))
    for doc_row in want:
        hit = next((i for i in unmatched if _row_matches(got[i], result.columns, doc_row)), None)
        assert hit is not None, f"no row is {doc_row}; rows: {shown}"
        unmatched.remove(hit)


def test_the_suite_is_what_it_says() -> None:
    """Every example names its page and commit, and no example is listed twice."""
    ids = [ex["id"] for ex in EXAMPLES]
    assert len(ids) == len(set(ids))
    for ex in EXAMPLES:
        assert ex["page"].startswith("data-explorer/kusto/query/") and ex["page"].endswith(".md")
        assert re.fullmatch(r"[0-9a-f]{40}", ex["commit"])
        assert ex["columns"] and all(isinstance(r, (list, tuple)) for r in ex["rows"])


def test_cell_comparison_is_strict() -> None:
    """The normalization cannot make a wrong answer pass."""
    assert cell_matches(1.2346, "real", "1.2346") and not cell_matches(1.2356, "real", "1.2346")
    assert cell_matches(datetime(2017, 1, 1, tzinfo=UTC), "datetime", "2017-01-01T00:00:00Z")
    assert not cell_matches(datetime(2017, 1, 2, tzinfo=UTC), "datetime", "2017-01-01 00:00:00.0000000")
    assert cell_matches(timedelta(days=1, hours=2), "timespan", "1.02:00:00")
    assert not cell_matches(timedelta(hours=2), "timespan", "1.02:00:00")
    assert cell_matches(["a", 1], "dynamic", '["a",1]') and not cell_matches(["a", "1"], "dynamic", '["a",1]')
    assert not cell_matches(True, "dynamic", "1") and not cell_matches("1", "long", "1")
    assert not cell_matches(None, "long", "0") and cell_matches(None, "long", "")
