"""Quota compliance: how close the runner gets to Defender's per-minute budget without breaking it,
against a naive client that ignores 429s, in one run.

    python -m benchmarks.quotas [--calls 600] [--concurrency 50] [--repeat 3] [--quick]

The simulated Defender for Endpoint API enforces its documented budget (``mde``: 100 calls per
minute and 1,500 per hour per tenant) on a clock sped up 60× (one simulated minute is one real
second). A playbook makes ``--calls`` ``defender.get_machine`` calls, ``--concurrency`` at a time,
through the runner's API clients (whose own quota windows run on the same simulated clock).

Achieved rate = the allowed rate × (ideal span / actual span), where the span runs from the first
to the last successful call on the simulated clock and the ideal span, for N calls, is
(⌈N / 100⌉ − 1) minutes: a client that spends each window's budget the moment it frees scores
exactly the allowed rate (the first window's burst is not counted as speed). Targets: ≥ 90 % of the
allowed rate, no failed step. For contrast, a plain httpx loop with the same concurrency and the
same token, that neither paces itself nor honours ``Retry-After``, sends the same number of calls.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import Row, Samples, format_table  # noqa: E402

TARGET = 0.90
TIME_SCALE = 60.0
LIMIT, WINDOW = 100, 60.0  # the mde bucket's per-minute budget (plugins/defender/soar_defender/sim/quotas.py)
TENANT = "contoso"
MDE_HOST = "api.securitycenter.microsoft.com"

PLAYBOOK = """\
name: bench-quota
inputs:
  calls: {type: integer, default: 600}
  machine: {type: string}
steps:
  - id: get
    action: defender.get_machine
    foreach: "${{ range(inputs.calls) | list }}"
    concurrency: %d
    with: {machine_id: "${{ inputs.machine }}"}
outputs:
  got: "${{ steps.get.output | length }}"
"""


def _cloud():
    from runner.testing import make_cloud

    return make_cloud([TENANT], defender={"time_scale": TIME_SCALE})


def _rate(times: list[float]) -> float | None:
    """Calls per simulated minute, as the allowed rate times (ideal span / actual span)."""
    if len(times) <= LIMIT:
        return None
    span = max(times) - min(times)
    ideal = (math.ceil(len(times) / LIMIT) - 1) * WINDOW
    return ideal / span * (LIMIT / WINDOW * 60.0) if span > 0 else None


def ours(calls: int, concurrency: int) -> dict:
    from runner.testing import SoarRunner

    cloud = _cloud()
    machine = cloud.defender.tenant(TENANT).devices[0]["id"]
    with SoarRunner(cloud) as runner:
        started = time.perf_counter()
        outcome = runner.run(PLAYBOOK % concurrency, inputs={"calls": calls, "machine": machine}, tenant=TENANT)
        elapsed = time.perf_counter() - started
        log = cloud.defender.requests(method="GET")
        ok = [e["time"] for e in log if e["status"] == 200 and e["path"].startswith("/api/machines/")]
        return {"rate": _rate(ok), "ok": len(ok), "throttled": sum(1 for e in log if e["status"] == 429),
                "failed": len(outcome.failed("get")) + (outcome.status != "succeeded"),
                "status": outcome.status, "seconds": elapsed}


def naive(calls: int, concurrency: int) -> dict:
    """A plain httpx loop: ``concurrency`` workers, no pacing, a 429 is just a failed call."""
    import httpx

    cloud = _cloud()
    machine = cloud.defender.tenant(TENANT).devices[0]["id"]
    headers = {"Authorization": f"Bearer {cloud.issue_token(TENANT, 'mde')}"}
    url = f"https://{MDE_HOST}/api/machines/{machine}"
    statuses: list[int] = []

    async def main() -> None:
        todo = iter(range(calls))
        async with httpx.AsyncClient(transport=httpx.MockTransport(cloud.handler)) as client:
            async def worker() -> None:
                for _ in todo:
                    statuses.append((await client.get(url, headers=headers)).status_code)
            await asyncio.gather(*(worker() for _ in range(concurrency)))

    asyncio.run(main())
    log = cloud.defender.requests(method="GET")
    ok = [e["time"] for e in log if e["status"] == 200]
    return {"rate": _rate(ok), "ok": statuses.count(200), "throttled": statuses.count(429),
            "failed": len(statuses) - statuses.count(200)}


def measure(calls: int, concurrency: int, repeat: int) -> tuple[list[dict], dict]:
    return [ours(calls, concurrency) for _ in range(repeat)], naive(calls, concurrency)


def report(runs: list[dict], contrast: dict, calls: int, concurrency: int) -> list[Row]:
    allowed = LIMIT / WINDOW * 60.0
    rates = Samples(tuple(r["rate"] or 0.0 for r in runs))
    share = rates.median / allowed
    naive_rate = f"{contrast['rate']:.0f}/min" if contrast["rate"] else "no second window"

    def pct(x: float) -> str:
        return f"{x / allowed:.1%}"

    throttled = Samples(tuple(float(r["throttled"]) for r in runs))
    failed = max(r["failed"] for r in runs)
    where = f"{calls} defender.get_machine, concurrency {concurrency}, mde {LIMIT}/min, clock ×{TIME_SCALE:g}"
    return [
        Row(measure=f"quota: achieved rate / allowed ({where})",
            ours=f"{rates.median:.1f}/min ({share:.1%})",
            reference=f"allowed {allowed:.0f}/min; naive client {contrast['ok']} ok of {calls}, {naive_rate}",
            ratio=share, target=f"≥ {TARGET:.0%}", met=share >= TARGET,
            noise=f"ours {rates.spread(pct)}"),
        Row(measure=f"quota: 429s received, failed steps ({calls} calls)",
            ours=f"{throttled.median:.0f} × 429 absorbed, {failed} failed",
            reference=f"naive client: {contrast['throttled']} × 429 = {contrast['failed']} failed calls",
            ratio=None, target="0 failed", met=failed == 0,
            noise=f"429s {throttled.spread(lambda x: f'{x:.0f}')}"),
    ]


def rows(quick: bool, calls: int | None = None, concurrency: int = 50, repeat: int | None = None) -> list[Row]:
    calls = calls or (250 if quick else 600)
    runs, contrast = measure(calls, concurrency, repeat or (1 if quick else 3))
    return report(runs, contrast, calls, concurrency)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=None, help="calls per run (default 600; quick 250)")
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=None, help="runs of ours (default 3; quick 1)")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    result = rows(args.quick, args.calls, args.concurrency, args.repeat)
    print(json.dumps([r.to_dict() for r in result]) if args.json else format_table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
