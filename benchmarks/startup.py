"""Start-up: ``soar --help``, ``soar validate`` and ``soar run`` against ``python -c pass``, in one run.

    python -m benchmarks.startup [--repeat 10] [--quick]

Wall time of whole processes, interleaved, after one untimed warm-up of each (bytecode cached,
as for an installed package). Medians; min–max is the machine's noise. Target: ``soar --help``
and ``soar validate`` of one playbook within 5× ``python -c pass``. The *floor* row times a
process that only imports the libraries validate cannot do without (click, rich, pydantic,
PyYAML, Jinja2; with the collector off, as soar imports): what is left above it is ours; a
second floor adds what ``soar run`` needs on top (SQLAlchemy, sqlite3, httpx, asyncio). Also
reports which heavy libraries (msal, sqlalchemy, jinja2, rich, httpx) each command imports
(``python -X importtime``).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import Row, Samples, child_env, format_table, run_timed, seconds, venv_bin  # noqa: E402

TARGET = 5.0
HEAVY = ("msal", "sqlalchemy", "jinja2", "rich", "httpx")
# What ``soar validate`` cannot do without, imported and nothing else: the floor under its time.
# click (the CLI), rich (its output), pydantic (playbook and action models; pydantic imports
# importlib.metadata to look for its own plugins), PyYAML, Jinja2 (expressions are parsed).
# Imported with the collector off, as soar's console process imports (runner.cli.common.startup_gc).
FLOOR = "import gc; gc.disable(); import click, rich.console, rich.markup, pydantic.main, yaml, jinja2, importlib.metadata"
# ... and what ``soar run`` of a playbook with an HTTP call cannot do without, on top: the store
# (SQLAlchemy with SQLite), HTTP (httpx), the event loop (asyncio). The peer benchmark's
# ``soar run`` (benchmarks/peer_ansible.py) starts from this floor.
FLOOR_RUN = FLOOR + ", sqlalchemy, sqlite3, httpx, asyncio"

PLAYBOOK = """\
name: startup-probe
description: A small playbook for soar validate (benchmarks/startup.py)
inputs:
  min_risk: {type: string, default: High, enum: [Low, Medium, High]}
steps:
  - id: devices
    action: core.set
    with: {list: [{name: pc1, risk: High}, {name: pc2, risk: Low}]}
  - id: report
    action: core.log
    foreach: "${{ steps.devices.output.list }}"
    when: "${{ item.risk == inputs.min_risk }}"
    with: {message: "risky: ${{ item.name }}"}
outputs:
  seen: "${{ steps.devices.output.list | length }}"
"""


def commands(workdir: Path) -> dict[str, list[str]]:
    soar = str(venv_bin("soar"))
    return {"python -c pass": [sys.executable, "-c", "pass"],
            "libraries": [sys.executable, "-c", FLOOR],
            "libraries (run)": [sys.executable, "-c", FLOOR_RUN],
            "soar --help": [soar, "--help"],
            "soar validate": [soar, "validate", str(workdir / "probe.yaml")],
            "soar run": [soar, "--store", f"sqlite:///{workdir / 'runs.db'}", "run", str(workdir / "probe.yaml"),
                         "--json"]}


def heavy_imports(cmd: list[str], env: dict[str, str], cwd: Path) -> list[str]:
    """The heavy top-level packages a command imports (``-X importtime`` of the same command)."""
    argv = [sys.executable, "-X", "importtime", *cmd[1:]] if cmd[0] == sys.executable else \
        [sys.executable, "-X", "importtime", "-m", "runner.cli", *cmd[1:]]
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=120)
    seen = set()
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            name = line.rsplit("|", 1)[1].strip()
            if name in HEAVY:
                seen.add(name)
    return [h for h in HEAVY if h in seen]


def measure(repeat: int) -> tuple[dict[str, Samples], dict[str, list[str]]]:
    with tempfile.TemporaryDirectory(prefix="soar-bench-startup-") as tmp:
        work = Path(tmp)
        (work / "probe.yaml").write_text(PLAYBOOK)
        cmds = commands(work)
        env = child_env()
        for cmd in cmds.values():  # warm-up: bytecode cache, OS file cache
            run_timed(cmd, env=env, cwd=work)
        times: dict[str, list[float]] = {name: [] for name in cmds}
        for _ in range(repeat):
            for name, cmd in cmds.items():
                times[name].append(run_timed(cmd, env=env, cwd=work)[0])
        imports = {name: heavy_imports(cmd, env, work) for name, cmd in cmds.items()
                   if name not in ("python -c pass", "libraries", "libraries (run)")}
    return {k: Samples(tuple(v)) for k, v in times.items()}, imports


def report(times: dict[str, Samples], imports: dict[str, list[str]]) -> list[Row]:
    ref = times["python -c pass"]
    rows = []
    for name, target in (("soar --help", TARGET), ("soar validate", TARGET), ("soar run", None)):
        t = times[name]
        ratio = t.median / ref.median
        label = {"soar validate": "soar validate (one playbook)",
                 "soar run": "soar run (one playbook, core actions, SQLite store)"}.get(name, name)
        rows.append(Row(measure=f"start-up: {label}", ours=seconds(t.median),
                        reference=f"python -c pass {seconds(ref.median)}", ratio=ratio,
                        target=f"≤ {target:g}×" if target else "-", met=(ratio <= target) if target else None,
                        noise=f"ours {t.spread(seconds)}; ref {ref.spread(seconds)}"))
    floor = times["libraries"]
    rows.append(Row(measure="start-up: floor — only the libraries validate needs (click, rich, pydantic, PyYAML, "
                            "Jinja2), imported", ours=seconds(floor.median),
                    reference=f"python -c pass {seconds(ref.median)}", ratio=floor.median / ref.median,
                    noise=f"ours {floor.spread(seconds)}; soar validate is {seconds(times['soar validate'].median)}"))
    floor_run = times["libraries (run)"]
    rows.append(Row(measure="start-up: floor of soar run — the same libraries plus SQLAlchemy, sqlite3, httpx and "
                            "asyncio, imported", ours=seconds(floor_run.median),
                    reference=f"python -c pass {seconds(ref.median)}", ratio=floor_run.median / ref.median,
                    noise=f"ours {floor_run.spread(seconds)}; soar run is {seconds(times['soar run'].median)}"))
    shown = {name: ", ".join(mods) or "none" for name, mods in imports.items()}
    rows.append(Row(measure=f"start-up: heavy imports ({', '.join(HEAVY)}) of --help | validate",
                    ours=f"{shown['soar --help']} | {shown['soar validate']}",
                    reference=f"soar run: {shown['soar run']}", target="--help: none",
                    met=not imports["soar --help"]))
    return rows


def rows(quick: bool, repeat: int | None = None) -> list[Row]:
    times, imports = measure(repeat or (3 if quick else 10))
    return report(times, imports)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=None, help="repetitions (default 10; quick 3)")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    result = rows(args.quick, args.repeat)
    if args.json:
        import json

        print(json.dumps([r.to_dict() for r in result]))
    else:
        print(format_table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
