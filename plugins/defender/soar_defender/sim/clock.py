"""The simulated clock: real time sped up by ``time_scale``, plus manual advances.

``now()`` is simulated Unix seconds. With ``time_scale=60`` one real second is one
simulated minute; with ``time_scale=0`` time stands still except through :meth:`advance`
(what deterministic tests want). Machine actions and quota windows run on this clock.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from typing import Callable


class SimClock:
    def __init__(self, time_scale: float = 60.0, start: float | None = None,
                 real: Callable[[], float] = time.time) -> None:
        self._real = real
        self._lock = threading.Lock()
        self._real_anchor = real()
        self._sim_anchor = self._real_anchor if start is None else float(start)
        self._scale = float(time_scale)

    @property
    def time_scale(self) -> float:
        return self._scale

    @time_scale.setter
    def time_scale(self, value: float) -> None:
        with self._lock:  # re-anchor so that changing speed does not jump the clock
            now_real = self._real()
            self._sim_anchor += (now_real - self._real_anchor) * self._scale
            self._real_anchor = now_real
            self._scale = float(value)

    @property
    def start(self) -> float:
        return self._sim_anchor

    def now(self) -> float:
        with self._lock:
            return self._sim_anchor + (self._real() - self._real_anchor) * self._scale

    def advance(self, seconds: float) -> float:
        """Move simulated time forward by ``seconds``; returns the new ``now()``."""
        with self._lock:
            self._sim_anchor += seconds
        return self.now()

    def to_real(self, sim_seconds: float) -> float:
        """How many real seconds ``sim_seconds`` of simulated time take (itself when frozen)."""
        return sim_seconds / self._scale if self._scale > 0 else sim_seconds

    def iso(self, t: float | None = None) -> str:
        return iso(self.now() if t is None else t)


def iso(t: float) -> str:
    """``2026-01-01T00:00:00.123Z`` (the shape Defender uses)."""
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_iso(text: str) -> datetime | None:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        return None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
