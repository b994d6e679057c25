"""The log of refused requests: each 4xx that ``soar serve`` answers a webhook (and the bearer
checks of ``/approvals`` and ``/runs``) is a WARNING on ``soar.serve.http`` naming the method,
the path, the status, why, and the client's address — never the body, a header or a token:

    WARNING soar.serve.http: POST /hooks/phish refused 401: signature does not match (client 10.0.0.7)

A flood must not fill the log: at most one line per route and status every :data:`WINDOW`
seconds; the lines held back meanwhile are counted, and the next line says how many. A route is
the webhook's path, or one name for every unknown path (``/hooks/*``, so random paths cannot
grow the table), ``/approvals`` or ``/runs/*/cancel``. As fields (``runner.logfmt``):
``method``, ``path``, ``status``, ``reason``, ``client``, ``suppressed``.
"""

from __future__ import annotations

import logging
import time
from typing import Callable

from runner.logfmt import fields, shown

log = logging.getLogger("soar.serve.http")

WINDOW = 10.0     # seconds: one line per route and status at most this often
MAX_PATH = 200    # characters of a request path written (a path is the client's text)


class RejectionLog:
    """Logs refused requests, at most one line per (route, status) per ``window`` seconds."""

    def __init__(self, window: float = WINDOW, clock: Callable[[], float] = time.monotonic):
        self.window = window
        self.clock = clock
        self._seen: dict[tuple[str, int], list] = {}  # (route, status) -> [last line's time, held back since]

    def refused(self, *, route: str, method: str, path: str, status: int, reason: str,
                client: str | None) -> None:
        now = self.clock()
        entry = self._seen.get((route, status))
        if entry is not None and now - entry[0] < self.window:
            entry[1] += 1
            return
        held = entry[1] if entry is not None else 0
        self._seen[(route, status)] = [now, 0]
        path = path if len(path) <= MAX_PATH else path[:MAX_PATH] + "…"
        more = f"; {held} more like it in the last {now - entry[0]:.0f}s not logged" if held else ""
        log.warning("%s %s refused %d: %s (client %s)%s", method, shown(path), status, reason, client or "unknown",
                    more, extra=fields(method=method, path=path, status=status, reason=reason, client=client,
                                       suppressed=held or None))
