"""A queue of notifications to send, worked off by one thread, so that an observer hook (called
in the engine's event loop, which must never wait on a network) only queues.

The thread starts with the first job and ends after it has been idle for a moment; it is not a
daemon, so a process that ends right after a run pauses (``soar run``) still sends what it
queued — each job is bounded by its timeouts. A full queue drops the job and logs it: a
notification never holds a run up.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import Callable

log = logging.getLogger("soar.notify")

MAX_QUEUED = 500
IDLE_SECONDS = 1.0


class Outbox:
    def __init__(self, max_queued: int = MAX_QUEUED, idle: float = IDLE_SECONDS) -> None:
        self.max_queued = max_queued
        self.idle = idle
        self._jobs: deque[tuple[str, Callable[[], None]]] = deque()
        self._cond = threading.Condition()
        self._busy = 0  # jobs queued or being sent
        self._thread: threading.Thread | None = None

    def put(self, what: str, job: Callable[[], None]) -> bool:
        """Queue ``job`` (``what`` names it in logs); False if the queue was full."""
        with self._cond:
            if len(self._jobs) >= self.max_queued:
                log.error("notification dropped (%s): %d notifications are already waiting to be sent",
                          what, len(self._jobs))
                return False
            self._jobs.append((what, job))
            self._busy += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="soar-notify", daemon=False)
                self._thread.start()
            self._cond.notify_all()
        return True

    def _work(self) -> None:
        while True:
            with self._cond:
                if not self._jobs:
                    self._cond.wait(self.idle)
                if not self._jobs:
                    self._thread = None  # a later put starts another thread
                    return
                what, job = self._jobs.popleft()
            try:
                job()
            except Exception:  # noqa: BLE001 - a job logs its own failures; this is a bug's backstop
                log.exception("notification failed (%s)", what)
            finally:
                with self._cond:
                    self._busy -= 1
                    self._cond.notify_all()

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every queued notification was sent (or failed); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True


OUTBOX = Outbox()
