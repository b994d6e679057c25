"""benchmarks/kql.py keeps working: same answer as the reference loop, rows in the shared format."""

from __future__ import annotations

import importlib.util
from pathlib import Path


def _load():
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "kql.py"
    spec = importlib.util.spec_from_file_location("kql_benchmark", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_measure_rows_have_the_summary_shape():
    bench = _load()
    rows = bench.measure(rows=3000, repeat=1)  # raises if run_query and the loop disagree
    assert len(rows) == 1
    assert {"measure", "ours", "reference", "ratio", "target", "met"} <= set(rows[0])  # + noise (min/max)
    assert rows[0]["ratio"] > 0 and isinstance(rows[0]["met"], bool)


def test_benchmark_answer_matches_reference_and_is_not_trivial():
    bench = _load()
    table = bench.build_table(5000)
    answer = bench.ours(table)
    assert answer == bench.reference(table)
    assert sum(answer.values()) > 100
