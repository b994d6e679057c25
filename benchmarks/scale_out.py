"""Scale-out: runs/s through webhooks with 1, 2 and 3 ``soar worker`` processes behind one front,
next to the one-process ``soar serve`` in the same run, on the same PostgreSQL; the wall time
of a 2,000-isolation fan-out over 20 simulated tenants with 1 and 3 workers; the database's cost
per run, and what it projects for 10 worker machines.

    python benchmarks/scale_out.py [--webhooks 1000] [--workers 1,2,3] [--tenants 20] [--machines 100]
                                   [--concurrency 16] [--quick] [--json | --markdown]

Every measurement gets a fresh database on the PostgreSQL server of ``SOAR_BENCH_POSTGRES``
(default ``postgresql://postgres@127.0.0.1:5432/postgres``, trust auth), prepared by
``soar db upgrade``; every process is a real ``soar`` process.

*Webhooks*: the playbook of ``benchmarks/throughput.py`` (three ``core.set`` steps, HMAC-signed
webhook), ``--webhooks`` deliveries sent over 32 keep-alive connections by this process (closed
loop). Runs/s = runs finished / (first request sent → last run finished, from the run store).
Reference: ``soar serve`` (all-in-one, ``--max-runs 64``) on the same database, measured the
same way in the same run. The front and the workers share this machine's cores with PostgreSQL
and the load generator: the ratios measure the queue's overhead on one machine, not what more
machines add — see the projection.

*Fan-out*: ``soar sim serve`` (quotas off, in soar's API client too) with ``--tenants`` tenants of ``--machines`` devices;
the isolation playbook of ``benchmarks/fanout.py`` (list, then isolate each device, 10 at once
per tenant). Two shapes: one run over every tenant (its tenant runs are jobs of their own,
spread over the workers), and one run per tenant (``--tenants`` runs, spread over the workers). Workers run up to 64 runs at once, as the one-process ``soar serve`` (``--max-runs
64``), the reference.

*Database cost*: PostgreSQL's transactions committed (``pg_stat_database``) and its processes'
CPU time (``/proc``, when the server runs on this machine) per webhook run with 3 workers. With
``c`` CPU-seconds per run, a database server with ``k`` cores saturates near ``k / c`` runs/s;
10 worker machines give ``10 ×`` the one-worker rate until then.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import Row, child_env, format_table, machine, sim_server, venv_bin  # noqa: E402

ADMIN = os.environ.get("SOAR_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
SECRET = "bench-scale-out-signing-secret"
DEADLINE = 600.0

HOOK_PLAYBOOK = """\
name: bench-hook
max_runs: 64
on:
  - webhook: {path: /bench, secret: env:BENCH_HOOK_SECRET}
steps:
  - id: receive
    action: core.set
    with: {n: "${{ trigger.payload.n }}"}
  - id: double
    action: core.set
    with: {n2: "${{ steps.receive.output.n * 2 }}"}
  - id: done
    action: core.set
    with: {ok: true}
"""

FANOUT_PLAYBOOK = """\
name: {name}
tenants: {tenants}
max_runs: 64
approvals: {{destructive: false}}
on:
  - webhook: {{path: /{name}, secret: env:BENCH_HOOK_SECRET}}
steps:
  - id: machines
    action: defender.list_machines
  - id: isolate
    action: defender.isolate_machine
    foreach: "${{{{ steps.machines.output }}}}"
    concurrency: 10
    with: {{machine_id: "${{{{ item.id }}}}", comment: "scale-out benchmark", isolation_type: Full}}
