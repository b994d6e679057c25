"""Fan-out: isolate 2,000 machines across 20 simulated tenants, through soar and by hand.

    python benchmarks/fanout.py [--mode inprocess|loopback|both] [--tenants 20] [--machines 100]
                                [--concurrency 10] [--repeat 5] [--profile FILE]

*ours*: the ``isolate`` playbook below, run by the real engine (store, token provider, API
clients, the ``defender.isolate_machine`` action), with quotas off on both sides.
*hand-written*: one asyncio + httpx script making the same calls — per tenant the machine list
(same paging), then per machine the open-isolation look-up and the isolate POST — with the same
concurrency (every tenant at once, ``--concurrency`` machines per tenant) and tokens acquired
before the clock starts. Two modes, each with its own reference measured in the same run:

- ``inprocess``: both talk to the simulator in this process (``httpx.MockTransport``, a fresh
  simulator per run; ours through ``runner.testing.SoarRunner``). The simulator's own CPU runs on
  the same core as the client, so the ratio measures our CPU overhead per call.
- ``loopback``: the realistic setup — the API is remote. Both talk over HTTP to
  ``soar sim serve`` in a child process (a fresh one per run, started before the clock); ours with
  the services ``soar run --sim-url`` builds (``Network.loopback``, app and tenants from the
  served cloud's first line), the script with one ``httpx.AsyncClient`` per tenant against
  ``{url}/_host/HOST/...``. Token requests and call shapes are read from ``/_sim/stats``.

Prints, per mode, the median wall time of each (with min/max), the ratio (target ≤ 1.10) and
the number of token requests that reached the simulated Entra ID during our run (target: one per
tenant).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PLAYBOOK = """
name: fanout-isolate
tenants: all
steps:
  - id: machines
    action: defender.list_machines
  - id: isolate
    action: defender.isolate_machine
    foreach: "${{{{ steps.machines.output }}}}"
    concurrency: {concurrency}
    with: {{machine_id: "${{{{ item.id }}}}", comment: "fan-out benchmark", isolation_type: Full}}
outputs:
  isolated: "${{{{ steps.isolate.output | length }}}}"
"""
MDE_HOST = "api.securitycenter.microsoft.com"
MDE = f"https://{MDE_HOST}"
MODES = {"inprocess": "simulator in-process", "loopback": "simulator in another process, over loopback"}
SECRET_ENV = "SOAR_FANOUT_SIM_SECRET"  # the served cloud's demo secret, for our config's env: reference


def new_cloud(tenants: int, machines: int):
    from runner.testing import make_cloud

    return make_cloud(tenants, defender={"devices_per_tenant": machines, "quotas": False})


def _kind(path: str) -> str:
    return "isolate" if path.endswith("/isolate") else path.rsplit("/", 1)[-1]


def call_shape(cloud) -> Counter:
    """What reached the simulator, by method and route."""
    return Counter((e["method"], _kind(e["path"])) for e in cloud.defender.log)


def served_stats(server) -> dict:
    """The served simulator's counters (``GET /_sim/stats``), with the call shape as above."""
    import httpx

    doc = httpx.get(f"{server.base_url}/_sim/stats", timeout=30).raise_for_status().json()
    shape: Counter = Counter()
    for key, n in doc["calls"].items():
        method, _, path = key.partition(" ")
        shape[(method, _kind(path))] += n
    return {"tokens": sum(doc["token_requests"].values()), "shape": shape}


def run_ours(tenants: int, machines: int, concurrency: int, workdir: Path, profile: cProfile.Profile | None):
    from runner.testing import SoarRunner

    cloud = new_cloud(tenants, machines)
    path = workdir / "fanout.yaml"
    path.write_text(PLAYBOOK.format(concurrency=concurrency))
    store = workdir / f"ours-{time.monotonic_ns()}"
    store.mkdir()
    with SoarRunner(cloud, workdir=store, quotas="off", auto_approve=True) as runner:
        playbook = runner.load(path)  # loading is not part of the fan-out
        result, elapsed, used = _engine_run(runner.services, runner.apis, playbook, profile)
    _check_ours(result, tenants * machines)
    return elapsed, used, cloud.total_token_requests(), call_shape(cloud)


