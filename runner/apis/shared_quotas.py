"""Call budgets shared by every process on a PostgreSQL store: the same sliding windows as
:class:`~runner.apis.quotas.QuotaBucket`, kept in the database (the only module with their SQL).

Tables (``runner.store.tables``, schema version 4): ``quota_buckets`` holds a row per (tenant,
bucket) with ``paused_until``; ``quota_calls`` a row per call granted within the bucket's
longest window. Times are seconds since the epoch on the *database's* clock, so processes on
machines whose clocks differ agree on every window.

Granting a call is one transaction:

1. ``SELECT ... FOR UPDATE`` on the bucket's row: the processes asking for the same bucket take
   turns (other buckets are not held up);
2. one statement, whose snapshot is taken after the lock, so it sees every call granted before:
   for each window of ``n`` calls per ``w`` seconds, the ``n``-th most recent call inside the
   window (none: there is room); the bucket has room when every window has and
   ``paused_until`` has passed. With room, a ``quota_calls`` row stamped now; without, the
   time the first slot frees. Calls older than the longest window are deleted on the way.

Without room the caller sleeps until that time (computed from the rows, never polled), then
asks again. Within a process the callers of a bucket queue in order (an ``asyncio.Lock``); the
one whose turn it is asks for a call for itself and one for each caller queued behind it, so a
burst costs one transaction per process, and at most one transaction per bucket and process is
in flight. Across processes, whoever takes the row lock first after a slot frees gets it.

A call is counted from when it was granted; :meth:`SharedQuotaBucket.answered` moves its stamp
to when the answer came (as the in-process bucket does, so a budget spent to the limit does not
earn 429s from latency alone). The answers are written in batches, by a task a few milliseconds
later or by the process's next grant, whichever comes first: another process deciding in
between sees the stamp of the grant, which can free its slot that much early, never more.

A call still on its way after half its shortest window has its stamp moved to now (and again
every half window until its answer comes): the service counts a call when it reaches it, which
can be long after the grant (a starved client, a server serving a burst), and a stamp left at
the grant would leave the window while the call was still to be counted, freeing its slot for
a call that the service then refuses. The calls of a process that dies stop being renewed and
leave the window as any other. A
429's ``Retry-After`` (:meth:`SharedQuotaBucket.pause`) is written at once to
``paused_until``, which holds every process.

A bucket whose limits are off is not metered, so it is not shared: its 429 pauses stay within
the process. Each process applies its own soar.yaml's limits to the shared calls: give every
process of a deployment the same ``quotas:``.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections import deque
from contextlib import asynccontextmanager
from typing import Any

from runner.apis.quotas import shared_setting
from runner.apis.shared_quota_sql import ANSWERED, ENSURE, LOCK, PAUSE, TAKE, USAGE
from runner.errors import ConfigError, StoreError

log = logging.getLogger("soar.apis")

ROLES = ("front", "worker")  # processes that share the budgets when soar.yaml says `shared: auto`
CONNECTIONS = 4  # connections per process and event loop
RETRIES = 3  # a lost connection is opened again this many times before a call fails
ANSWER_DELAY = 0.05  # longest wait before answer times are written (seconds)
RENEW_AFTER = 0.5  # part of the shortest window after which a call not yet answered is stamped again


def share_quotas(apis: Any, store: Any, *, role: str | None = None) -> bool:
    """Make ``apis`` (an :class:`~runner.apis.ApiClients`) draw on budgets shared through
    ``store`` (a :class:`~runner.store.RunStore` or its URL), as soar.yaml's ``quotas.shared``
    says: ``true``: shared (a PostgreSQL store is required); ``false``: never; ``auto`` (the
    default): shared when ``role`` is ``"front"`` or ``"worker"`` and the store is PostgreSQL.
    Returns whether they are shared. Call it before the first API call: buckets already made
    keep their in-process state."""
    if getattr(apis, "shared_quotas", None) is not None:
        return True
    setting = shared_setting(apis.quotas_config)
    if setting is False or (setting is None and role not in ROLES):
        return False
    url = _store_url(store)
    if url is None:
        if setting:
            raise ConfigError("quotas.shared: true needs a PostgreSQL store: the budgets are shared "
                              "through its database",
                              hint="set store: postgresql://... (or --store / SOAR_STORE), or "
                                   "remove quotas.shared")
        return False
    apis.shared_quotas = SharedQuotas(url)
    log.info("API quota buckets are shared through %s", _shown(url))
    return True


def _store_url(store: Any) -> str | None:
    """The libpq URL of a PostgreSQL store (a RunStore or a URL), or ``None`` for another store."""
    from runner.store.connect import normalise_url

    if isinstance(store, str):
        url = normalise_url(store)
    else:
        url = store._db.engine.url  # the store's own engine: its password is kept there
    if url.get_backend_name() != "postgresql":
        return None
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _shown(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


class SharedQuotas:
    """The shared buckets of one :class:`~runner.apis.ApiClients`: their connections (a few per
    event loop) and the writes left to background tasks."""

    def __init__(self, url: str, *, connections: int = CONNECTIONS):
        self.url = url
        self.connections = connections
        self._pools: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # loop -> _Pool
        self._tasks: set[asyncio.Task] = set()
        self._renewers: set[asyncio.Task] = set()  # cancelled, not awaited, by aclose

    def bucket(self, tenant: str, name: str, limits: list[tuple[int, float]]) -> "SharedQuotaBucket":
        return SharedQuotaBucket(self, tenant, name, limits)

    def _pool(self) -> "_Pool":
        loop = asyncio.get_running_loop()
        pool = self._pools.get(loop)
        if pool is None:
            pool = self._pools[loop] = _Pool(self.url, self.connections)
        return pool

    async def run(self, doing: str, work: Any) -> Any:
        """``await work(conn)`` on a connection of this loop; a lost connection is replaced and
        ``work`` run again (it must be safe to repeat: each is one transaction)."""
        import psycopg

        pool = self._pool()
        for attempt in range(RETRIES + 1):
            try:
                async with pool.connection() as conn:
                    return await work(conn)
            except psycopg.OperationalError as exc:
                if attempt == RETRIES:
                    raise self._error(exc, doing) from None
                log.warning("shared API quotas: %s: %s; trying again", doing, _first_line(exc))
                await asyncio.sleep(0.2 * 2 ** attempt)
            except psycopg.Error as exc:
                raise self._error(exc, doing) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _error(self, exc: Exception, doing: str) -> StoreError:
        hint = ("check that PostgreSQL is running and the store URL is right"
                if "quota_" not in str(exc) else "bring the store's schema up to date: soar db upgrade")
        return StoreError(f"shared API quotas on {_shown(self.url)}: cannot {doing}: {_first_line(exc)}", hint=hint)

    def later(self, doing: str, work: Any, delay: float = 0.0, done: Any = None) -> None:
        """Run ``work(conn)`` in a task of the running loop, ``delay`` seconds from now, then
        ``done()`` whatever happened (nothing at all when no loop runs)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            if done is not None:
                done()
            return

        async def go() -> None:
            try:
                if delay:
                    await asyncio.sleep(delay)
                await self.run(doing, work)
            except StoreError as exc:
                log.warning("%s", exc)
            finally:
                if done is not None:
                    done()

        task = loop.create_task(go(), name=f"soar quotas: {doing}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def aclose(self) -> None:
        """Finish this loop's pending writes and close its connections."""
        loop = asyncio.get_running_loop()
        for task in [t for t in self._renewers if t.get_loop() is loop]:
            task.cancel()
        mine = [t for t in self._tasks if t.get_loop() is loop]
        if mine:
            await asyncio.gather(*mine, return_exceptions=True)
        pool = self._pools.pop(loop, None)
        if pool is not None:
            await pool.aclose()


class SharedQuotaBucket:
    """A (tenant, bucket) budget in the database; the interface of
    :class:`~runner.apis.quotas.QuotaBucket` (``acquire``, ``answered``, ``pause``, ``paused``)."""

    def __init__(self, owner: SharedQuotas, tenant: str, name: str, limits: list[tuple[int, float]]):
        self.owner = owner
        self.tenant = tenant
        self.name = name
        self.limits = [(int(n), float(w)) for n, w in limits if n]
        self._counts = [n for n, _ in self.limits]
        self._spans = [w for _, w in self.limits]
        self._longest = max(self._spans, default=0.0)
        # answers are written in batches this late: a small part of the shortest window, which
        # is how early a slot could free if another process decided before the write
        self._answer_delay = min(ANSWER_DELAY, min(self._spans, default=1.0) / 100)
        self._ensured = False
        self._paused_until = 0.0  # time.monotonic() until which this process knows it is paused
        self._local: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # loop -> _Callers
        self._answered: list[int] = []  # ids of answered calls whose stamps are not written yet
        self._flushing = False  # a task will write them
        self._on_way: dict[int, float] = {}  # id of a call granted, not answered -> monotonic time of its stamp
        self._renew_after = RENEW_AFTER * min(self._spans, default=1.0)
        self._renewing = False  # a task renews the stamps of self._on_way
        self.waits = 0
        self.waited = 0.0

    def _callers(self) -> "_Callers":
        loop = asyncio.get_running_loop()
        callers = self._local.get(loop)
        if callers is None:
            callers = self._local[loop] = _Callers()
        return callers

    async def _take(self, after_pause: bool, want: int) -> tuple[float, list[int]]:
        """One grant transaction for up to ``want`` calls: (seconds until a slot frees, when none
        was granted; the ids of the calls granted). The answers that came meanwhile are stamped
        in the same round trip."""
        params = {"tenant": self.tenant, "bucket": self.name, "counts": self._counts, "spans": self._spans,
                  "longest": self._longest, "after_pause": after_pause, "want": want}

        async def work(conn: Any) -> tuple:
            answered, self._answered = self._answered, []
            try:
                async with conn.pipeline():  # one round trip: BEGIN, (ENSURE), LOCK, TAKE, COMMIT
                    async with conn.transaction():
                        if answered:
                            await conn.execute(ANSWERED, (answered,))
                        if not self._ensured:  # rows are never deleted: once per process is enough
                            await conn.execute(ENSURE, (self.tenant, self.name))
                        await conn.execute(LOCK, (self.tenant, self.name))
                        cursor = await conn.execute(TAKE, params)
            except BaseException:
                self._answered = answered + self._answered  # not written: the next write has them
                raise
            return await cursor.fetchone()

        now, free, ids, paused_until = await self.owner.run(f"take a call from {self.tenant}/{self.name}", work)
        self._ensured = True
        if paused_until and paused_until > now:
            self._paused_until = max(self._paused_until, time.monotonic() + paused_until - now)
        if ids:
            return 0.0, ids
        return max(float(free or 0.0) - now, 0.001), []

    async def acquire(self, *, after_pause: bool = False, receipt: list | None = None) -> float:
        """Wait for budget and spend one call; returns the seconds waited. ``after_pause``: the
        caller sat out the pause it reported, so only the limits apply. ``receipt``: a list that
        gets the call's id, for :meth:`answered`.

        The callers of this process queue in order on a lock; the one holding it asks the
        database for a call for itself and one for each caller queued behind it (as many as
        there is room for), so a burst costs one transaction, not one per call: the others
        find theirs waiting when their turn comes."""
        callers = self._callers()
        waited = 0.0
        callers.queued += 1
        entered = False
        try:
            async with callers.lock:
                callers.queued -= 1
                entered = True
                if callers.granted and self.paused():
                    callers.granted.clear()  # granted before a 429 paused the bucket: not to be sent now
                if callers.granted and not after_pause:
                    call_id, granted_at = callers.granted.popleft()
                else:
                    while True:
                        held = 0.0 if after_pause else self._paused_until - time.monotonic()
                        if held > 0:  # a pause this process knows of: no need to ask
                            waited += held
                            await asyncio.sleep(held)
                            continue
                        wait, ids = await self._take(after_pause, 1 if after_pause else 1 + callers.queued)
                        if ids:
                            call_id, granted_at = ids[0], time.monotonic()
                            callers.granted.extend((i, granted_at) for i in ids[1:])
                            break
                        waited += wait
                        await asyncio.sleep(wait)
        finally:
            if not entered:
                callers.queued -= 1
        if receipt is not None:  # it will be answered: until then, its stamp is renewed
            receipt.append(call_id)
            self._on_its_way(call_id, granted_at)
        if waited:
            self.waits += 1
            self.waited += waited
        return waited

    def answered(self, receipt: list) -> None:
        """The calls of ``receipt`` got their answers: count them from now. Written shortly after
        by a task (or by the next grant's round trip, whichever comes first), with the other
        answers that came meanwhile."""
        if not receipt:
            return
        for call_id in receipt:
            self._on_way.pop(call_id, None)
        self._answered.extend(receipt)
        if self._flushing:
            return  # a write is already on its way with the list
        self._flushing = True

        async def work(conn: Any) -> None:
            ids, self._answered = self._answered, []
            if ids:
                await conn.execute(ANSWERED, (ids,))

        def done() -> None:
            self._flushing = False

        self.owner.later(f"stamp answers in {self.tenant}/{self.name}", work, self._answer_delay, done)

    def _on_its_way(self, call_id: int, granted_at: float) -> None:
        """A call granted (at ``granted_at``, monotonic) is sent: renew its stamp until answered."""
        self._on_way[call_id] = granted_at
        if self._renewing:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # pragma: no cover - grants are taken in a loop
            return
        self._renewing = True
        task = loop.create_task(self._renew(), name=f"soar quotas: renew calls of {self.tenant}/{self.name}")
        self.owner._renewers.add(task)
        task.add_done_callback(self.owner._renewers.discard)

    async def _renew(self) -> None:
        """While calls are on their way: when the oldest stamp is ``_renew_after`` old, stamp
        every call still on its way now (one statement; it moves no stamp of a call that will be
        answered later than its answer would)."""
        try:
            while self._on_way:
                due = min(self._on_way.values()) + self._renew_after - time.monotonic()
                if due > 0:
                    await asyncio.sleep(due)
                    continue
                ids = list(self._on_way)
                stamped = time.monotonic()

                async def work(conn: Any) -> None:
                    await conn.execute(ANSWERED, (ids,))

                try:
                    await self.owner.run(f"renew calls in {self.tenant}/{self.name}", work)
                except StoreError as exc:
                    log.warning("%s", exc)
                for call_id in ids:
                    if call_id in self._on_way:
                        self._on_way[call_id] = stamped
        finally:
            self._renewing = False

    def paused(self) -> bool:
        """A pause this process set or saw is still running (another process's pause is found
        by :meth:`acquire`, which waits it out)."""
        return self._paused_until > time.monotonic()

    async def usage(self) -> list[tuple[int, float, int]]:
        """``(limit, window seconds, calls every process was granted in the window now)`` per
        window, counted in the database (one query)."""
        async def work(conn: Any) -> list:
            cur = await conn.execute(USAGE, {"tenant": self.tenant, "bucket": self.name, "spans": self._spans})
            return await cur.fetchall()

        if not self.limits:
            return []
        rows = await self.owner.run(f"read the usage of {self.tenant}/{self.name}", work)
        return [(limit, window, int(row[0])) for (limit, window), row in zip(self.limits, rows)]

    def paused_for(self) -> float:
        """Seconds left of a pause this process set or saw (0: none)."""
        return max(0.0, self._paused_until - time.monotonic())

    def pause(self, seconds: float) -> None:
        """Hold the bucket ``seconds`` for every process (a 429's ``Retry-After``)."""
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)

        async def work(conn: Any) -> None:
            if not self._ensured:
                await conn.execute(ENSURE, (self.tenant, self.name))
            await conn.execute(PAUSE, (float(seconds), self.tenant, self.name))

        self.owner.later(f"pause {self.tenant}/{self.name}", work)


