"""make-series and the series_* functions, with known answers over kql_dataset.py."""

from __future__ import annotations

from soar_defender.kql import run_query

from kql_dataset import NOW

P = "DeviceProcessEvents"


def _rows(result):
    return result.to_json_rows()


def test_make_series_by_group_with_from_to_and_default(tables):
    result = run_query(f"{P} | make-series n = count() default = -1 on Timestamp from ago(3d) to now() step 1d "
                       "by DeviceId | order by DeviceId asc", tables, now=NOW)
    assert [f"{c.name}:{c.type}" for c in result.columns] == ["DeviceId:string", "n:dynamic", "Timestamp:dynamic"]
    axis = ["2026-11-20T12:00:00Z", "2026-11-21T12:00:00Z", "2026-11-22T12:00:00Z"]
    assert _rows(result) == [{"DeviceId": "d1", "n": [-1, -1, 2], "Timestamp": axis},
                             {"DeviceId": "d2", "n": [1, -1, 1], "Timestamp": axis},
                             {"DeviceId": "d3", "n": [-1, -1, 1], "Timestamp": axis}]


def test_make_series_without_bounds_starts_at_the_first_step_with_data(tables):
    result = run_query(f'{P} | where DeviceId == "d2" | make-series sum(FileSize), avg(FileSize) on Timestamp step 1d',
                       tables, now=NOW)
    assert _rows(result) == [{"sum_FileSize": [2500000, 0, 450000], "avg_FileSize": [2500000.0, 0, 450000.0],
                              "Timestamp": ["2026-11-20T00:00:00Z", "2026-11-21T00:00:00Z", "2026-11-22T00:00:00Z"]}]


def test_make_series_of_nothing(tables):
    empty = run_query(f'{P} | where FileName == "none" | make-series count() on Timestamp step 1h', tables, now=NOW)
    assert empty.rows == []
    kept = run_query(f'{P} | where FileName == "none" | make-series kind=nonempty count() on Timestamp '
                     "from datetime(2026-11-23) to datetime(2026-11-23 02:00) step 1h", tables, now=NOW)
    assert _rows(kept) == [{"count_": [0, 0], "Timestamp": ["2026-11-23T00:00:00Z", "2026-11-23T01:00:00Z"]}]


def test_anomalies_then_mv_expand_as_published_queries_do(tables):
    query = ("print id = 1, s = dynamic([5, 5, 6, 5, 5, 60, 5, 6, 5, 5]) "
             "| extend (anomalies, score, baseline) = series_decompose_anomalies(s, 1.5, 0, 'avg') "
             "| mv-expand with_itemindex=i s to typeof(long), anomalies to typeof(double), baseline to typeof(long) "
             "| where anomalies != 0 | project i, s, anomalies, baseline")
    assert run_query(query, tables, now=NOW).rows == [{"i": 5, "s": 60, "anomalies": 1.0, "baseline": 10}]


def test_decompose_finds_a_weekly_pattern():
    from soar_defender.kql.series import decompose
    week = [10.0, 10.0, 10.0, 10.0, 10.0, 2.0, 2.0]
    baseline, seasonal, trend, residual = decompose(week * 6)
    assert [round(v, 6) for v in baseline[:7]] == week  # the period of 7 is found, residuals vanish
    assert max(abs(r) for r in residual) < 1e-9


def test_tuple_functions_name_their_columns(tables):
    result = run_query("print s = dynamic([1, 2, 3, 4]) | extend series_stats(s), fit = series_fit_line(s) "
                       "| project series_stats_s_max, series_stats_s_avg, fit_slope, fit_rsquare", tables, now=NOW)
    assert result.rows == [{"series_stats_s_max": 4.0, "series_stats_s_avg": 2.5, "fit_slope": 1.0,
                            "fit_rsquare": 1.0}]


def test_series_element_functions(tables):
    result = run_query("print a = series_add(dynamic([1, 2]), dynamic([10, 20])), b = series_greater(dynamic([1, 5]), 2), "
                       "c = series_fill_forward(dynamic([1, null, null, 4])), "
                       "d = series_fill_const(dynamic([1, null]), 0), e = series_fill_linear(dynamic([1, null, 3]))",
                       tables, now=NOW)
    assert result.rows == [{"a": [11, 22], "b": [False, True], "c": [1, 1, 1, 4], "d": [1, 0], "e": [1, 2.0, 3]}]
