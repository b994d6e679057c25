"""KQL evaluator speed against a plain Python loop computing the same answer, in the same run,
and the share of published hunting queries the simulated hunting service evaluates.

    python benchmarks/kql.py [--rows 100000] [--repeat 5] [--no-corpus]

Builds DeviceProcessEvents-like rows, then times

    DeviceProcessEvents | where Timestamp > ago(7d) and FileName =~ "powershell.exe"
    | summarize count() by DeviceName

through ``run_query`` (parse, compile and run) and a hand-written loop doing the same filter
and count over the same row dicts. Medians over the repetitions; target: ours ≤ 5× the loop.
Both answers must be equal.

Then it runs the corpus of published hunting queries (tests/kql_corpus/, run by its harness.py)
once through ``POST /v1.0/security/runHuntingQuery`` on a default seeded simulated cloud and
reports how many evaluate, how many are refused as not supported, how many get a misleading
refusal or crash, and the time per query (p50/p95/max). Target: ≥ 80 % evaluated with no
misleading refusal, no crash and no query over 2 s.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from soar_defender.kql import Table, run_query  # noqa: E402
from soar_defender.kql.schemas import SCHEMAS  # noqa: E402

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
QUERY = ('DeviceProcessEvents | where Timestamp > ago(7d) and FileName =~ "powershell.exe" '
         "| summarize count() by DeviceName")
TARGET = 5.0
CORPUS_TARGET = 0.80  # share of the corpus evaluated (with no misleading refusal, crash or slow query)
HARNESS = Path(__file__).resolve().parent.parent / "tests" / "kql_corpus" / "harness.py"
_FILES = ["powershell.exe", "PowerShell.exe", "POWERSHELL.EXE", "cmd.exe", "chrome.exe", "msedge.exe",
          "svchost.exe", "explorer.exe", "ms-teams.exe", "OUTLOOK.EXE", "conhost.exe", "notepad.exe"]
_COLUMNS = ["Timestamp", "DeviceId", "DeviceName", "ActionType", "FileName", "FolderPath", "SHA1", "SHA256",
            "ProcessCommandLine", "AccountName", "InitiatingProcessFileName", "ProcessId"]


def build_table(rows: int, seed: int = 1) -> Table:
    """``rows`` process events over 30 days on 500 devices, a quarter of them powershell."""
    rng = random.Random(seed)
    digests = {f: hashlib.sha256(f.encode()).hexdigest() for f in _FILES}
    columns = [c for c in SCHEMAS["DeviceProcessEvents"] if c.name in _COLUMNS]
    data = []
    for i in range(rows):
        device = rng.randrange(500)
        file = rng.choice(_FILES)
        data.append({"Timestamp": NOW - timedelta(seconds=rng.randrange(30 * 86400)),
                     "DeviceId": f"{device:040x}", "DeviceName": f"pc{device:03d}.contoso.com",
                     "ActionType": "ProcessCreated", "FileName": file, "FolderPath": rf"C:\Windows\System32\{file}",
                     "SHA1": digests[file][:40], "SHA256": digests[file],
                     "ProcessCommandLine": f"{file} -n {i}", "AccountName": f"user{device % 40}",
                     "InitiatingProcessFileName": "explorer.exe", "ProcessId": rng.randrange(1000, 30000)})
    return Table("DeviceProcessEvents", columns, data)


def reference(table: Table) -> dict[str, int]:
    """The same answer, written by hand."""
    since = NOW - timedelta(days=7)
    counts: dict[str, int] = {}
    for r in table.rows:
        if r["Timestamp"] > since and r["FileName"].lower() == "powershell.exe":
            counts[r["DeviceName"]] = counts.get(r["DeviceName"], 0) + 1
    return counts


def ours(table: Table) -> dict[str, int]:
    result = run_query(QUERY, {"DeviceProcessEvents": table}, now=NOW)
    return {r["DeviceName"]: r["count_"] for r in result.rows}


def _timed(fn, table: Table) -> tuple[float, dict]:
    started = time.perf_counter()
    answer = fn(table)
    return time.perf_counter() - started, answer


def measure(rows: int = 100_000, repeat: int = 5) -> list[dict]:
    """Rows for the summary table (also used by benchmarks/run.py)."""
    table = build_table(rows)
    ours_times, ref_times = [], []
    for _ in range(repeat):  # interleaved, so load from elsewhere on the machine hits both alike
        seconds, ours_answer = _timed(ours, table)
        ours_times.append(seconds)
        seconds, ref_answer = _timed(reference, table)
        ref_times.append(seconds)
    ours_s, ref_s = statistics.median(ours_times), statistics.median(ref_times)
    if ours_answer != ref_answer:
        raise AssertionError(f"run_query and the reference loop disagree: {len(ours_answer)} vs {len(ref_answer)} groups")
    ratio = ours_s / ref_s
    return [{"measure": f"KQL where + summarize count() by, {rows:,} rows",
             "ours": f"{rows / ours_s:,.0f} rows/s", "reference": f"Python loop {rows / ref_s:,.0f} rows/s",
             "ratio": ratio, "target": f"≤ {TARGET:g}", "met": ratio <= TARGET,
             "noise": f"ours {min(ours_times) * 1e3:.0f}–{max(ours_times) * 1e3:.0f} ms; "
                      f"ref {min(ref_times) * 1e3:.0f}–{max(ref_times) * 1e3:.0f} ms (n={repeat})"}]


def load_harness():
    """tests/kql_corpus/harness.py (that folder is not a package, so it is loaded by path)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("kql_corpus_harness", HARNESS)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def measure_corpus() -> dict:
    """One summary row: the corpus of published hunting queries through the HTTP route."""
    harness = load_harness()
    summary = harness.summarize(harness.run_corpus())
    c, rate = summary.counts, summary.evaluated_rate
    clean = c["misleading"] == 0 and c["crashed"] == 0 and summary.slow == 0
    return {"measure": f"KQL published hunting queries evaluated ({summary.total}, over HTTP)",
            "ours": f"{c['evaluated']}/{summary.total} evaluated ({rate:.0%})",
            "reference": f"{summary.total} published queries (tests/kql_corpus)",
            "ratio": rate, "target": f"≥ {CORPUS_TARGET:g}, 0 misleading", "met": rate >= CORPUS_TARGET and clean,
            "noise": f"refused {c['refused']}, misleading {c['misleading']}, crashed {c['crashed']}, "
                     f"over {harness.SLOW_SECONDS:g} s {summary.slow}; per query p50 {summary.p50 * 1e3:.0f} ms, "
                     f"p95 {summary.p95 * 1e3:.0f} ms, max {summary.max * 1e3:.0f} ms",
            "summary": summary, "report": harness.report(summary, top=10)}


def rows(quick: bool) -> list:
    """The summary rows for ``python -m benchmarks`` (benchmarks/common.py)."""
    from benchmarks.common import Row

    return [Row.from_dict(r) for r in measure(20_000 if quick else 100_000, 2 if quick else 5)
            + [measure_corpus()]]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--no-corpus", action="store_true", help="time the evaluator only")
    args = ap.parse_args(argv)
    print(QUERY)
    ok = True
    for row in measure(args.rows, args.repeat):
        met = "met" if row["met"] else "NOT met"
        ok &= row["met"]
        print(f"  {row['measure']:45s} {row['ours']:>18s} vs {row['reference']:>30s}  ratio {row['ratio']:5.2f}  "
              f"target {row['target']} {met}")
    if not args.no_corpus:
        row = measure_corpus()
        ok &= row["met"]
        print(f"\n  {row['measure']}: {row['ours']}  target {row['target']} {'met' if row['met'] else 'NOT met'}"
              f"\n  {row['noise']}\n")
        print(row["report"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