"""


# ---- PostgreSQL -----------------------------------------------------------------------------------

@contextlib.contextmanager
def database() -> Iterator[str]:
    """A fresh database, prepared by ``soar db upgrade``; yields its URL."""
    import psycopg

    name = f"soar_bench_{secrets.token_hex(4)}"
    with psycopg.connect(ADMIN, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        url = f"{ADMIN.rsplit('/', 1)[0]}/{name}"
        try:
            subprocess.run([str(venv_bin("soar")), "--store", url, "db", "upgrade"], check=True, env=child_env(),
                           capture_output=True, timeout=120)
            yield url
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def finished_runs(url: str, prefix: str) -> tuple[int, float | None]:
    """Top-level runs of playbooks named ``prefix``* that finished, and when the last one did."""
    import psycopg

    with psycopg.connect(url) as conn:
        count, last = conn.execute(
            "select count(*), extract(epoch from max(finished_at)) from runs where parent_id is null "
            "and playbook_name like %s and status in ('succeeded', 'failed')", (prefix + "%",)).fetchone()
    return int(count), float(last) if last is not None else None


def commits(url: str) -> int:
    import psycopg

    with psycopg.connect(url) as conn:
        return int(conn.execute("select xact_commit from pg_stat_database where datname = current_database()")
                   .fetchone()[0])


def _cpu(stat: str) -> float:
    """CPU seconds (user + system) from a /proc/PID/stat line."""
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_cpu() -> float | None:
    """CPU seconds of the PostgreSQL processes on this machine (None: none visible)."""
    total, found = 0.0, False
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if stat[stat.index("(") + 1:stat.rindex(")")].startswith("postgres"):
            total += _cpu(stat)
            found = True
    return total if found else None


def process_cpu(pid: int) -> float:
    try:
        return _cpu(Path(f"/proc/{pid}/stat").read_text())
    except OSError:
        return 0.0


# ---- processes ------------------------------------------------------------------------------------

class Soar:
    """A ``soar`` process whose first line of output is a JSON document."""

    def __init__(self, args: list[str], cwd: Path, env: dict):
        self.err = open(cwd / f"soar-{secrets.token_hex(3)}.err", "w")
        self.proc = subprocess.Popen([str(venv_bin("soar")), *args], stdout=subprocess.PIPE, stderr=self.err,
                                     text=True, cwd=cwd, env=env)
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait(30)
            self.err.close()
            raise RuntimeError(f"soar {' '.join(args[:4])} did not start: "
                               f"{Path(self.err.name).read_text()[-800:]}")
        self.info = json.loads(line)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
        self.err.close()


@contextlib.contextmanager
def deployment(url: str, pb: Path, cwd: Path, workers: int, *, root: tuple[str, ...] = (),
               extra: tuple[str, ...] = (), concurrency: int = 16) -> Iterator[tuple[str, list[int]]]:
    """``workers`` = 0: one all-in-one ``soar serve``; else one front and that many workers.
    Yields the URL webhooks go to and the processes' pids (the serve or front first)."""
    env = child_env(BENCH_HOOK_SECRET=SECRET)
    procs: list[Soar] = []
    try:
        serve = ["--store", url, *root, "serve", str(pb), "--port", "0", "--max-runs", "64", "--grace", "5s",
                 "--watch-interval", "off", *extra]
        if workers == 0:
            procs.append(Soar(serve, cwd, env))
        else:
            procs.append(Soar([*serve, "--role", "front"], cwd, env))
            for _ in range(workers):
                procs.append(Soar(["--store", url, *root, "worker", "--concurrency", str(concurrency),
                                   "--poll-interval", "1s", *extra], cwd, env))
        yield procs[0].info["url"], [p.proc.pid for p in procs]
    finally:
        for proc in reversed(procs):
            proc.stop()


def send(url: str, path: str, bodies: list[bytes], connections: int = 32) -> tuple[float, int]:
    """POST every body (signed) over ``connections`` keep-alive connections; (start time, 202s)."""
    import httpx

    async def main() -> int:
        queue: asyncio.Queue = asyncio.Queue()
        for body in bodies:
            queue.put_nowait(body)
        accepted = 0

        async def client() -> None:
            nonlocal accepted
            async with httpx.AsyncClient(base_url=url, timeout=60) as http:
                while not queue.empty():
                    body = queue.get_nowait()
                    sig = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
                    r = await http.post(path, content=body, headers={"X-Hub-Signature-256": sig,
                                                                     "Content-Type": "application/json"})
                    accepted += r.status_code == 202

        await asyncio.gather(*(client() for _ in range(connections)))
        return accepted

    started = time.time()
    return started, asyncio.run(main())


