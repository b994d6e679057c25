"""A process of a scaled-out deployment, as far as tokens go: one TokenProvider on the store
given, against the simulated cloud served on loopback (tests/auth/test_tokdb_processes.py).

    python tokdb_worker.py SOAR_YAML SIM_URL STORE_URL

It builds its token provider as a worker's (``role="worker"``), prints ``ready``, then answers one JSON line
per JSON command read from stdin: ``{"offset": s, "start_at": t, "tenants": [...]}`` moves its
clock ``s`` seconds ahead, waits until wall time ``t`` (so the processes ask together), asks
for every tenant's token at once and prints ``{"requests": n, "tokens": {tenant: digest}}``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import sys
import time


def main() -> None:
    config_path, sim_url, store_url = sys.argv[1:4]
    logging.basicConfig(level=logging.DEBUG, stream=sys.stderr, format="%(levelname)s %(name)s %(message)s")
    for noisy in ("httpx", "httpcore", "msal", "urllib3"):  # their own debug lines say nothing of the cache
        logging.getLogger(noisy).setLevel(logging.WARNING)
    from runner.auth import TokenProvider
    from runner.config import load_config
    from runner.http import Network

    offset = [0.0]
    provider = TokenProvider(load_config(config_path), Network.loopback(sim_url), clock=lambda: time.time() + offset[0],
                             store_url=store_url, role="worker")
    print("ready", flush=True)
    asyncio.run(serve(provider, offset))
    provider.close()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # skip the interpreter's teardown (most of a second per process)


async def serve(provider, offset: list[float]) -> None:
    while True:
        line = await asyncio.to_thread(sys.stdin.readline)
        if not line:
            return
        command = json.loads(line)
        offset[0] = float(command.get("offset", 0))
        await asyncio.sleep(max(0.0, command.get("start_at", 0) - time.time()))
        tokens = await asyncio.gather(*(provider.get_token(t, "mde") for t in command["tenants"]))
        stats = provider.stats
        print(json.dumps({
            "requests": sum(stats["token_requests"].values()),
            "unreadable": stats.get("unreadable_cached_tokens"),
            "tokens": {t.tenant: hashlib.sha256(t.value.reveal().encode()).hexdigest()[:16] for t in tokens},
        }), flush=True)


if __name__ == "__main__":
    main()
