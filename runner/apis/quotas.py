"""Call budgets: the default limits every registered API declares (``ApiSpec.quotas``), what
``quotas:`` in soar.yaml makes of them, and a sliding-window bucket per (tenant, bucket name)
that makes a request wait, never fail, for lack of budget."""

from __future__ import annotations

import asyncio
import time
import weakref
from collections import deque
from typing import TYPE_CHECKING, Any, Callable, Mapping

from runner.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from runner.apis.spec import ApiSpec

WINDOWS = {"per_second": 1.0, "per_minute": 60.0, "per_hour": 3600.0, "per_day": 86400.0}


def is_off(value: Any) -> bool:
    """``off`` in YAML is ``False``; also accept ``null``, "off", "none", "unlimited"."""
    return value is False or value is None or (
        isinstance(value, str) and value.strip().lower() in ("off", "none", "unlimited"))


class QuotaBucket:
    """Sliding-window call budget: several (limit, window) pairs, all must have room.

    :meth:`acquire` waits in FIFO order (``asyncio.Lock`` is fair): the head of the queue
    sleeps exactly until the oldest call leaves the window, the others wait on the lock.
    :meth:`pause` (a 429's ``Retry-After``) holds every caller until the given time.

    A call is first counted from when it was sent; :meth:`answered` moves its stamp to when
    the answer arrived. The service counted the call somewhere in between, so our window never
    frees a slot before the service's does: running at the limit does not earn a 429 from
    latency alone (and each 429 costs a whole ``Retry-After``). A call still on its way when its
    stamp would leave the window is stamped again (it may reach the service only now), as the
    shared buckets of :mod:`runner.apis.shared_quotas` renew theirs.
    """

    def __init__(self, name: str, limits: list[tuple[int, float]], clock: Callable[[], float] = time.monotonic):
        self.name = name
        self.limits = [(int(n), float(w)) for n, w in limits if n]
        self.clock = clock
        self._stamps = [deque() for _ in self.limits]
        self._paused_until = 0.0
        self._locks: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self.waits = 0
        self.waited = 0.0

    def _lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            lock = self._locks[loop] = asyncio.Lock()
        return lock

    def _delay(self, now: float, paused: bool = True) -> float:
        wait = self._paused_until - now if paused else 0.0
        for (limit, window), stamps in zip(self.limits, self._stamps):
            while stamps and stamps[0][0] <= now - window:
                stamp = stamps.popleft()
                if stamp[1]:  # still on its way: counted from now, behind the others
                    stamp[0] = now
                    stamps.append(stamp)
            if len(stamps) >= limit:
                wait = max(wait, stamps[0][0] + window - now)
        return wait

    async def acquire(self, *, after_pause: bool = False, receipt: list | None = None) -> float:
        """Wait for budget and spend one call; returns the seconds waited. ``after_pause``: the
        caller already sat out the pause it reported (its own 429), so only the limits apply.
        ``receipt``: a list that gets the call's stamp, for :meth:`answered`."""
        if not self.limits and (after_pause or self._paused_until <= self.clock()):
            return 0.0
        waited = 0.0
        async with self._lock():
            while True:
                now = self.clock()
                wait = self._delay(now, paused=not after_pause)
                if wait <= 0:
                    stamp = [now, receipt is not None]  # one cell shared by every window's deque:
                    # [counted from, on its way (until answered)]
                    for stamps in self._stamps:
                        stamps.append(stamp)
                    if receipt is not None:
                        receipt.append(stamp)
                    break
                waited += wait
                await asyncio.sleep(wait)
        if waited:
            self.waits += 1
            self.waited += waited
        return waited

    def answered(self, receipt: list) -> None:
        """The call of ``receipt`` got its answer: count it from now."""
        if not receipt:
            return
        now = self.clock()
        for stamp in receipt:
            stamp[0] = max(stamp[0], now)
            stamp[1] = False

    def paused(self) -> bool:
        """A 429's pause is still running (callers must :meth:`acquire`, which waits it out)."""
        return self._paused_until > self.clock()

    def pause(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, self.clock() + seconds)

    async def usage(self) -> list[tuple[int, float, int]]:
        """``(limit, window seconds, calls counted in the window now)`` per window (the console's
        tenants page); async like :meth:`SharedQuotaBucket.usage`, which asks the database."""
        now = self.clock()
        return [(limit, window, sum(1 for stamp in stamps if stamp[1] or stamp[0] > now - window))
                for (limit, window), stamps in zip(self.limits, self._stamps)]

    def paused_for(self) -> float:
        """Seconds left of a 429's pause (0: none)."""
        return max(0.0, self._paused_until - self.clock())