def _engine_run(services, apis, playbook, profile: cProfile.Profile | None):
    """One timed run of ``playbook`` by the engine: (result, wall seconds, CPU seconds)."""
    from runner.engine.run import Engine

    async def main():
        try:
            return await Engine(services).start(playbook)
        finally:
            await apis.aclose()

    if profile is not None:
        profile.enable()
    t0, c0 = time.perf_counter(), time.process_time()
    result = asyncio.run(main())
    elapsed, used = time.perf_counter() - t0, time.process_time() - c0
    if profile is not None:
        profile.disable()
    services.store.flush()
    return result, elapsed, used


class LostConnection(Exception):
    """A run failed because the served simulator dropped a connection (see :func:`measure`)."""


_LOST = ("(ReadError)", "(RemoteProtocolError)", "(WriteError)")


def _check_ours(result, total: int) -> None:
    isolated = sum(int(r["outputs"]["isolated"]) for r in result.outputs.values() if r["outputs"])
    if result.status != "succeeded" or isolated != total:
        why = f"our run did not isolate everything: {result.status}, {isolated} isolated, {result.error}"
        if any(lost in str(result.error) for lost in _LOST):
            raise LostConnection(why)
        sys.exit(why)


def _sim_args(tenants: int, machines: int) -> tuple[str, ...]:
    return ("--tenants", str(tenants), "--set", f"defender.devices_per_tenant={machines}",
            "--set", "defender.quotas=false")


def run_ours_loopback(tenants: int, machines: int, concurrency: int, workdir: Path,
                      profile: cProfile.Profile | None):
    """Ours against ``soar sim serve`` in a child process: the services ``soar run --sim-url``
    builds (:func:`runner.compose.build_services` on ``Network.loopback``), with the served
    cloud's app and tenants."""
    from benchmarks.common import sim_server
    from runner.compose import build_services, close_services
    from runner.config import SoarConfig
    from runner.http import Network
    from runner.playbook.loader import PlaybookLoader
    from runner.plugins import load_plugins
    from runner.store import RunStore

    path = workdir / "fanout.yaml"
    path.write_text(PLAYBOOK.format(concurrency=concurrency))
    store_dir = workdir / f"ours-{time.monotonic_ns()}"
    store_dir.mkdir()
    with sim_server(*_sim_args(tenants, machines)) as server:
        doc = server.doc
        os.environ[SECRET_ENV] = doc["client_secret"]
        config = SoarConfig.model_validate({
            "app": {"client_id": doc["client_id"], "client_secret": f"env:{SECRET_ENV}"},
            "tenants": {t["name"]: {"id": t["tenant_id"], "cloud": t["cloud"]} for t in doc["tenants"]},
            "token_cache": {"path": ":memory:"}, "quotas": {"enabled": False}})
        plugins = load_plugins()
        services = build_services(config, Network.loopback(server.base_url),
                                  RunStore.open(f"sqlite:///{store_dir / 'soar.db'}"), plugins, auto_approve=True)
        auth = services.auth
        try:
            playbook = PlaybookLoader(plugins).load(path)  # loading is not part of the fan-out
            served_stats(server)  # the server answers before the clock starts
            result, elapsed, used = _engine_run(services, services.apis, playbook, profile)
            stats = served_stats(server)
            ours_count = sum(auth.stats["token_requests"].values())
        finally:
            close_services(services)
    _check_ours(result, tenants * machines)
    if ours_count != stats["tokens"]:
        sys.exit(f"token requests: our provider counted {ours_count}, the simulator {stats['tokens']}")
    return elapsed, used, stats["tokens"], stats["shape"]


def _hand_tenant(concurrency: int, base: str, token: str):
    """The hand-written per-tenant work against ``base`` (the MDE API root)."""
    import httpx

    async def tenant(client: httpx.AsyncClient) -> int:
        headers = {"Authorization": f"Bearer {token}"}
        found, skip = [], 0
        while True:  # the same paging as ours: $top/$skip until a short page
            r = await client.get(f"{base}/api/machines", params={"$top": 10_000, "$skip": skip}, headers=headers)
            r.raise_for_status()
            page = r.json()["value"]
            found += page
            if len(page) < 10_000 or not page:
                break
            skip += len(page)
        sem = asyncio.Semaphore(concurrency)

        async def isolate(machine: dict) -> None:
            async with sem:
                flt = f"machineId eq '{machine['id']}' and type eq 'Isolate'"
                r = await client.get(f"{base}/api/machineactions", params={"$filter": flt, "$top": 1000, "$skip": 0},
                                     headers=headers)
                r.raise_for_status()
                if any(a["status"] in ("Pending", "InProgress") for a in r.json()["value"]):
                    return
                r = await client.post(f"{base}/api/machines/{machine['id']}/isolate", headers=headers,
                                      json={"Comment": "fan-out benchmark", "IsolationType": "Full"})
                r.raise_for_status()

        await asyncio.gather(*(isolate(m) for m in found))
        return len(found)

    return tenant


