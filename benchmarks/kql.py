"""KQL evaluator speed against a plain Python loop computing the same answer, in the same run.

    python benchmarks/kql.py [--rows 100000] [--repeat 5]

Builds DeviceProcessEvents-like rows, then times

    DeviceProcessEvents | where Timestamp > ago(7d) and FileName =~ "powershell.exe"
    | summarize count() by DeviceName

through ``run_query`` (parse, compile and run) and a hand-written loop doing the same filter
and count over the same row dicts. Medians over the repetitions; target: ours ≤ 5× the loop.
Both answers must be equal.
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


def rows(quick: bool) -> list:
    """The summary rows for ``python -m benchmarks`` (benchmarks/common.py)."""
    from benchmarks.common import Row

    return [Row.from_dict(r) for r in measure(20_000 if quick else 100_000, 2 if quick else 5)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    print(QUERY)
    ok = True
    for row in measure(args.rows, args.repeat):
        met = "met" if row["met"] else "NOT met"
        ok &= row["met"]
        print(f"  {row['measure']:45s} {row['ours']:>18s} vs {row['reference']:>30s}  ratio {row['ratio']:5.2f}  "
              f"target {row['target']} {met}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
