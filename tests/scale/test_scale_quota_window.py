"""The API client's quota window counts a call from when its answer arrived (runner.apis).

The service stamps a call somewhere between our send and its answer; if our window freed the
slot at send time + window, a client running exactly at the limit would be answered 429 for
latency alone — and each 429 costs a whole Retry-After (at least a second)."""

from __future__ import annotations

import asyncio
import time

import httpx

from runner.apis import ApiClients, QuotaBucket
from runner.engine.context import TenantInfo
from runner.http import Network


def test_a_slot_frees_a_window_after_the_answer_not_after_the_send():
    async def go():
        bucket = QuotaBucket("mde", [(1, 0.1)])
        receipt: list = []
        t0 = time.monotonic()
        await bucket.acquire(receipt=receipt)
        await asyncio.sleep(0.06)          # the request is in flight
        bucket.answered(receipt)
        t_answer = time.monotonic()
        await bucket.acquire()             # the next call waits a window from the answer
        return t0, t_answer, time.monotonic()

    t0, t_answer, t_next = asyncio.run(go())
    assert t_next - t_answer >= 0.1 - 1e-3
    assert t_next - t0 >= 0.16 - 1e-3


def test_clients_are_reused_and_paced_through_the_handler():
    seen: list[float] = []

    def handler(request):
        seen.append(time.monotonic())
        return httpx.Response(200, json={"value": []})

    apis = ApiClients(Network.simulated(handler), quotas={"mde": {"per_second": 3}}, time_scale=0.1)
    tenant = TenantInfo("contoso")
    client = apis.client(tenant, "mde")
    assert apis.client(tenant, "mde") is client  # one client per (tenant, api, roles, quota)

    async def go():
        await asyncio.gather(*(client.get("/api/machines") for _ in range(7)))
        await apis.aclose()

    asyncio.run(go())
    assert len(seen) == 7
    for i in range(3, 7):  # never more than 3 requests in any 0.1 s window
        assert sorted(seen)[i] - sorted(seen)[i - 3] >= 0.1 - 1e-3
