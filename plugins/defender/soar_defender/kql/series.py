"""Time series: the ``series_*`` functions over dynamic arrays of numbers (the output of
``make-series``, see makeseries.py).

``series_decompose_anomalies()`` follows Kusto's documented algorithm: the series is split into
trend (``avg``, ``linefit`` or ``none``), seasonal component and residual (series_decompose);
the residual's outliers are scored with Tukey's fence (``ctukey``: the 10th-90th percentile
range, ``tukey``: 25th-75th), and scores beyond the threshold are flagged +1/-1. Seasonality
auto-detection (-1) picks the period with the strongest autocorrelation, when that correlation
reaches the seasonality threshold (0.6); Kusto's own period detection may choose differently.
Functions returning several series (``series_decompose_anomalies``, ``series_decompose``,
``series_stats``, ``series_fit_line``) are tuples: assign them with ``(a, b, c) = ...`` or let
them name their columns (``series_stats_x_min``, ...).
"""

from __future__ import annotations

import math
from typing import Any

from .signatures import ANY, DYNAMIC, Function, rule

_NUMBER = (int, float)


def _numbers(series: Any) -> list[float] | None:
    if not isinstance(series, list):
        return None
    out = []
    for v in series:
        if isinstance(v, bool) or not isinstance(v, _NUMBER) and v is not None:
            return None
        out.append(float(v) if v is not None else math.nan)
    return out


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.nan
    position = (len(ordered) - 1) * p / 100
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _line(values: list[float]) -> tuple[float, float]:
    """(slope, intercept) of the least-squares line through (i, values[i])."""
    n = len(values)
    if n < 2:
        return 0.0, values[0] if values else 0.0
    mean_x, mean_y = (n - 1) / 2, sum(values) / n
    sxx = sum((i - mean_x) ** 2 for i in range(n))
    slope = sum((i - mean_x) * (v - mean_y) for i, v in enumerate(values)) / sxx
    return slope, mean_y - slope * mean_x


