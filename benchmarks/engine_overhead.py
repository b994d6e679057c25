"""Engine overhead per step, and playbook load time, against references measured in the same run.

    python benchmarks/engine_overhead.py [--steps 10000] [--repeat 3]

Measures a playbook of N ``core.set`` steps (each reading the previous step's output through an
expression) and one N-item ``foreach``, with the default SQLite run store, and compares the
cost per step with (a) one awaited no-op coroutine and (b) one in-process httpx request to a
trivial ASGI app. Targets: per-step cost ≤ 20 % of (b); cost per step at N within 1.5× of N/10.

Load: a playbook of N steps, each with a distinct Jinja ``when:`` expression, loaded and
checked (not run), per step, against (c) Jinja compiling one such expression
(``Environment.compile_expression``). Target: ≤ 0.5 of (c) — every expression is parsed and
checked at load, its code generated only when it first runs.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path


def chain_playbook(n: int) -> str:
    lines = ["name: bench-chain", "steps:", "  - id: s0", "    action: core.set", "    with: {n: 0}"]
    for i in range(1, n):
        lines += [f"  - id: s{i}", "    action: core.set",
                  f"    with: {{n: {i}, prev: \"${{{{ steps.s{i - 1}.output.n }}}}\"}}"]
    lines += ["outputs:", f"  last: \"${{{{ steps.s{n - 1}.output.prev }}}}\""]
    return "\n".join(lines) + "\n"


def foreach_playbook(n: int) -> str:
    return ("name: bench-foreach\ninputs:\n  n: {type: integer, default: %d}\nsteps:\n"
            "  - id: items\n    action: core.set\n    with: {list: \"${{ range(inputs.n) | list }}\"}\n"
            "  - id: each\n    action: core.set\n    foreach: \"${{ steps.items.output.list }}\"\n"
            "    with: {x: \"${{ item }}\", double: \"${{ item * 2 }}\"}\n"
            "outputs:\n  count: \"${{ steps.each.output | length }}\"\n" % n)


def when_playbook(n: int) -> str:
    lines = ["name: bench-when", "steps:", "  - id: s0", "    action: core.set", "    with: {n: 0}"]
    for i in range(1, n):
        lines += [f"  - id: s{i}", "    action: core.set",
                  f"    when: \"${{{{ steps.s{i - 1}.output.n >= {i - 1} }}}}\"", f"    with: {{n: {i}}}"]
    return "\n".join(lines) + "\n"


def load_cost(n: int, repeat: int) -> list[float]:
    """Seconds per step to load (parse, validate, check) the N-step ``when`` playbook."""
    from runner.playbook.loader import PlaybookLoader
    from runner.plugins import PluginHost

    text = when_playbook(n)
    out = []
    for _ in range(repeat):
        loader = PlaybookLoader(PluginHost(entry_points=False))  # a fresh expression cache
        t = time.perf_counter()
        loader.load_text(text, "bench-when.yaml")
        out.append((time.perf_counter() - t) / n)
    return out


def jinja_compile_cost(n: int = 300) -> float:
    """Seconds for Jinja to compile one expression of the same shape (what load did before)."""
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment()
    t = time.perf_counter()
    for i in range(n):
        env.compile_expression(f"steps.s{i}.output.n >= {i}", undefined_to_none=False)
    return (time.perf_counter() - t) / n


def run_playbook(text: str, tmp: Path, name: str) -> tuple[float, float]:
    """(load seconds, run seconds) for one fresh run with a fresh SQLite store."""
    from runner.compose import build_services
    from runner.engine.run import Engine
    from runner.http import Network
    from runner.playbook.loader import PlaybookLoader
    from runner.plugins import PluginHost
    from runner.store import RunStore

    path = tmp / f"{name}.yaml"
    path.write_text(text)
    host = PluginHost(entry_points=False)
    t0 = time.perf_counter()
    playbook = PlaybookLoader(host).load(str(path))
    t1 = time.perf_counter()
    db = tmp / f"{name}-{time.monotonic_ns()}.db"
    store = RunStore.open(f"sqlite:///{db}")
    services = build_services(None, Network(), store, host)  # no config: core actions only
    engine = Engine(services)
    t2 = time.perf_counter()
    result = asyncio.run(engine.start(playbook))
    t3 = time.perf_counter()
    store.close()
    assert result.status == "succeeded", result.error
    return t1 - t0, t3 - t2


def noop_cost(n: int = 200_000) -> float:
    async def noop():
        return None

    async def main():
        t = time.perf_counter()
        for _ in range(n):
            await noop()
        return (time.perf_counter() - t) / n

    return asyncio.run(main())


def httpx_cost(n: int = 2000) -> float:
    import httpx

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": b"{}"})

    async def main():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as c:
            for _ in range(50):
                await c.get("/")
            t = time.perf_counter()
            for _ in range(n):
                await c.get("/")
            return (time.perf_counter() - t) / n

    return asyncio.run(main())


def measure(steps: int, repeat: int) -> dict:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        small = max(steps // 10, 10)
        rows = {}
        for label, make, n in (("chain", chain_playbook, steps), ("chain_small", chain_playbook, small),
                               ("foreach", foreach_playbook, steps), ("foreach_small", foreach_playbook, small)):
            text = make(n)
            loads, runs = [], []
            for _ in range(repeat):
                load, run = run_playbook(text, tmp, label)
                loads.append(load)
                runs.append(run)
            rows[label] = {"n": n, "load": statistics.median(loads), "per_step": statistics.median(runs) / n,
                           "min": min(runs) / n, "max": max(runs) / n}
        rows["noop"] = noop_cost()
        rows["httpx"] = statistics.median(httpx_cost() for _ in range(repeat))
        loads = load_cost(steps, repeat)
        rows["when_load"] = {"n": steps, "per_step": statistics.median(loads), "min": min(loads),
                             "max": max(loads)}
        rows["jinja_compile"] = statistics.median(jinja_compile_cost() for _ in range(repeat))
        return rows


def report(rows: dict) -> list[dict]:
    """Rows for the summary table (printed by main, and by rows() for `python -m benchmarks`)."""
    httpx_req, noop = rows["httpx"], rows["noop"]
    out = []
    for label in ("chain", "foreach"):
        r, small = rows[label], rows[f"{label}_small"]
        out.append({"measure": f"engine overhead per step ({label}, {r['n']} steps)",
                    "ours": f"{r['per_step'] * 1e6:.1f} µs", "reference": f"httpx in-process {httpx_req * 1e6:.1f} µs",
                    "ratio": r["per_step"] / httpx_req, "target": "≤ 0.20", "met": r["per_step"] / httpx_req <= 0.20,
                    "noise": f"{r['min'] * 1e6:.1f}–{r['max'] * 1e6:.1f} µs"})
        out.append({"measure": f"per-step cost, {r['n']} vs {small['n']} steps ({label})",
                    "ours": f"{r['per_step'] * 1e6:.1f} µs", "reference": f"{small['per_step'] * 1e6:.1f} µs",
                    "ratio": r["per_step"] / small["per_step"], "target": "≤ 1.5",
                    "met": r["per_step"] / small["per_step"] <= 1.5})
        out.append({"measure": f"engine per step vs awaited no-op ({label})",
                    "ours": f"{r['per_step'] * 1e6:.1f} µs", "reference": f"no-op {noop * 1e9:.0f} ns",
                    "ratio": r["per_step"] / noop, "target": "-", "met": None})
    load, compile_one = rows["when_load"], rows["jinja_compile"]
    out.append({"measure": f"load per step, {load['n']} distinct Jinja `when:`",
                "ours": f"{load['per_step'] * 1e6:.1f} µs", "reference": f"Jinja compile {compile_one * 1e6:.1f} µs",
                "ratio": load["per_step"] / compile_one, "target": "≤ 0.50",
                "met": load["per_step"] / compile_one <= 0.5,
                "noise": f"{load['min'] * 1e6:.1f}–{load['max'] * 1e6:.1f} µs"})
    return out


def rows(quick: bool) -> list:
    """The summary rows for ``python -m benchmarks`` (benchmarks/common.py)."""
    from benchmarks.common import Row

    measured = measure(1000 if quick else 10_000, 1 if quick else 3)
    return [Row(measure=r["measure"], ours=r["ours"], reference=r["reference"], ratio=r["ratio"],
                target=r["target"], met=r["met"], noise=r.get("noise", "")) for r in report(measured)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    rows = measure(args.steps, args.repeat)
    for label in ("chain", "chain_small", "foreach", "foreach_small"):
        r = rows[label]
        print(f"{label:14s} n={r['n']:6d}  load {r['load']:.3f}s  per step {r['per_step'] * 1e6:7.1f} µs "
              f"(min {r['min'] * 1e6:.1f}, max {r['max'] * 1e6:.1f})")
    load = rows["when_load"]
    print(f"{'when_load':14s} n={load['n']:6d}  load per step {load['per_step'] * 1e6:7.1f} µs "
          f"(min {load['min'] * 1e6:.1f}, max {load['max'] * 1e6:.1f})")
    print(f"reference: awaited no-op {rows['noop'] * 1e9:.0f} ns; in-process httpx request {rows['httpx'] * 1e6:.1f} µs; "
          f"Jinja compile of one expression {rows['jinja_compile'] * 1e6:.1f} µs")
    ok = True
    for row in report(rows):
        met = "" if row["met"] is None else ("met" if row["met"] else "NOT met")
        ok &= row["met"] is not False
        print(f"  {row['measure']:55s} {row['ours']:>10s} vs {row['reference']:>28s}  ratio {row['ratio']:8.2f}  "
              f"target {row['target']:6s} {met}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