class _Callers:
    """A bucket's callers in one event loop: their lock (FIFO), how many wait on it, and calls
    granted for them by the caller before them (id, monotonic time of the grant)."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.queued = 0
        self.granted: deque[tuple[int, float]] = deque()


class _Pool:
    """A few autocommit connections of one event loop, opened on demand, kept while healthy."""

    def __init__(self, url: str, size: int):
        self.url = url
        self.idle: list[Any] = []
        self.slots = asyncio.Semaphore(size)

    @asynccontextmanager
    async def connection(self):
        import psycopg

        async with self.slots:
            conn = self.idle.pop() if self.idle else await self._connect()
            try:
                yield conn
            except BaseException:
                await _close(conn)  # its state is unknown (an error, a cancelled statement)
                raise
            if conn.closed or conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                await _close(conn)
            else:
                self.idle.append(conn)

    async def _connect(self) -> Any:
        import psycopg

        conn = await psycopg.AsyncConnection.connect(self.url, autocommit=True, connect_timeout=10)
        # a commit need not wait for its WAL to reach the disk: a stamp lost in a crash of the
        # database only frees a slot early, and the wait per grant drops from a disk flush to
        # a round trip
        await conn.execute("SET synchronous_commit TO off")
        return conn

    async def aclose(self) -> None:
        idle, self.idle = self.idle, []
        for conn in idle:
            await _close(conn)


async def _close(conn: Any) -> None:
    try:
        await conn.close()
    except Exception:  # noqa: BLE001 - a broken connection is being dropped anyway
        pass


def _first_line(exc: Exception) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