def wait_finished(url: str, prefix: str, count: int) -> float:
    """When the last of ``count`` runs finished (epoch seconds)."""
    deadline = time.monotonic() + DEADLINE
    while True:
        done, last = finished_runs(url, prefix)
        if done >= count and last is not None:
            return last
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {done} of {count} runs finished in {DEADLINE:g}s")
        time.sleep(0.2)


# ---- measurements ---------------------------------------------------------------------------------

def webhook_rate(workers: int, n: int, concurrency: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="soar-scale-") as tmp, database() as url:
        cwd = Path(tmp)
        pb = cwd / "pb"
        pb.mkdir()
        (pb / "hook.yaml").write_text(HOOK_PLAYBOOK)
        bodies = [json.dumps({"n": i}).encode() for i in range(n)]
        with deployment(url, pb, cwd, workers, concurrency=concurrency) as (hook_url, pids):
            xact0, cpu0, own0 = commits(url), postgres_cpu(), [process_cpu(p) for p in pids]
            started, accepted = send(hook_url, "/hooks/bench", bodies)
            last = wait_finished(url, "bench-hook", accepted)
            xact1, cpu1, own1 = commits(url), postgres_cpu(), [process_cpu(p) for p in pids]
            runs, _last = finished_runs(url, "bench-hook")
            if runs != accepted:  # each accepted webhook is exactly one run
                raise RuntimeError(f"{accepted} webhooks accepted, {runs} runs")
        seconds = last - started
        spent = [b - a for a, b in zip(own0, own1)]
        return {"workers": workers, "runs": accepted, "seconds": seconds, "rate": accepted / seconds,
                "commits_per_run": (xact1 - xact0) / accepted,
                "db_cpu_per_run": (cpu1 - cpu0) / accepted if cpu0 is not None and cpu1 is not None else None,
                "front_cpu_per_run": spent[0] / accepted, "worker_cpu_per_run": sum(spent[1:]) / accepted}


def fanout_time(workers: int, tenants: int, machines: int, per_tenant: bool) -> dict:
    with tempfile.TemporaryDirectory(prefix="soar-fanout-") as tmp, \
            sim_server("--tenants", str(tenants), "--set", f"defender.devices_per_tenant={machines}",
                       "--set", "defender.quotas=false") as sim, database() as url:
        cwd = Path(tmp)
        pb = cwd / "pb"
        pb.mkdir()
        names = [t["name"] for t in sim.doc["tenants"]]
        tenant_lines = "".join(f"  {t['name']}: {{id: {t['tenant_id']}}}\n" for t in sim.doc["tenants"])
        (cwd / "soar.yaml").write_text(f"app:\n  client_id: {sim.doc['client_id']}\n  client_secret: env:SIM_SECRET\n"
                                       f"tenants:\n{tenant_lines}token_cache: {{path: ':memory:'}}\n"
                                       "quotas: {enabled: false}\n")  # the simulator's are off too
        playbooks = ([(f"iso-{n}", f"[{n}]") for n in names] if per_tenant else [("iso-all", "all")])
        for name, scope in playbooks:
            (pb / f"{name}.yaml").write_text(FANOUT_PLAYBOOK.format(name=name, tenants=scope))
        os.environ["SIM_SECRET"] = sim.doc["client_secret"]
        try:
            with deployment(url, pb, cwd, workers, root=("--config", str(cwd / "soar.yaml")),
                            extra=("--sim-url", sim.base_url), concurrency=64) as (hook_url, _pids):
                started = time.time()
                for name, _scope in playbooks:
                    send(hook_url, f"/hooks/{name}", [b"{}"], connections=1)
                last = wait_finished(url, "iso-", len(playbooks))
        finally:
            os.environ.pop("SIM_SECRET", None)
        import httpx

        isolations = httpx.get(f"{sim.base_url}/_sim/stats", timeout=30).json()
        return {"workers": workers, "per_tenant": per_tenant, "seconds": last - started, "stats": isolations}


