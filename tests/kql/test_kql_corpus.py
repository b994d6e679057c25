"""Published hunting queries (tests/kql_corpus/) through the real HTTP route, on the default seeded
simulated cloud: none may crash or take over 2 s; the share evaluated and the misleading refusals
may not regress past the thresholds in THRESHOLDS.

The issue's target is THRESHOLDS["target_rate"] evaluated with no misleading refusal; the floor
and ceiling below are what the evaluator achieves today, so this test fails on a regression —
raise them as the evaluator improves. Run the corpus by hand with
``python tests/kql_corpus/harness.py --show misleading`` (or refused/crashed/slow).
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

HARNESS = Path(__file__).resolve().parents[1] / "kql_corpus" / "harness.py"

# The one place the corpus thresholds live.
THRESHOLDS = {
    "min_queries": 1050,       # the corpus itself: published queries collected
    "evaluated_rate": 0.96,    # floor: share of the corpus that evaluates today (target_rate is the goal)
    "misleading": 0,         # ceiling: refusals not in the "... is not supported by ..." form (goal: 0)
    "crashed": 0,
    "slow": 0,                 # queries over harness.SLOW_SECONDS
    "target_rate": 0.80,
}


def _load():
    spec = importlib.util.spec_from_file_location("kql_corpus_harness", HARNESS)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


harness = _load()


@pytest.fixture(scope="module")
def endpoints():
    """The corpus through Graph, XDR and MDE, on one simulated cloud (one frozen clock) served
    over HTTP on loopback, as `soar sim serve` serves it."""
    return harness.run_corpus_on(("graph", "xdr", "mde"), loopback=True)


@pytest.fixture(scope="module")
def run(endpoints):
    outcomes = endpoints["graph"]
    summary = harness.summarize(outcomes)
    print("\n" + harness.report(summary, top=30))  # shown with -s, and in the failure output
    return outcomes, summary


def _listing(outcomes, kind: str) -> str:
    return "\n".join(f"  {o.query.source}/{o.query.name}: {o.message or f'{o.seconds:.2f} s'}" for o in outcomes
                     if (o.slow if kind == "slow" else o.outcome == kind))


def test_corpus_is_published_attributed_and_distinct():
    queries = harness.load_corpus()
    assert len(queries) >= THRESHOLDS["min_queries"]
    assert len({q.text for q in queries}) == len(queries), "the same query is in the corpus twice"
    assert len({q.source for q in queries}) >= 4
    assert all(q.origin for q in queries)
    for path in sorted(HARNESS.parent.glob("*/*.kql")):
        head = path.read_text(encoding="utf-8").split("// query:")[0]
        assert "// source:" in head and "// license:" in head, f"{path}: no source or licence header"
    readme = (HARNESS.parent / "README.md").read_text(encoding="utf-8")
    sources = {p.parent.name for p in HARNESS.parent.glob("*/*.kql")}
    assert all(f"`{name}/`" in readme for name in sources), "a source folder not in README.md"


def test_no_query_crashes(run):
    outcomes, summary = run
    assert summary.counts["crashed"] <= THRESHOLDS["crashed"], "crashed:\n" + _listing(outcomes, "crashed")


def test_no_query_is_slow(run):
    outcomes, summary = run
    assert summary.slow <= THRESHOLDS["slow"], f"over {harness.SLOW_SECONDS} s:\n" + _listing(outcomes, "slow")


def test_evaluated_share_does_not_regress(run):
    outcomes, summary = run
    assert summary.evaluated_rate >= THRESHOLDS["evaluated_rate"], harness.report(summary)


def test_misleading_refusals_do_not_grow(run):
    outcomes, summary = run
    assert summary.counts["misleading"] <= THRESHOLDS["misleading"], \
        "misleading refusals:\n" + _listing(outcomes, "misleading")


def test_every_query_has_exactly_one_outcome(run):
    outcomes, summary = run
    assert len(outcomes) == summary.total == len(harness.load_corpus())
    assert sum(summary.counts.values()) == summary.total
    assert all(o.outcome in harness.OUTCOMES for o in outcomes)
    assert all((o.rows is not None) == (o.outcome == "evaluated") for o in outcomes)


_RANDOM = re.compile(r"\b(rand|new_guid)\s*\(|\|\s*sample\b")


def _answer(o) -> tuple:
    """What two endpoints must agree on: the rows too, unless the query draws random values
    (rand(), new_guid(), sample), where only the outcome and the schema can agree."""
    if o.outcome != "evaluated":
        return (o.outcome, o.message)
    return (o.outcome, o.columns) + (() if _RANDOM.search(o.query.text) else (o.results,))


MDE_DEVICE_TABLES_ONLY = "serves the Device* tables only"
_SEARCH_EVERY_TABLE = re.compile(r"(^|\|)\s*(search|find)\b(?!\s+(withsource\s*=\s*\w+\s+)?in\s*\()", re.MULTILINE)


def test_graph_xdr_and_mde_give_the_same_answers(endpoints):
    """Each query through the three real routes, each with its own token: XDR answers exactly as
    Graph does (outcome, schema, rows, refusal message); MDE too, except that it serves the Device*
    tables only, so a query reading another table is refused there, saying so."""
    graph, xdr, mde = endpoints["graph"], endpoints["xdr"], endpoints["mde"]
    assert [o.query for o in xdr] == [o.query for o in mde] == [o.query for o in graph]
    differ = [g.query.name for g, x in zip(graph, xdr) if _answer(g) != _answer(x)]
    assert differ == [], f"XDR answers differently from Graph: {differ}"
    same = device_only = 0
    wrong = []
    for g, m in zip(graph, mde):
        if _answer(g) == _answer(m):
            same += 1
        elif _SEARCH_EVERY_TABLE.search(g.query.text) and g.outcome == m.outcome == "evaluated":
            # search/find with no table list reads every table the endpoint serves: on MDE the
            # Device* ones, so fewer rows and another union schema than on Graph
            assert len(m.results) <= len(g.results), g.query.name
            device_only += 1
        elif m.outcome == "misleading" and MDE_DEVICE_TABLES_ONLY in m.message:
            table = m.message.split("'")[1]
            assert not table.startswith("Device") and table in g.query.text, (g.query.name, m.message)
            device_only += 1
        else:
            wrong.append((g.query.name, _answer(g)[:2], _answer(m)[:2]))
    assert wrong == [], f"MDE answers differently from Graph: {wrong}"
    evaluated = sum(o.outcome == "evaluated" for o in graph)
    assert same >= evaluated // 2, (same, device_only)  # most published queries read Device* tables


# ---- the harness itself ----------------------------------------------------------------------

def test_corpus_file_layout(tmp_path):
    good = tmp_path / "src" / "doc.kql"
    good.parent.mkdir()
    good.write_text("// source: owner/repo/doc.md\n// license: MIT\n\n// query: a\nT | take 1\n\n// query: b\n"
                    "// a comment in the query\nT\n| count\n", encoding="utf-8")
    queries = harness.parse_file(good, "src")
    assert [(q.name, q.origin, q.text) for q in queries] == [
        ("doc/a", "owner/repo/doc.md", "T | take 1"), ("doc/b", "owner/repo/doc.md", "// a comment in the query\nT\n| count")]
    bad = tmp_path / "src" / "nosource.kql"
    bad.write_text("// query: a\nT\n", encoding="utf-8")
    with pytest.raises(ValueError, match="source"):
        harness.parse_file(bad, "src")


def test_blocker_names_the_construct_or_keeps_the_message():
    assert harness.blocker("'mv-apply' is not supported by the simulated hunting service (line 3, column 2)") \
        == "'mv-apply' (not supported)"
    assert harness.blocker("'summarize' operator: 'make_list_if' is not supported by the simulated hunting "
                           "service (line 1, column 20)") == "'make_list_if' (not supported)"
    assert harness.blocker("Query could not be parsed at 'x' on line [2,5]: expected ')'") \
        == "Query could not be parsed at 'x': expected ')'"
    assert harness.blocker("Query could not be parsed at 'search' on line [4,1]: 'search' is not supported by the "
                           "simulated hunting service") == "'search' (not supported)"


def test_summary_counts_rates_and_ranks_blockers():
    q = harness.CorpusQuery("s", "d/q", "o", "T")
    not_supported = "'x' is not supported by the simulated hunting service (line 1, column 1)"
    outcomes = [harness.Outcome(q, "evaluated", 0.1, rows=2), harness.Outcome(q, "evaluated", 0.2, rows=0),
                harness.Outcome(q, "refused", 0.3, message=not_supported),
                harness.Outcome(q, "refused", 0.1, message=not_supported),
                harness.Outcome(q, "misleading", 2.5, message="Unknown function: 'y' (line 2, column 3)")]
    summary = harness.summarize(outcomes)
    assert summary.counts == {"evaluated": 2, "refused": 2, "misleading": 1, "crashed": 0}
    assert summary.evaluated_rate == 0.4 and summary.rows_found == 1 and summary.slow == 1
    assert summary.blockers[0] == ("'x' (not supported)", 2) and summary.max == 2.5
    assert "2 evaluated (40%" in harness.report(summary)


def test_classification_over_the_real_route():
    q = harness.CorpusQuery
    outcomes = harness.run_corpus([
        q("t", "t/ok", "o", "DeviceInfo | take 3"),
        q("t", "t/typo", "o", "DeviceInfoo | take 3"),  # a real mistake: refused, and not with the clear form
        q("t", "t/external", "o", 'externaldata(IP: string)[@"https://example.com/ips.txt"] with (format="txt")'),
    ])
    assert [o.outcome for o in outcomes] == ["evaluated", "misleading", "refused"]
    assert outcomes[0].rows == 3 and "DeviceInfoo" in outcomes[1].message
    assert harness.blocker(outcomes[2].message) == "'externaldata' (not supported)"
