"""What every benchmark shares: the :class:`Row` of the summary table, timing helpers, the table
printer, a standalone ``main`` and the loopback simulated cloud (``soar sim serve``).

The interface a benchmark module offers the aggregator (``python -m benchmarks``)::

    def rows(quick: bool) -> list[Row]: ...     # measure, and say what was measured against what

    if __name__ == "__main__":
        sys.exit(bench_main(rows, __doc__))       # or a richer main of its own

Every row carries a *reference measured in the same run* (never a number remembered from
elsewhere), the ratio between the two, the target for that ratio and whether it was met.
A measure that cannot be taken says why in ``ours`` (``"not available: ..."``) and has no ratio.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

ROOT = Path(__file__).resolve().parent.parent
COLUMNS = ("measure", "ours", "reference", "ratio", "target", "met", "noise")


@dataclass
class Row:
    """One line of the summary table.

    ``ours`` and ``reference`` are display strings with their units; ``ratio`` is the number the
    ``target`` is about (the row's ``target`` text says which way it goes, e.g. ``≥ 100×`` or
    ``≤ 5``); ``met`` is ``None`` when the row has no target or could not be measured; ``noise``
    gives the spread (min–max) over the repetitions.
    """

    measure: str
    ours: str
    reference: str
    ratio: float | None = None
    target: str = "-"
    met: bool | None = None
    noise: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> "Row":
        return cls(**{k: doc.get(k) for k in COLUMNS if k in doc})

    @classmethod
    def unavailable(cls, measure: str, why: str, reference: str, target: str = "-") -> "Row":
        return cls(measure=measure, ours=f"not available: {why}", reference=reference, target=target)


# ---- timing ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Samples:
    """Repeated measurements of one thing (seconds, or any unit)."""

    values: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def min(self) -> float:
        return min(self.values)

    @property
    def max(self) -> float:
        return max(self.values)

    def spread(self, fmt: Callable[[float], str]) -> str:
        """``min–max (n=K)``, the noise of this machine over the repetitions."""
        if len(self.values) == 1:
            return "n=1"
        return f"{fmt(self.min)}–{fmt(self.max)} (n={len(self.values)})"


def seconds(value: float) -> str:
    """A duration with a readable unit."""
    if value < 0:
        return "-" + seconds(-value)
    if value >= 100:
        return f"{value:.0f} s"
    if value >= 1:
        return f"{value:.2f} s"
    if value >= 1e-3:
        return f"{value * 1e3:.1f} ms"
    if value >= 1e-6:
        return f"{value * 1e6:.1f} µs"
    return f"{value * 1e9:.0f} ns"


def ratio_text(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def met_text(met: bool | None) -> str:
    return "-" if met is None else ("yes" if met else "NO")


# ---- output ------------------------------------------------------------------------------------

def format_table(rows: Sequence[Row], markdown: bool = False) -> str:
    """The summary table: plain text aligned in columns, or a Markdown table for docs/."""
    cells = [[r.measure, r.ours, r.reference, ratio_text(r.ratio), r.target, met_text(r.met), r.noise or "-"]
             for r in rows]
    if markdown:
        head = "| " + " | ".join(COLUMNS) + " |\n|" + "---|" * len(COLUMNS) + "\n"
        return head + "\n".join("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in cells)
    widths = [max([len(h)] + [len(row[i]) for row in cells]) for i, h in enumerate(COLUMNS)]
    line = "  ".join(h.ljust(w) for h, w in zip(COLUMNS, widths)).rstrip()
    out = [line, "-" * len(line)]
    out += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    return "\n".join(out)


def machine() -> str:
    """One line about where the numbers were taken."""
    try:
        load = "load %.2f %.2f %.2f" % os.getloadavg()
    except OSError:  # pragma: no cover - not on Linux
        load = "load n/a"
    return (f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
            f"{load}")


def bench_main(rows_fn: Callable[[bool], list[Row]], doc: str | None, argv: list[str] | None = None) -> int:
    """The standalone entry point of a benchmark module: ``--quick``, ``--json``, ``--markdown``."""
    ap = argparse.ArgumentParser(description=(doc or "").strip().splitlines()[0] if doc else None)
    ap.add_argument("--quick", action="store_true", help="small sizes, one repetition (a smoke run)")
    ap.add_argument("--json", action="store_true", help="print the rows as JSON (what the aggregator reads)")
    ap.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = ap.parse_args(argv)
    rows = rows_fn(args.quick)
    if args.json:
        print(json.dumps([r.to_dict() for r in rows]))
    else:
        print(format_table(rows, markdown=args.markdown))
    return 0


# ---- processes and the loopback simulated cloud --------------------------------------------------

def venv_bin(name: str) -> Path:
    """A console script installed next to this interpreter (``soar``, ``ansible-playbook``)."""
    return Path(sys.executable).parent / name


def child_env(**extra: str) -> dict[str, str]:
    """The environment for a measured child process: ours, plus ``extra``.

    Bytecode caching is switched on (into a cache directory of its own, not the work tree), as
    for any installed package: with ``PYTHONDONTWRITEBYTECODE`` set, every start of a child
    would compile the project's modules again and start-up would measure the compiler.
    """
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.setdefault("PYTHONPYCACHEPREFIX", str(Path(tempfile.gettempdir()) / "soar-bench-pycache"))
    env.update(extra)
    return env


@dataclass
class SimServer:
    """A running ``soar sim serve``: the JSON document it printed first, and the process."""

    doc: dict[str, Any]
    process: subprocess.Popen

    @property
    def base_url(self) -> str:
        return self.doc["base_url"]

    def tenant_id(self, name: str | None = None) -> str:
        tenants = self.doc["tenants"]
        return next(t for t in tenants if name in (None, t["name"]))["tenant_id"]

    def token(self, resource: str, tenant: str | None = None) -> str:
        """A client-credentials token from the simulated Entra ID (v2 endpoint, like msal)."""
        import httpx

        response = httpx.post(f"{self.base_url}/{self.tenant_id(tenant)}/oauth2/v2.0/token",
                              data={"grant_type": "client_credentials", "client_id": self.doc["client_id"],
                                    "client_secret": self.doc["client_secret"], "scope": f"{resource}/.default"},
                              timeout=30)
        response.raise_for_status()
        return response.json()["access_token"]

    def url(self, host: str, path: str) -> str:
        return f"{self.base_url}/_host/{host}/{path.lstrip('/')}"


SIM_CPUS: set[int] = set()  # where sim_server's child runs, when set (pin_apart)


def pin_apart() -> tuple[set[int], set[int]] | None:
    """Run this process on one CPU and every ``soar sim serve`` it starts on the others, as a
    remote API runs on other hardware: the client and the server then never take turns on one
    core. ``None`` (nothing pinned) on a machine with one CPU or without affinity control."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:
        return None
    if len(cpus) < 2:
        return None
    mine, theirs = {cpus[0]}, set(cpus[1:])
    os.sched_setaffinity(0, mine)
    SIM_CPUS.clear()
    SIM_CPUS.update(theirs)
    return mine, theirs


