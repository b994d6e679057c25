"""JSON answers: decoding Defender's answers with ``runner.jsoncodec.loads`` against ``json.loads``.

    python benchmarks/json_answers.py [--quick] [--markdown | --json]

The answers are the simulated Defender's own (``GET /api/machines`` pages of 1, 10 and 100
machines, an empty ``machineactions`` look-up, the answer of an isolate POST), read as an API
client reads them. Both decoders get the same bytes, interleaved in rounds; per call CPU time,
median over the rounds. Target: ours no slower than the stdlib (ratio ≤ 1) on every answer —
else the orjson path does not pay and ``json.loads`` should be used. The row's reference also
gives orjson alone (without the check that keeps integers beyond 64 bits exact): the floor.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import Row, bench_main, seconds  # noqa: E402

MDE = "https://api.securitycenter.microsoft.com/api"


def answers() -> dict[str, bytes]:
    """What the simulated Defender answers, as bytes on the wire."""
    import httpx

    from runner.testing import make_cloud

    cloud = make_cloud(1, defender={"devices_per_tenant": 100, "quotas": False})
    tenant = next(iter(cloud.tenants))
    headers = {"Authorization": f"Bearer {cloud.issue_token(tenant, 'mde')}"}
    with httpx.Client(transport=httpx.MockTransport(cloud.handler), headers=headers) as client:
        out = {f"machines page, {n} item{'s' if n > 1 else ''}":
               client.get(f"{MDE}/machines", params={"$top": n}).raise_for_status().content for n in (1, 10, 100)}
        machine = json.loads(out["machines page, 1 item"])["value"][0]["id"]
        out["machineactions look-up, no item"] = client.get(
            f"{MDE}/machineactions", params={"$filter": f"machineId eq '{machine}'"}).raise_for_status().content
        out["isolate answer, one object"] = client.post(
            f"{MDE}/machines/{machine}/isolate", json={"Comment": "bench", "IsolationType": "Full"}
        ).raise_for_status().content
    return out


def per_call(decoders: dict[str, Callable[[bytes], Any]], data: bytes, rounds: int) -> dict[str, float]:
    """Median CPU seconds per call of each decoder on ``data``, interleaved over ``rounds``."""
    n = max(10, 100_000 // len(data))
    times: dict[str, list[float]] = {name: [] for name in decoders}
    for _ in range(rounds):
        for name, decode in decoders.items():
            t = time.process_time()
            for _ in range(n):
                decode(data)
            times[name].append((time.process_time() - t) / n)
    return {name: statistics.median(v) for name, v in times.items()}


def rows(quick: bool) -> list[Row]:
    import orjson

    from runner.jsoncodec import loads

    rounds = 3 if quick else 21
    out = []
    for name, data in answers().items():
        if json.loads(data) != loads(data):
            raise AssertionError(f"{name}: runner.jsoncodec.loads and json.loads differ")
        t = per_call({"ours": loads, "stdlib": json.loads, "orjson": orjson.loads}, data, rounds)
        ratio = t["ours"] / t["stdlib"]
        out.append(Row(measure=f"JSON answer: {name} ({len(data):,} bytes), runner.jsoncodec.loads",
                       ours=seconds(t["ours"]), reference=f"json.loads {seconds(t['stdlib'])} "
                                                         f"(orjson alone {seconds(t['orjson'])})",
                       ratio=ratio, target="≤ 1", met=ratio <= 1.0, noise=f"median of {rounds} rounds"))
    return out


if __name__ == "__main__":
    sys.exit(bench_main(rows, __doc__))