class _Lean:
    """The hand-written script's client without httpx.AsyncClient's per-request layers (cookies,
    auth flow, redirects, stream wrappers): requests go straight to the transport, as soar's
    ``runner.http.Sender`` sends them. The *lean* reference: ours against it is our engine's
    own overhead, with the HTTP plumbing equal on both sides."""

    def __init__(self, transport) -> None:
        self.transport = transport

    async def _send(self, method: str, url: str, **kw):
        import httpx

        request = httpx.Request(method, url, **kw)
        response = await self.transport.handle_async_request(request)
        response.request = request
        await response.aread()
        return response

    async def get(self, url: str, *, params=None, headers=None):
        return await self._send("GET", url, params=params, headers=headers)

    async def post(self, url: str, *, headers=None, json=None):
        return await self._send("POST", url, headers=headers, json=json)


def _timed(main, total: int, who: str) -> tuple[float, float]:
    t0, c0 = time.perf_counter(), time.process_time()
    isolated = asyncio.run(main())
    elapsed, used = time.perf_counter() - t0, time.process_time() - c0
    if isolated != total:
        sys.exit(f"the hand-written script ({who}) isolated {isolated}")
    return elapsed, used


def run_hand(tenants: int, machines: int, concurrency: int):
    import httpx

    cloud = new_cloud(tenants, machines)
    work = [_hand_tenant(concurrency, MDE, cloud.issue_token(name, "mde")) for name in cloud.tenants]  # pre-acquired

    async def main() -> int:
        async with httpx.AsyncClient(transport=httpx.MockTransport(cloud.handler)) as client:
            return sum(await asyncio.gather(*(tenant(client) for tenant in work)))

    elapsed, used = _timed(main, tenants * machines, "in-process")
    return elapsed, used, call_shape(cloud)


def run_hand_lean(tenants: int, machines: int, concurrency: int):
    import httpx

    cloud = new_cloud(tenants, machines)
    work = [_hand_tenant(concurrency, MDE, cloud.issue_token(name, "mde")) for name in cloud.tenants]
    client = _Lean(httpx.MockTransport(cloud.handler))

    async def main() -> int:
        return sum(await asyncio.gather(*(tenant(client) for tenant in work)))

    elapsed, used = _timed(main, tenants * machines, "in-process, lean")
    return elapsed, used, call_shape(cloud)


def run_hand_loopback(tenants: int, machines: int, concurrency: int):
    """The script against the served simulator: one pooled client per tenant (as ours has one per
    tenant and API), tokens fetched from the served token endpoint before the clock."""
    import httpx

    from benchmarks.common import sim_server

    with sim_server(*_sim_args(tenants, machines)) as server:
        base = server.url(MDE_HOST, "").rstrip("/")
        work = [_hand_tenant(concurrency, base, server.token(MDE, t["name"])) for t in server.doc["tenants"]]
        served_stats(server)

        # Built before the clock, as the tokens are: each client loads the CA bundle (~25 ms),
        # which ours does once per process, in the warm-up run.
        clients = [httpx.AsyncClient(timeout=60) for _ in work]

        async def main() -> int:
            try:
                return sum(await asyncio.gather(*(tenant(c) for tenant, c in zip(work, clients))))
            finally:
                for c in clients:
                    await c.aclose()

        elapsed, used = _timed(main, tenants * machines, "loopback")
        shape = served_stats(server)["shape"]
    return elapsed, used, shape


RUNS = {"inprocess": (run_ours, run_hand), "loopback": (run_ours_loopback, run_hand_loopback)}
LEAN = {"inprocess": run_hand_lean}  # the lean reference, where there is one (informational)


