"""``soar queue status``: the jobs per queue and status, the oldest job waiting, the workers seen.

Read with plain SQL on the store's engine from procrastinate's tables (the queries are in
:mod:`runner.queue.jobs`) and soar's ``soar_queue_workers`` (who each worker is). Also what a worker's metrics report about the queue
(:meth:`QueueStats.read`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import text

from runner.errors import StoreError

from . import jobs
from .roles import deployment, workers
from .schema import queue_installed

UTC = timezone.utc
STATUSES = ("todo", "doing", "succeeded", "failed", "cancelled", "aborted")

_COUNTS = text(jobs.COUNTS_SQL)
_OLDEST = text(jobs.OLDEST_SQL)
_HEARTBEATS = text(jobs.HEARTBEATS_SQL)


@dataclass
class QueueStats:
    """The queue at one moment."""

    jobs: dict[str, dict[str, int]] = field(default_factory=dict)     # queue -> status -> count
    oldest_waiting: dict[str, float] = field(default_factory=dict)    # queue -> seconds
    heartbeats: int = 0                                                # procrastinate's live worker rows
    workers: list[dict] = field(default_factory=list)                  # soar_queue_workers rows
    mode: dict | None = None                                           # the recorded deployment

    @classmethod
    def read(cls, engine: Any, *, with_workers: bool = True) -> "QueueStats":
        """Raises StoreError when the queue's tables are not there or the database is down."""
        try:
            with engine.connect() as conn:
                if not queue_installed(conn):
                    raise StoreError("the job queue's tables are not in this store",
                                     hint="run `soar db upgrade` (a PostgreSQL store), then start fronts and workers")
                stats = cls()
                for queue, status, count in conn.execute(_COUNTS):
                    stats.jobs.setdefault(queue, {})[status] = int(count)
                stats.oldest_waiting = {q: float(s) for q, s in conn.execute(_OLDEST) if s is not None}
                stats.heartbeats = int(conn.execute(_HEARTBEATS).first()[0] or 0)
        except StoreError:
            raise
        except Exception as exc:  # noqa: BLE001 - a database error, shown as the store's
            raise StoreError(f"cannot read the job queue: {str(exc).strip().splitlines()[0]}",
                             hint="check that PostgreSQL is running and the store URL is right") from None
        if with_workers:
            stats.workers = workers(engine)
            stats.mode = deployment(engine)
        return stats

    def count(self, status: str) -> int:
        return sum(per.get(status, 0) for per in self.jobs.values())

    @property
    def oldest(self) -> float | None:
        return max(self.oldest_waiting.values()) if self.oldest_waiting else None

    def as_doc(self) -> dict:
        now = datetime.now(UTC)
        return {
            "mode": (self.mode or {}).get("mode", "single"),
            "queues": {q: {s: per.get(s, 0) for s in STATUSES} for q, per in sorted(self.jobs.items())},
            "totals": {s: self.count(s) for s in STATUSES},
            "oldest_waiting_seconds": self.oldest,
            "workers": [{"name": w["name"], "host": w["host"], "pid": w["pid"], "concurrency": w["concurrency"],
                         "queues": w["queues"] or "all", "running": w["running"], "metrics_url": w["metrics_url"],
                         "started_at": w["started_at"].isoformat(),
                         "seen_seconds_ago": round((now - w["seen_at"]).total_seconds(), 1)}
                        for w in self.workers],
            "heartbeating_workers": self.heartbeats,
        }
