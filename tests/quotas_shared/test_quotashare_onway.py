"""A call on its way longer than a window stays counted until its answer: two processes share
a bucket (2 calls per 2 s); a service counts calls when they reach it (a sliding window on
their arrival, as the simulated Defender does). One call reaches it late (a starved client, a
server busy with a burst): its grant's stamp leaves the window before the service counts it,
and the next call must still wait for it, not go out into a 429."""

from __future__ import annotations

import asyncio
import time

import pytest

from runner.apis.shared_quotas import SharedQuotas

pytestmark = pytest.mark.postgres

LIMIT, WINDOW = 2, 2.0


class Service:
    """Counts a call when it arrives, over the last ``WINDOW`` seconds; refuses the one too many."""

    def __init__(self) -> None:
        self.arrivals: list[float] = []
        self.refused: list[float] = []

    def arrive(self) -> None:
        now = time.monotonic()
        if sum(1 for t in self.arrivals if t > now - WINDOW) >= LIMIT:
            self.refused.append(now)
        else:
            self.arrivals.append(now)


async def call(bucket, service: Service, *, on_the_way: float = 0.0, answer_after: float = 0.0) -> float:
    receipt: list = []
    await bucket.acquire(receipt=receipt)
    granted = time.monotonic()
    await asyncio.sleep(on_the_way)
    service.arrive()
    await asyncio.sleep(answer_after)
    bucket.answered(receipt)
    return granted


def test_a_call_slow_to_arrive_keeps_its_slot_until_answered(pg_url):
    async def go() -> tuple[Service, list[float]]:
        service = Service()
        one, two = SharedQuotas(pg_url), SharedQuotas(pg_url)  # two processes
        first, second = (p.bucket("contoso", "onway", [(LIMIT, WINDOW)]) for p in (one, two))
        try:
            slow = asyncio.create_task(call(first, service, on_the_way=0.9 * WINDOW, answer_after=0.2 * WINDOW))
            await asyncio.sleep(0.5 * WINDOW)
            grants = [await call(second, service), await call(second, service)]
            grants.insert(0, await slow)
        finally:
            await one.aclose()
            await two.aclose()
        return service, grants

    service, grants = asyncio.run(go())
    assert service.refused == []
    assert len(service.arrivals) == 3
    # the third call waited for the slow one's answer, not for its grant to be a window old
    assert grants[2] - grants[0] > 1.05 * WINDOW
