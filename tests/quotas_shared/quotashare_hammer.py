"""One process hammering a shared quota bucket (run by test_quotashare_procs.py).

    python quotashare_hammer.py URL TENANT PER_MINUTE TIME_SCALE CALLS CONCURRENCY LATENCY [PAUSE_AFTER PAUSE_S]

Prints ``ready`` once connected, starts when a line arrives on stdin, then makes CALLS calls,
CONCURRENCY at a time, each "in flight" LATENCY seconds between its grant and its answer. With
PAUSE_AFTER, the process reports a 429 (``pause(PAUSE_S)``) after its PAUSE_AFTER-th call.
Prints one JSON document: ``times`` (epoch seconds each call was granted), ``pause``
([when pause() was called, when its write was done]) or null.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from runner.apis.quotas import quota_limits
from runner.apis.shared_quotas import SharedQuotas


async def main(argv: list[str]) -> dict:
    url, tenant = argv[0], argv[1]
    per_minute, scale = int(argv[2]), float(argv[3])
    calls, concurrency, latency = int(argv[4]), int(argv[5]), float(argv[6])
    pause_after = int(argv[7]) if len(argv) > 7 else None
    pause_s = float(argv[8]) if len(argv) > 8 else 0.0
    limits = quota_limits({"hammer": {"per_minute": per_minute}}, scale, registry={})["hammer"]
    shared = SharedQuotas(url)
    bucket = shared.bucket(tenant, "hammer", limits)
    times: list[float] = []
    pause: list[float] | None = None
    try:
        await shared.run("connect", lambda conn: conn.execute("SELECT 1"))
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        left = iter(range(calls))

        async def worker() -> None:
            nonlocal pause
            for _ in left:
                receipt: list = []
                await bucket.acquire(receipt=receipt)
                times.append(time.time())
                await asyncio.sleep(latency)
                bucket.answered(receipt)
                if pause_after is not None and len(times) >= pause_after and pause is None:
                    pause = [time.time()]
                    bucket.pause(pause_s)
                    await asyncio.gather(*list(shared._tasks))  # the write is in the database
                    pause.append(time.time())

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    finally:
        await shared.aclose()
    return {"times": times, "pause": pause}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1:]))), flush=True)