def _period(values: list[float], threshold: float) -> int:
    """The lag with the strongest autocorrelation (0 when none reaches ``threshold``)."""
    n = len(values)
    mean = sum(values) / n if n else 0.0
    centred = [v - mean for v in values]
    energy = sum(c * c for c in centred)
    if n < 8 or energy == 0:
        return 0
    best, best_score = 0, threshold
    for lag in range(2, n // 2 + 1):
        score = sum(centred[i] * centred[i - lag] for i in range(lag, n)) / energy
        if score >= best_score:
            best, best_score = lag, score
    return best


def decompose(series: Any, seasonality: Any = -1, trend: Any = "avg", test_points: Any = 0,
              seasonality_threshold: Any = 0.6) -> tuple | None:
    """(baseline, seasonal, trend, residual) of a numeric series."""
    values = _numbers(series)
    if values is None:
        return None
    values = [0.0 if math.isnan(v) else v for v in values]
    n = len(values)
    learn = values[:max(n - (test_points if isinstance(test_points, int) else 0), 0)] or values
    if trend == "linefit":
        slope, intercept = _line(learn)
        trend_part = [intercept + slope * i for i in range(n)]
    elif trend == "none":
        trend_part = [0.0] * n
    else:
        mean = sum(learn) / len(learn) if learn else 0.0
        trend_part = [mean] * n
    period = seasonality if isinstance(seasonality, int) and seasonality > 0 else 0
    if seasonality == -1:
        period = _period([v - t for v, t in zip(learn, trend_part)],
                         seasonality_threshold if isinstance(seasonality_threshold, _NUMBER) else 0.6)
    seasonal = [0.0] * n
    if period:
        phases: dict[int, list[float]] = {}
        for i, v in enumerate(learn):
            phases.setdefault(i % period, []).append(v - trend_part[i])
        averages = {k: sum(v) / len(v) for k, v in phases.items()}
        seasonal = [averages.get(i % period, 0.0) for i in range(n)]
    baseline = [s + t for s, t in zip(seasonal, trend_part)]
    residual = [v - b for v, b in zip(values, baseline)]
    return baseline, seasonal, trend_part, residual


def outlier_scores(values: list[float], method: str = "ctukey") -> list[float]:
    low_p, high_p = (25, 75) if method == "tukey" else (10, 90)
    q1, q3 = _percentile(values, low_p), _percentile(values, high_p)
    spread = q3 - q1
    scores = []
    for v in values:
        if spread <= 0:
            scores.append(0.0)
        elif v > q3:
            scores.append((v - q3) / spread)
        elif v < q1:
            scores.append((v - q1) / spread)
        else:
            scores.append(0.0)
    return scores


def _anomalies(series: Any, threshold: Any = 1.5, seasonality: Any = -1, trend: Any = "avg",
               test_points: Any = 0, method: Any = "ctukey", seasonality_threshold: Any = 0.6) -> tuple | None:
    parts = decompose(series, seasonality, trend, test_points, seasonality_threshold)
    if parts is None:
        return None
    baseline, _, _, residual = parts
    k = float(threshold) if isinstance(threshold, _NUMBER) and not isinstance(threshold, bool) else 1.5
    scores = outlier_scores(residual, method if method in ("tukey", "ctukey") else "ctukey")
    flags = [1 if s > k else (-1 if s < -k else 0) for s in scores]
    return flags, scores, baseline


def _stats(series: Any, ignore_nonfinite: Any = False) -> tuple | None:
    values = _numbers(series)
    if values is None:
        return None
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return None, None, None, None, None, None, None
    n = len(finite)
    mean = sum(finite) / n
    variance = sum((v - mean) ** 2 for v in finite) / (n - 1) if n > 1 else 0.0
    low, high = min(finite), max(finite)
    return low, values.index(low), high, values.index(high), mean, math.sqrt(variance), variance


def _fit_line(series: Any) -> tuple | None:
    values = _numbers(series)
    if not values:
        return None
    slope, intercept = _line(values)
    fitted = [intercept + slope * i for i in range(len(values))]
    mean = sum(values) / len(values)
    total = sum((v - mean) ** 2 for v in values)
    residual = sum((v - f) ** 2 for v, f in zip(values, fitted))
    rsquare = 1 - residual / total if total else 1.0
    variance = total / (len(values) - 1) if len(values) > 1 else 0.0
    rvariance = residual / (len(values) - 1) if len(values) > 1 else 0.0
    return rsquare, slope, variance, rvariance, intercept, fitted


def _elementwise(op):
    def apply(a: Any, b: Any) -> list | None:
        if isinstance(a, list) and isinstance(b, list):
            pairs = zip(a, b)
        elif isinstance(a, list):
            pairs = ((x, b) for x in a)
        elif isinstance(b, list):
            pairs = ((a, y) for y in b)
        else:
            return None
        out = []
        for x, y in pairs:
            try:
                out.append(None if x is None or y is None else op(x, y))
            except (TypeError, ZeroDivisionError, ValueError, OverflowError):
                out.append(None)
        return out
    return apply


def _fill(kind: str):
    def apply(series: Any, *args: Any) -> list | None:
        if not isinstance(series, list):
            return None
        missing = args[1] if kind == "const" and len(args) > 1 else (args[0] if kind != "const" and args else None)
        values = [None if v == missing or v is None else v for v in series]
        if kind == "const":
            constant = args[0] if args else 0
            return [constant if v is None else v for v in values]
        order = range(len(values)) if kind == "forward" else range(len(values) - 1, -1, -1)
        out, last = list(values), None
        for i in order:
            if out[i] is None:
                out[i] = last
            else:
                last = out[i]
        return out
    return apply


def _fill_linear(series: Any, *args: Any) -> list | None:
    if not isinstance(series, list):
        return None
    missing = args[0] if args else None
    values = [None if v == missing or v is None else v for v in series]
    known = [i for i, v in enumerate(values) if v is not None]
    out = list(values)
    for a, b in zip(known, known[1:]):
        for i in range(a + 1, b):
            out[i] = values[a] + (values[b] - values[a]) * (i - a) / (b - a)
    return out


_F = Function
_SERIES = rule("dynamic", DYNAMIC, ANY)
FUNCTIONS = [
    _F("series_decompose_anomalies", 1, 7, rule("dynamic"), _anomalies,
       outputs=(("ad_flag", "dynamic"), ("ad_score", "dynamic"), ("baseline", "dynamic"))),
    _F("series_decompose", 1, 5, rule("dynamic"),
       lambda *a: None if (p := decompose(*a)) is None else (p[0], p[1], p[2], p[3]),
       outputs=(("baseline", "dynamic"), ("seasonal", "dynamic"), ("trend", "dynamic"), ("residual", "dynamic"))),
    _F("series_stats", 1, 2, rule("dynamic"), _stats,
       outputs=(("min", "real"), ("min_idx", "long"), ("max", "real"), ("max_idx", "long"), ("avg", "real"),
                ("stdev", "real"), ("variance", "real"))),
    _F("series_stats_dynamic", 1, 2, rule("dynamic"),
       lambda *a: None if (t := _stats(*a)) is None else dict(zip(
           ("min", "min_idx", "max", "max_idx", "avg", "stdev", "variance"), t))),
    _F("series_fit_line", 1, 1, rule("dynamic"), _fit_line,
       outputs=(("rsquare", "real"), ("slope", "real"), ("variance", "real"), ("rvariance", "real"),
                ("interception", "real"), ("line_fit", "dynamic"))),
    _F("series_fit_line_dynamic", 1, 1, rule("dynamic"),
       lambda s: None if (t := _fit_line(s)) is None else dict(zip(
           ("rsquare", "slope", "variance", "rvariance", "interception", "line_fit"), t))),
    _F("series_outliers", 1, 6, _SERIES,
       lambda s, kind="ctukey", *rest: None if (v := _numbers(s)) is None else outlier_scores(v, kind)),
    _F("series_add", 2, 2, _SERIES, _elementwise(lambda x, y: x + y)),
    _F("series_subtract", 2, 2, _SERIES, _elementwise(lambda x, y: x - y)),
    _F("series_multiply", 2, 2, _SERIES, _elementwise(lambda x, y: x * y)),
    _F("series_divide", 2, 2, _SERIES, _elementwise(lambda x, y: x / y)),
    _F("series_greater", 2, 2, _SERIES, _elementwise(lambda x, y: x > y)),
    _F("series_greater_equals", 2, 2, _SERIES, _elementwise(lambda x, y: x >= y)),
    _F("series_less", 2, 2, _SERIES, _elementwise(lambda x, y: x < y)),
    _F("series_less_equals", 2, 2, _SERIES, _elementwise(lambda x, y: x <= y)),
    _F("series_equals", 2, 2, _SERIES, _elementwise(lambda x, y: x == y)),
    _F("series_not_equals", 2, 2, _SERIES, _elementwise(lambda x, y: x != y)),
    _F("series_fill_const", 1, 3, _SERIES, _fill("const")),
    _F("series_fill_forward", 1, 2, _SERIES, _fill("forward")),
    _F("series_fill_backward", 1, 2, _SERIES, _fill("backward")),
    _F("series_fill_linear", 1, 4, _SERIES, _fill_linear),
]
