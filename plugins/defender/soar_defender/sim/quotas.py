"""Per-(tenant, bucket) sliding-window call quotas, on the simulated clock.

Defaults are Defender's documented limits (each API reference page's "Limitations"). A bucket's limits are
``[(calls, window_seconds), ...]``; every window must have room for a call to pass.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from typing import Callable

DEFAULT_LIMITS: dict[str, list[tuple[int, float]]] = {
    "mde": [(100, 60), (1500, 3600)],            # alerts, machines, actions, indicators, cancel
    "mde_hunting": [(45, 60), (1500, 3600)],     # advancedqueries/run
    "xdr_incidents": [(50, 60), (1500, 3600)],   # incidents list/get/update
    "xdr_hunting": [(45, 60), (1500, 3600)],     # advancedhunting/run
    "graph_incidents": [],                        # no documented limit: unlimited unless overridden
    "graph_hunting": [(45, 60)],
}


class Quotas:
    """``check(tenant, bucket)`` records a call, or returns the simulated seconds to wait."""

    def __init__(self, now: Callable[[], float], enabled: bool = True,
                 overrides: dict[str, list[tuple[int, float]]] | None = None) -> None:
        self._now = now
        self.enabled = enabled
        self.limits: dict[str, list[tuple[int, float]]] = {k: list(v) for k, v in DEFAULT_LIMITS.items()}
        self.limits.update({k: list(v) for k, v in (overrides or {}).items()})
        self._calls: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def set_limit(self, bucket: str, *limits: tuple[int, float]) -> None:
        """Replace a bucket's limits, e.g. ``set_limit("mde", (5, 60))``; none = unlimited."""
        self.limits[bucket] = list(limits)

    def reset(self) -> None:
        with self._lock:
            self._calls.clear()

    def check(self, tenant: str, bucket: str) -> float | None:
        """``None`` if the call may go ahead (and it is counted), else simulated seconds until a slot frees."""
        limits = self.limits.get(bucket) or []
        if not self.enabled or not limits:
            return None
        now = self._now()
        longest = max(w for _, w in limits)
        with self._lock:
            calls = self._calls.setdefault((tenant, bucket), deque())
            while calls and calls[0] <= now - longest:
                calls.popleft()
            wait = 0.0
            for count, window in limits:
                inside = [t for t in calls if t > now - window]
                if len(inside) >= count:
                    wait = max(wait, inside[len(inside) - count] + window - now)
            if wait > 0:
                return wait
            calls.append(now)
            return None

    @staticmethod
    def retry_after(real_seconds: float) -> int:
        return max(1, math.ceil(real_seconds))