def quota_limits(quotas: Any, time_scale: float = 1.0,
                 registry: "Mapping[str, ApiSpec] | None" = None) -> dict[str, list[tuple[int, float]]]:
    """Bucket name → [(limit, window seconds)]: the registered APIs' default budgets
    (:func:`runner.apis.registry.default_quotas`; ``registry`` ``None``: the process's plugins)
    with ``quotas`` applied.

    ``quotas`` (``config.quotas``): ``off`` / ``{enabled: false}`` disables every bucket;
    ``{mde: {per_minute: 100, per_hour: 1500}}`` replaces one bucket's limits;
    ``{mde: off}`` disables one; unknown bucket names add buckets. ``retry``, ``shared``
    (:func:`shared_setting`) and ``time_scale`` (:func:`scale_setting`) are not buckets.
    ``time_scale`` multiplies every window (tests: 0.01 makes a minute 0.6 s).
    """
    if quotas is None:
        quotas = {}
    if is_off(quotas) or (isinstance(quotas, Mapping) and (
            quotas.get("enabled") is False or is_off(quotas.get("all", True)))):
        return {}
    from runner.apis.registry import default_quotas

    table: dict[str, Any] = {k: dict(v) for k, v in default_quotas(registry).items()}
    for name, spec in (quotas or {}).items():
        if name in ("enabled", "all", "retry", "shared", "time_scale"):
            continue
        if is_off(spec):
            table[name] = {}
        elif isinstance(spec, Mapping):
            unknown = set(spec) - set(WINDOWS)
            if unknown:
                raise ConfigError(f"quotas.{name}: unknown key(s) {', '.join(sorted(unknown))}",
                                  hint=f"use {', '.join(WINDOWS)} (calls per window), or `off`")
            table[name] = dict(spec)
        else:
            raise ConfigError(f"quotas.{name} must be a mapping like {{per_minute: 100}} or `off`")
    return {name: [(int(n), WINDOWS[k] * time_scale) for k, n in spec.items() if n]
            for name, spec in table.items()}



def shared_setting(quotas: Any) -> bool | None:
    """``quotas.shared`` of soar.yaml: ``True`` (every process on the PostgreSQL store shares the
    buckets: :mod:`runner.apis.shared_quotas`), ``False`` (each process keeps its own), ``None``
    for ``auto``, the default (shared when the process is a front or a worker of a deployment)."""
    value = quotas.get("shared", "auto") if isinstance(quotas, Mapping) else "auto"
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() == "auto":
        return None
    raise ConfigError(f"quotas.shared must be true, false or auto, not {value!r}",
                      hint="true: every process on the PostgreSQL store shares the budgets; "
                           "auto (the default): fronts and workers of a deployment do")


def scale_setting(quotas: Any) -> float:
    """``quotas.time_scale`` of soar.yaml: what every window is multiplied by (default 1). Only
    for a simulated cloud whose clock runs faster than real time (``soar sim serve --set
    defender.time_scale=20`` pairs with ``time_scale: 0.05``): the caller refuses it otherwise."""
    value = quotas.get("time_scale", 1) if isinstance(quotas, Mapping) else 1
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        raise ConfigError(f"quotas.time_scale must be a number above 0 and at most 1, not {value!r}",
                          hint="the simulated cloud's clock speed inverted: 0.05 for a clock 20x real time")
    return float(value)
