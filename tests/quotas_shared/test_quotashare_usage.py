"""How much of a budget is spent now (the console's tenants page): an in-process bucket counts its
own calls per window; a shared bucket counts, in one query, the calls every process was granted."""

from __future__ import annotations

import asyncio

import pytest

from runner.apis import QuotaBucket
from runner.apis.shared_quotas import SharedQuotas


def test_an_in_process_bucket_counts_the_calls_in_each_window():
    now = [1000.0]
    bucket = QuotaBucket("mde", [(5, 10.0), (100, 60.0)], clock=lambda: now[0])

    async def go():
        for _ in range(3):
            await bucket.acquire()
        first = await bucket.usage()
        now[0] += 11  # out of the 10 s window, still in the minute
        await bucket.acquire()
        return first, await bucket.usage()

    first, later = asyncio.run(go())
    assert first == [(5, 10.0, 3), (100, 60.0, 3)]
    assert later == [(5, 10.0, 1), (100, 60.0, 4)]
    assert bucket.paused_for() == 0.0
    bucket.pause(30)
    assert 29.9 < bucket.paused_for() <= 30
    assert asyncio.run(QuotaBucket("graph", []).usage()) == []  # no budget: nothing counted


@pytest.mark.postgres
def test_a_shared_bucket_counts_every_process_calls(pg_url):
    async def go():
        one, two = SharedQuotas(pg_url), SharedQuotas(pg_url)  # two processes' views of the budgets
        try:
            a = one.bucket("t-usage", "mde", [(50, 60.0), (1500, 3600.0)])
            b = two.bucket("t-usage", "mde", [(50, 60.0), (1500, 3600.0)])
            for bucket, n in ((a, 3), (b, 2)):
                for _ in range(n):
                    await bucket.acquire()
            other = one.bucket("t-usage", "hunting", [(45, 60.0)])
            return await a.usage(), await b.usage(), await other.usage()
        finally:
            await one.aclose()
            await two.aclose()

    seen_by_one, seen_by_two, hunting = asyncio.run(go())
    assert seen_by_one == seen_by_two == [(50, 60.0, 5), (1500, 3600.0, 5)]
    assert hunting == [(45, 60.0, 0)]