def measure(mode: str, tenants: int, machines: int, concurrency: int, repeat: int, workdir: Path,
            profile: cProfile.Profile | None = None) -> dict:
    """``repeat`` interleaved runs of each side in ``mode`` (alternating who goes first, so machine
    load hits both alike), after a small warm-up of each. A run that loses a connection is run
    again, and counted in ``again``: on a loaded machine the served simulator (uvicorn, which
    closes a keep-alive connection idle for 5 s) may close one as a client reuses it — the
    script then fails, and so does ours when it was a POST (its outcome is unknown: no retry)."""
    ours_fn, hand_fn = RUNS[mode]
    lean_fn = LEAN.get(mode)
    out: dict = {"ours": [], "hand": [], "ours_cpu": [], "hand_cpu": [], "lean": [], "tokens": [], "shapes": {},
                 "again": 0}
    hand_fn(2, 5, 2)  # warm up imports (and in-process, the simulator's key pool)
    ours_fn(2, 5, 2, workdir, None)
    for i in range(repeat):
        if lean_fn is not None:
            t, _, out["shapes"]["lean"] = lean_fn(tenants, machines, concurrency)
            out["lean"].append(t)
        for which in ((0, 1) if i % 2 == 0 else (1, 0)):
            if which == 0:
                args = (tenants, machines, concurrency, workdir, profile)
                t, c, n, out["shapes"]["ours"] = _again(ours_fn, args, out)
                out["ours"].append(t)
                out["ours_cpu"].append(c)
                out["tokens"].append(n)
            else:
                t, c, out["shapes"]["hand"] = _again(hand_fn, (tenants, machines, concurrency), out)
                out["hand"].append(t)
                out["hand_cpu"].append(c)
    if out["shapes"].get("lean", out["shapes"]["hand"]) != out["shapes"]["hand"]:
        sys.exit(f"{mode}: the lean script made different calls: {dict(out['shapes']['lean'])}")
    if out["shapes"]["ours"] != out["shapes"]["hand"]:
        sys.exit(f"{mode}: the two sides made different calls: ours {dict(out['shapes']['ours'])}, "
                 f"hand-written {dict(out['shapes']['hand'])}")
    return out


def _again(fn, args: tuple, out: dict, tries: int = 3):
    import httpx

    for attempt in range(1, tries + 1):
        try:
            return fn(*args)
        except (httpx.TransportError, LostConnection) as exc:
            if attempt == tries:
                raise
            out["again"] += 1
            print(f"  ({fn.__name__} lost a connection: {type(exc).__name__}; run again)", file=sys.stderr)


def rows(quick: bool, modes: tuple[str, ...] = tuple(MODES)) -> list:
    """The summary rows for ``python -m benchmarks`` (benchmarks/common.py): the same measurement
    as ``main``, per mode (quick: 2 tenants × 10 machines, once)."""
    from benchmarks.common import Row, Samples, seconds

    tenants, machines, concurrency, repeat = (2, 10, 5, 1) if quick else (20, 100, 10, 5)
    where = f"isolate {tenants * machines:,} machines over {tenants} tenants, {concurrency} at once per tenant"
    out = []
    with tempfile.TemporaryDirectory(prefix="soar-fanout-") as tmp:
        for mode in modes:
            m = measure(mode, tenants, machines, concurrency, repeat, Path(tmp))
            o, h = Samples(tuple(m["ours"])), Samples(tuple(m["hand"]))
            ratio = o.median / h.median
            label = "fan-out" if mode == "inprocess" else "fan-out, loopback"
            out += [Row(measure=f"{label}: {where} ({MODES[mode]})", ours=seconds(o.median),
                        reference=f"hand-written asyncio+httpx, same setup {seconds(h.median)}", ratio=ratio,
                        target="≤ 1.10", met=ratio <= 1.10, noise=f"ours {o.spread(seconds)}; ref {h.spread(seconds)}"),
                    *([_lean_row(label, o, Samples(tuple(m["lean"])))] if m["lean"] else []),
                    Row(measure=f"{label}: token requests per run", ours=f"{max(m['tokens'])}",
                        reference=f"{tenants} tenants (hand-written: pre-acquired)", ratio=max(m["tokens"]) / tenants,
                        target="exactly 1 per tenant", met=set(m["tokens"]) == {tenants})]
    return out


