"""The in-process quota bucket keeps counting a call still on its way after its stamp would have left
the window: the service may count it only when it reaches it, so freeing its slot early lets one
call too many through (a 429). The shared buckets renew such stamps the same way."""

from __future__ import annotations

import asyncio
import time

from runner.apis.quotas import QuotaBucket

WINDOW = 0.2


async def _scenario() -> tuple[float, list[int]]:
    bucket = QuotaBucket("t", [(2, WINDOW)])
    slow: list = []
    await bucket.acquire(receipt=slow)          # a call still on its way
    quick: list = []
    await bucket.acquire(receipt=quick)
    bucket.answered(quick)
    await asyncio.sleep(WINDOW * 1.25)            # both grants have left the window
    await bucket.acquire(receipt=[])              # a slot freed by the answered call
    usage = [count for _, _, count in await bucket.usage()]

    async def answer_later():
        await asyncio.sleep(WINDOW)
        bucket.answered(slow)                     # the slow call's answer comes

    answering = asyncio.create_task(answer_later())
    started = time.monotonic()
    await asyncio.wait_for(bucket.acquire(receipt=[]), 5)  # the slow call still counts: this one waits
    waited = time.monotonic() - started
    await answering
    return waited, usage


def test_a_call_on_its_way_keeps_its_slot_until_it_is_answered():
    waited, usage = asyncio.run(_scenario())
    # it waits for the slow call's answer, then for that answer's stamp to leave the window
    assert waited >= WINDOW * 1.5, waited
    assert usage == [2]


async def _answered_calls_leave() -> float:
    bucket = QuotaBucket("t", [(2, WINDOW)])
    for _ in range(2):
        receipt: list = []
        await bucket.acquire(receipt=receipt)
        bucket.answered(receipt)
    await asyncio.sleep(WINDOW * 1.25)
    started = time.monotonic()
    await bucket.acquire(receipt=[])
    await bucket.acquire(receipt=[])
    return time.monotonic() - started


def test_answered_calls_free_their_slots_when_they_leave_the_window():
    assert asyncio.run(_answered_calls_leave()) < WINDOW * 0.5