def _pin_child() -> None:
    os.sched_setaffinity(0, SIM_CPUS)


@contextlib.contextmanager
def sim_server(*args: str) -> Iterator[SimServer]:
    """``soar sim serve --port 0`` in a child process, stopped (and waited for) on exit. Its
    stderr goes to a temporary file, never a pipe nobody reads: a server that logs a lot would
    block on a full pipe, in the middle of a measurement."""
    cmd = [str(venv_bin("soar")), "sim", "serve", "--port", "0", *args]
    with tempfile.TemporaryFile("w+") as errors:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errors, text=True, env=child_env(),
                                preexec_fn=_pin_child if SIM_CPUS else None)
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()  # the JSON document; '' if the server died
            if not line.startswith("{"):
                proc.kill()
                proc.wait()
                errors.seek(0)
                raise RuntimeError(f"soar sim serve did not start: {errors.read().strip()[:500]}")
            yield SimServer(json.loads(line), proc)
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()


def run_timed(cmd: Sequence[str], *, env: dict[str, str] | None = None, cwd: str | Path | None = None,
              timeout: float = 1800) -> tuple[float, subprocess.CompletedProcess]:
    """Wall seconds of one child process, start-up included; raises if it fails."""
    started = time.perf_counter()
    done = subprocess.run(list(cmd), env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        tail = (done.stderr or done.stdout or "").strip()[-1500:]
        raise RuntimeError(f"{Path(cmd[0]).name} exited {done.returncode}: {tail}")
    return elapsed, done