def _lean_row(label: str, ours, lean):
    from benchmarks.common import Row, seconds

    return Row(measure=f"{label}: ours against a lean hand-written script (no httpx.AsyncClient layers, "
                       "as soar sends): the engine's own overhead", ours=seconds(ours.median),
               reference=f"lean asyncio+httpx transport {seconds(lean.median)}", ratio=ours.median / lean.median,
               noise=f"lean {lean.spread(seconds)}")


def report(mode: str, m: dict, args: argparse.Namespace) -> bool:
    total = args.tenants * args.machines
    ours, hand = m["ours"], m["hand"]
    med_o, med_h = statistics.median(ours), statistics.median(hand)
    ratio = med_o / med_h
    print(f"fan-out [{mode}: {MODES[mode]}]: isolate {total:,} machines across {args.tenants} simulated tenants, "
          f"{args.concurrency} at once per tenant, quotas off, {args.repeat} runs each")
    print(f"  calls per run (ours):        {dict(sorted(m['shapes']['ours'].items()))}")
    print(f"  calls per run (hand-written): {dict(sorted(m['shapes']['hand'].items()))}")
    print(f"  ours (soar engine)       median {med_o:.3f} s   min {min(ours):.3f}  max {max(ours):.3f}"
          f"   ({total / med_o:,.0f} isolations/s)")
    print(f"  hand-written asyncio+httpx median {med_h:.3f} s   min {min(hand):.3f}  max {max(hand):.3f}")
    print(f"  ratio ours/hand-written: {ratio:.3f}   target <= 1.10   met: {'yes' if ratio <= 1.10 else 'no'}")
    if m["lean"]:
        lean = statistics.median(m["lean"])
        print(f"  lean hand-written (transport direct) median {lean:.3f} s   min {min(m['lean']):.3f}  "
              f"max {max(m['lean']):.3f}; ours/lean {med_o / lean:.3f} (the engine's own overhead: "
              f"{(med_o - lean) / total * 1e6:.0f} µs per isolation; no target)")
    if m["again"]:
        print(f"  runs repeated after a lost connection: {m['again']}")
    cpu_o, cpu_h = statistics.median(m["ours_cpu"]), statistics.median(m["hand_cpu"])
    where = "" if mode == "inprocess" else " (this process only: the simulator's CPU is in the child)"
    print(f"  CPU time{where}: ours {cpu_o:.3f} s, hand-written {cpu_h:.3f} s, "
          f"ratio {cpu_o / cpu_h:.3f}; our overhead {(cpu_o - cpu_h) / total * 1e6:.0f} µs per isolation")
    exact = set(m["tokens"]) == {args.tenants}
    print(f"  token requests per run (ours): {sorted(set(m['tokens']))}   target exactly {args.tenants}"
          f"   met: {'yes' if exact else 'no'}")
    return exact


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--mode", choices=("inprocess", "loopback", "both"), default="both",
                   help="where the simulated API runs (default: both, each against its own reference)")
    p.add_argument("--tenants", type=int, default=20)
    p.add_argument("--machines", type=int, default=100, help="machines per tenant")
    p.add_argument("--concurrency", type=int, default=10, help="isolations at once per tenant")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--profile", help="write a cProfile of our runs here and print the top functions")
    p.add_argument("--pin", action="store_true",
                   help="loopback: this process on one CPU, the served simulator on the others (default: "
                        "the OS places both, as the reference figures were measured)")
    args = p.parse_args(argv)
    if args.pin:
        from benchmarks.common import pin_apart

        pinned = pin_apart()
        print(f"CPUs: this process {sorted(pinned[0])}, the served simulator {sorted(pinned[1])}" if pinned
              else "CPUs: not pinned (one CPU, or no affinity control)")

    profile = cProfile.Profile() if args.profile else None
    modes = tuple(MODES) if args.mode == "both" else (args.mode,)
    exact = True
    with tempfile.TemporaryDirectory(prefix="soar-fanout-") as tmp:
        for mode in modes:
            m = measure(mode, args.tenants, args.machines, args.concurrency, args.repeat, Path(tmp), profile)
            exact = report(mode, m, args) and exact
    if profile is not None:
        profile.dump_stats(args.profile)
        print(f"\nprofile of our runs written to {args.profile}; top functions by own time:")
        pstats.Stats(profile).sort_stats("tottime").print_stats(25)
    return 0 if exact else 1


if __name__ == "__main__":
    sys.exit(main())
