"""Group commit: the durable step records of concurrently running items share one transaction.

A write or destructive step item records "about to send" before its call and "done" after it,
and must not go on until that record survives a crash. Rather than one commit per record, the
record is buffered (``durable=False``) and the item awaits :meth:`GroupCommit.durable`: the first
waiter of a loop turn schedules one flush of the store's buffer at the end of the turn, and every
item that awaits durability before it runs shares that commit. Each item still proceeds only after
its own record is committed — the crash-safety guarantee is the one a commit per record gives.
"""

from __future__ import annotations

import asyncio
import copy
from typing import Any


class GroupCommit:
    """Commits the store's buffer once per event-loop turn for everyone waiting on it."""

    def __init__(self, store: Any):
        self.store = store
        self._waiters: list[asyncio.Future] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self.commits = 0  # flushes made (for tests and benchmarks)

    async def durable(self) -> None:
        """Return once everything recorded so far is committed. Raises the store's error."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a new loop (a previous one may have closed with waiters)
            self._loop, self._waiters = loop, []
        fut = loop.create_future()
        if not self._waiters:
            loop.call_soon(self._commit)
        self._waiters.append(fut)
        await fut

    def _commit(self) -> None:
        waiters, self._waiters = self._waiters, []
        try:
            self.store.flush()
        except Exception as exc:  # a StoreError: each waiter gets its own copy to locate
            for fut in waiters:
                if not fut.done():
                    fut.set_exception(copy.copy(exc))
            return
        finally:
            self.commits += 1
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)
