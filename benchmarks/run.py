"""Run every benchmark and print one table: measure, ours, reference, ratio, target, met, noise.

    python -m benchmarks [--quick] [--only a,b] [--skip a,b] [--markdown | --json] [--list]

Each benchmark module of this folder that defines ``rows(quick) -> list[Row]``
(``benchmarks/common.py``) is run in a child process of its own (so one benchmark's imports,
caches and garbage do not weigh on the next), and its rows are collected in order. Every row
holds a reference measured in the same run. ``--quick`` takes small sizes and one repetition:
a smoke run, not numbers to quote.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import re
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import ROOT, Row, child_env, format_table, machine  # noqa: E402

HERE = Path(__file__).resolve().parent
# Cheap and self-contained first, the long peer comparison near the end; modules not named
# here (a new benchmark) run after these, in name order.
ORDER = ["startup", "engine_overhead", "store_writes", "kql", "quotas", "fanout", "schedules", "throughput",
         "peer_ansible"]
NOT_BENCHMARKS = {"__init__", "__main__", "common", "run"}
_ROWS = re.compile(r"^def rows\(", re.MULTILINE)


def discover() -> tuple[list[str], list[str]]:
    """(benchmark module names in run order, modules without ``rows()``)."""
    names = sorted(p.stem for p in HERE.glob("*.py") if p.stem not in NOT_BENCHMARKS)
    ready = [n for n in names if _ROWS.search((HERE / f"{n}.py").read_text())]
    ordered = [n for n in ORDER if n in ready] + [n for n in ready if n not in ORDER]
    return ordered, [n for n in names if n not in ready]


def run_one(name: str, quick: bool) -> list[Row]:
    """In this process: import ``benchmarks.<name>`` and return its rows."""
    module = importlib.import_module(f"benchmarks.{name}")
    return list(module.rows(quick))


def run_child(name: str, quick: bool, timeout: float) -> list[Row]:
    """``run_one`` in a child process; a failure becomes an exception naming the benchmark."""
    cmd = [sys.executable, "-m", "benchmarks.run", "--one", name] + (["--quick"] if quick else [])
    done = subprocess.run(cmd, cwd=ROOT, env=child_env(), capture_output=True, text=True, timeout=timeout)
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("[")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-12:]
        raise RuntimeError(f"benchmark {name} failed (exit {done.returncode}):\n  " + "\n  ".join(tail))
    return [Row.from_dict(d) for d in json.loads(lines[-1])]


def _names(text: str | None) -> set[str]:
    return {n.strip() for n in (text or "").split(",") if n.strip()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, one repetition (smoke run)")
    ap.add_argument("--only", help="comma-separated benchmark names to run")
    ap.add_argument("--skip", help="comma-separated benchmark names to leave out")
    ap.add_argument("--markdown", action="store_true", help="print the table in Markdown (for docs/benchmarks.md)")
    ap.add_argument("--json", action="store_true", help="print {machine, date, rows} as JSON")
    ap.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds allowed per benchmark")
    ap.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one benchmark, print its rows as JSON
    args = ap.parse_args(argv)

    if args.one:
        print(json.dumps([r.to_dict() for r in run_one(args.one, args.quick)]))
        return 0
    names, without = discover()
    if args.list:
        print("\n".join(names))
        for n in without:
            print(f"{n} (no rows(): not part of the table)")
        return 0
    only, skip = _names(args.only), _names(args.skip)
    unknown = (only | skip) - set(names)
    if unknown:
        ap.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}; choose from {', '.join(names)}")
    chosen = [n for n in names if (not only or n in only) and n not in skip]
    for n in without:
        print(f"note: benchmarks/{n}.py has no rows(quick) function; left out of the table", file=sys.stderr)

    started = dt.datetime.now(dt.timezone.utc)
    rows: list[Row] = []
    failed = []
    for name in chosen:
        t0 = time.perf_counter()
        print(f"running {name} ...", file=sys.stderr, flush=True)
        try:
            rows += run_child(name, args.quick, args.timeout)
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            failed.append(name)
            print(str(exc), file=sys.stderr)
        print(f"  {name}: {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)

    where = machine()
    when = started.strftime("%Y-%m-%d %H:%M UTC")
    if args.json:
        print(json.dumps({"machine": where, "date": when, "quick": args.quick, "failed": failed,
                          "rows": [r.to_dict() for r in rows]}, indent=1))
    else:
        print(f"{'quick smoke run, ' if args.quick else ''}{when}; {where}")
        print(format_table(rows, markdown=args.markdown))
        met = sum(r.met is True for r in rows)
        missed = [r.measure for r in rows if r.met is False]
        print(f"\n{len(rows)} rows: {met} met, {len(missed)} not met, {len(rows) - met - len(missed)} without a target"
              + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
