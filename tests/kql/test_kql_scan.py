"""scan beyond the reference page's examples (those run in test_kql_reference_examples.py):
output=last, the sequence detection a hunt writes, and the mistakes a user can make."""

from __future__ import annotations

import pytest

from soar_defender.kql import KqlError, run_query

from kql_dataset import NOW

EVENTS = ('datatable(Ts: timespan, Device: string, Action: string)[0m, "d1", "logon", 1m, "d1", "download", '
          '2m, "d1", "download", 3m, "d1", "run", 20m, "d1", "logon", 30m, "d1", "run"]')


def _rows(query: str, tables) -> list[dict]:
    return run_query(query, tables, now=NOW).to_json_rows()


def test_output_last_keeps_only_the_last_of_a_run_of_repeats(tables):
    rows = _rows(f"{EVENTS} | sort by Ts asc | scan with_match_id=m with ("
                 'step a: Action == "logon"; step b output=last: Action == "download"; step c: Action == "run";)',
                 tables)
    # the run at 30m extends sequence 0, still active at step c (check 2), as the reference's logic says
    assert [(r["Ts"], r["Action"], r["m"]) for r in rows] == [
        ("00:00:00", "logon", 0), ("00:02:00", "download", 0), ("00:03:00", "run", 0), ("00:20:00", "logon", 1),
        ("00:30:00", "run", 0)]


def test_a_sequence_within_a_time_window(tables):
    """logon, then a run within 5 minutes of it: the first logon's run matches, the second's does not."""
    rows = _rows(f"{EVENTS} | sort by Ts asc | scan declare (Started: timespan) with ("
                 '  step logon output=none: Action == "logon" => Started = Ts;'
                 '  step run: Action == "run" and Ts - logon.Started <= 5m => Started = logon.Started;)'
                 "| project Ts, Started", tables)
    assert rows == [{"Ts": "00:03:00", "Started": "00:00:00"}]


@pytest.mark.parametrize("query,message", [
    ("scan with (step s: true => x = 1;)", "'x' is not declared"),
    ("scan with (step s: 42;)", "must be a bool"),
    ("scan with ()", "expected 'step Name: Condition;'"),
    ("scan with (step s output=first: true;)", "expected 'all', 'last' or 'none'"),
    ("scan declare (n: long) (step s: true;)", "expected 'with'"),
])
def test_mistakes_are_named(tables, query, message):
    with pytest.raises(KqlError, match=message):
        run_query(f"{EVENTS} | {query}", tables, now=NOW)
