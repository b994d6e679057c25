"""Fan-out: isolate 2,000 machines across 20 simulated tenants, through soar and by hand.

    python benchmarks/fanout.py [--tenants 20] [--machines 100] [--concurrency 10] [--repeat 5]
                                [--profile FILE]

*ours*: the ``isolate`` playbook below, run by the real engine (store, token provider, API
clients, the ``defender.isolate_machine`` action) in-process against the simulated cloud, with
quotas off on both sides (``runner.testing.SoarRunner``: the same services ``soar run`` builds).
*hand-written*: one asyncio + httpx script making the same calls — per tenant the machine list
(same paging), then per machine the open-isolation look-up and the isolate POST — with the same
concurrency (every tenant at once, ``--concurrency`` machines per tenant) and tokens acquired
before the clock starts. Both talk to the same in-process simulator (a fresh one per run).

Prints the median wall time of each (with min/max), the ratio (target ≤ 1.10) and the number
of token requests that reached the simulated Entra ID during our run (target: one per tenant).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

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
MDE = "https://api.securitycenter.microsoft.com"


def new_cloud(tenants: int, machines: int):
    from runner.testing import make_cloud

    return make_cloud(tenants, defender={"devices_per_tenant": machines, "quotas": False})


def call_shape(cloud) -> Counter:
    """What reached the simulator, by method and route."""
    def kind(path: str) -> str:
        return "isolate" if path.endswith("/isolate") else path.rsplit("/", 1)[-1]
    return Counter((e["method"], kind(e["path"])) for e in cloud.defender.log)


def run_ours(tenants: int, machines: int, concurrency: int, workdir: Path, profile: cProfile.Profile | None):
    from runner.testing import SoarRunner

    cloud = new_cloud(tenants, machines)
    path = workdir / "fanout.yaml"
    path.write_text(PLAYBOOK.format(concurrency=concurrency))
    store = workdir / f"ours-{time.monotonic_ns()}"
    store.mkdir()
    with SoarRunner(cloud, workdir=store, quotas="off", auto_approve=True) as runner:
        playbook = runner.load(path)  # loading is not part of the fan-out
        from runner.engine.run import Engine

        async def main():
            try:
                return await Engine(runner.services).start(playbook)
            finally:
                await runner.apis.aclose()

        if profile is not None:
            profile.enable()
        t0, c0 = time.perf_counter(), time.process_time()
        result = asyncio.run(main())
        elapsed, used = time.perf_counter() - t0, time.process_time() - c0
        if profile is not None:
            profile.disable()
        runner.services.store.flush()
    isolated = sum(int(r["outputs"]["isolated"]) for r in result.outputs.values() if r["outputs"])
    if result.status != "succeeded" or isolated != tenants * machines:
        sys.exit(f"our run did not isolate everything: {result.status}, {isolated} isolated, {result.error}")
    return elapsed, used, cloud.total_token_requests(), call_shape(cloud)


def run_hand(tenants: int, machines: int, concurrency: int):
    import httpx

    cloud = new_cloud(tenants, machines)
    tokens = {name: cloud.issue_token(name, "mde") for name in cloud.tenants}  # pre-acquired

    async def tenant(client: httpx.AsyncClient, name: str) -> int:
        headers = {"Authorization": f"Bearer {tokens[name]}"}
        found, skip = [], 0
        while True:  # the same paging as ours: $top/$skip until a short page
            r = await client.get(f"{MDE}/api/machines", params={"$top": 10_000, "$skip": skip}, headers=headers)
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
                r = await client.get(f"{MDE}/api/machineactions", params={"$filter": flt, "$top": 1000, "$skip": 0},
                                     headers=headers)
                r.raise_for_status()
                if any(a["status"] in ("Pending", "InProgress") for a in r.json()["value"]):
                    return
                r = await client.post(f"{MDE}/api/machines/{machine['id']}/isolate", headers=headers,
                                      json={"Comment": "fan-out benchmark", "IsolationType": "Full"})
                r.raise_for_status()

        await asyncio.gather(*(isolate(m) for m in found))
        return len(found)

    async def main() -> int:
        async with httpx.AsyncClient(transport=httpx.MockTransport(cloud.handler)) as client:
            return sum(await asyncio.gather(*(tenant(client, n) for n in cloud.tenants)))

    t0, c0 = time.perf_counter(), time.process_time()
    isolated = asyncio.run(main())
    elapsed, used = time.perf_counter() - t0, time.process_time() - c0
    if isolated != tenants * machines:
        sys.exit(f"the hand-written script isolated {isolated}")
    return elapsed, used, call_shape(cloud)


def rows(quick: bool) -> list:
    """The summary rows for ``python -m benchmarks`` (benchmarks/common.py): the same measurement
    as ``main`` (quick: 2 tenants × 10 machines, once)."""
    from benchmarks.common import Row, Samples, seconds

    tenants, machines, concurrency, repeat = (2, 10, 5, 1) if quick else (20, 100, 10, 5)
    ours, hand, tokens = [], [], []
    with tempfile.TemporaryDirectory(prefix="soar-fanout-") as tmp:
        run_hand(2, 5, 2)  # warm up imports and the simulator's key pool
        run_ours(2, 5, 2, Path(tmp), None)
        for i in range(repeat):  # interleaved, alternating who goes first
            for which in ((0, 1) if i % 2 == 0 else (1, 0)):
                if which == 0:
                    t, _c, n, _shape = run_ours(tenants, machines, concurrency, Path(tmp), None)
                    ours.append(t)
                    tokens.append(n)
                else:
                    hand.append(run_hand(tenants, machines, concurrency)[0])
    o, h = Samples(tuple(ours)), Samples(tuple(hand))
    ratio = o.median / h.median
    where = f"isolate {tenants * machines:,} machines over {tenants} tenants, {concurrency} at once per tenant"
    return [Row(measure=f"fan-out: {where}", ours=seconds(o.median),
                reference=f"hand-written asyncio+httpx {seconds(h.median)}", ratio=ratio, target="≤ 1.10",
                met=ratio <= 1.10, noise=f"ours {o.spread(seconds)}; ref {h.spread(seconds)}"),
            Row(measure="fan-out: token requests per run", ours=f"{max(tokens)}",
                reference=f"{tenants} tenants (hand-written: pre-acquired)", ratio=max(tokens) / tenants,
                target="exactly 1 per tenant", met=set(tokens) == {tenants})]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tenants", type=int, default=20)
    p.add_argument("--machines", type=int, default=100, help="machines per tenant")
    p.add_argument("--concurrency", type=int, default=10, help="isolations at once per tenant")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--profile", help="write a cProfile of our runs here and print the top functions")
    args = p.parse_args(argv)

    profile = cProfile.Profile() if args.profile else None
    ours, hand, tokens, ours_cpu, hand_cpu = [], [], [], [], []
    shapes = {}
    with tempfile.TemporaryDirectory(prefix="soar-fanout-") as tmp:
        run_hand(2, 5, 2)  # warm up imports and the simulator's key pool
        run_ours(2, 5, 2, Path(tmp), None)
        for i in range(args.repeat):  # interleaved, so machine load hits both alike
            order = (0, 1) if i % 2 == 0 else (1, 0)
            for which in order:
                if which == 0:
                    t, c, n, shapes["ours"] = run_ours(args.tenants, args.machines, args.concurrency,
                                                       Path(tmp), profile)
                    ours.append(t)
                    ours_cpu.append(c)
                    tokens.append(n)
                else:
                    t, c, shapes["hand"] = run_hand(args.tenants, args.machines, args.concurrency)
                    hand.append(t)
                    hand_cpu.append(c)

    total = args.tenants * args.machines
    med_o, med_h = statistics.median(ours), statistics.median(hand)
    ratio = med_o / med_h
    print(f"fan-out: isolate {total:,} machines across {args.tenants} simulated tenants, "
          f"{args.concurrency} at once per tenant, quotas off, {args.repeat} runs each")
    print(f"  calls per run (ours):        {dict(sorted(shapes['ours'].items()))}")
    print(f"  calls per run (hand-written): {dict(sorted(shapes['hand'].items()))}")
    print(f"  ours (soar engine)       median {med_o:.3f} s   min {min(ours):.3f}  max {max(ours):.3f}"
          f"   ({total / med_o:,.0f} isolations/s)")
    print(f"  hand-written asyncio+httpx median {med_h:.3f} s   min {min(hand):.3f}  max {max(hand):.3f}")
    print(f"  ratio ours/hand-written: {ratio:.3f}   target <= 1.10   met: {'yes' if ratio <= 1.10 else 'no'}")
    cpu_o, cpu_h = statistics.median(ours_cpu), statistics.median(hand_cpu)
    print(f"  CPU time (less sensitive to a busy machine): ours {cpu_o:.3f} s, hand-written {cpu_h:.3f} s, "
          f"ratio {cpu_o / cpu_h:.3f}; our overhead {(cpu_o - cpu_h) / total * 1e6:.0f} µs per isolation")
    exact = set(tokens) == {args.tenants}
    print(f"  token requests per run (ours): {sorted(set(tokens))}   target exactly {args.tenants}"
          f"   met: {'yes' if exact else 'no'}")
    if profile is not None:
        profile.dump_stats(args.profile)
        print(f"\nprofile of our runs written to {args.profile}; top functions by own time:")
        pstats.Stats(profile).sort_stats("tottime").print_stats(25)
    return 0 if exact else 1


if __name__ == "__main__":
    sys.exit(main())