def rows(quick: bool, *, webhooks: int = 1000, worker_counts: tuple[int, ...] = (1, 2, 3), tenants: int = 20,
         machines: int = 100, concurrency: int = 16) -> list[Row]:
    if quick:
        webhooks, tenants, machines = min(webhooks, 200), min(tenants, 4), min(machines, 25)
    out: list[Row] = []
    base = webhook_rate(0, webhooks, concurrency)  # the one-process soar serve: every row's reference
    measured = {}
    for n in worker_counts:
        m = measured[n] = webhook_rate(n, webhooks, concurrency)
        out.append(Row(f"webhook runs/s ({webhooks} runs, PostgreSQL), 1 front + {n} worker(s)",
                       f"{m['rate']:.0f} runs/s", f"{base['rate']:.0f} runs/s (one-process soar serve)",
                       ratio=m["rate"] / base["rate"]))
    last = measured[max(worker_counts)]
    cpu = last["db_cpu_per_run"]
    out.append(Row("CPU per run: front + workers (soar processes)",
                   f"{(last['front_cpu_per_run'] + last['worker_cpu_per_run']) * 1000:.1f} ms "
                   f"({last['front_cpu_per_run'] * 1000:.1f} front, {last['worker_cpu_per_run'] * 1000:.1f} workers)",
                   f"{base['front_cpu_per_run'] * 1000:.1f} ms (serve)",
                   ratio=(last['front_cpu_per_run'] + last['worker_cpu_per_run']) / base['front_cpu_per_run']))
    out.append(Row("PostgreSQL per queued run (front + workers)",
                   f"{last['commits_per_run']:.1f} commits" + (f", {cpu * 1000:.2f} ms CPU" if cpu else ""),
                   f"{base['commits_per_run']:.1f} commits" + (
                       f", {base['db_cpu_per_run'] * 1000:.2f} ms CPU" if base["db_cpu_per_run"] else "") + " (serve)",
                   ratio=last["commits_per_run"] / base["commits_per_run"]))
    if cpu:
        one = measured[min(worker_counts)]["rate"]
        cores = os.cpu_count() or 1
        ceiling = cores / cpu
        out.append(Row("projection: 10 worker machines (each like 1 worker here)",
                       f"≈ {min(10 * one, ceiling):.0f} runs/s",
                       f"database ceiling ≈ {ceiling:.0f} runs/s on {cores} cores ({cpu * 1000:.2f} ms CPU/run)"))
    for per_tenant in (False, True):
        shape = f"{tenants} runs, one per tenant" if per_tenant else "one run over every tenant"
        ref = fanout_time(0, tenants, machines, per_tenant)
        for n in (1, 3):
            m = fanout_time(n, tenants, machines, per_tenant)
            out.append(Row(f"fan-out {tenants * machines} isolations, {shape}, {n} worker(s)",
                           f"{m['seconds']:.1f} s", f"{ref['seconds']:.1f} s (serve)",
                           ratio=ref["seconds"] / m["seconds"]))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    ap.add_argument("--webhooks", type=int, default=1000)
    ap.add_argument("--workers", default="1,2,3")
    ap.add_argument("--tenants", type=int, default=20)
    ap.add_argument("--machines", type=int, default=100)
    ap.add_argument("--concurrency", type=int, default=16, help="runs per worker at once")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args(argv)
    measured = rows(args.quick, webhooks=args.webhooks, tenants=args.tenants, machines=args.machines,
                    worker_counts=tuple(int(x) for x in args.workers.split(",")), concurrency=args.concurrency)
    if args.json:
        print(json.dumps([r.to_dict() for r in measured]))
    else:
        print(machine())
        print(format_table(measured, markdown=args.markdown))
    return 0


if __name__ == "__main__":
    sys.exit(main())
