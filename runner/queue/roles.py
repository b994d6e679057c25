"""The roles of one deployment, as the database knows them.

**Mode.** A store is in *queue mode* once a ``soar serve --role front`` has started on it: the
front records it (``soar_queue_state['deployment']``: mode, the queue routes, the default
``max_runs``), and an all-in-one ``soar serve`` records *single* mode when it starts (it holds
the serve lock exclusively, so no front runs then). In queue mode a decision on an approval
(``soar approve``, ``POST /approvals``, a timeout) continues the run as a job on a worker
(:func:`hand_to_queue`) instead of in the deciding process.

**Routes.** A front sends each playbook's jobs to a queue: ``runs`` unless ``--route
PATTERN=QUEUE`` (a shell-style pattern on the playbook name, the first match wins) says another;
``soar worker --queues`` picks which queues a worker takes.

**Workers seen.** Each worker keeps a row in ``soar_queue_workers`` (host, pid, concurrency,
queues, its metrics URL, runs in flight, last seen), for ``soar queue status``.
"""

from __future__ import annotations

import fnmatch
import os
import socket
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import delete, select, update

from runner.errors import StoreError

from .schema import get_state, queue_workers, set_state

UTC = timezone.utc
MODE_KEY = "deployment"


def store_url_of(engine: Any) -> str:
    """The store URL with its password (for the queue's own connections; never shown)."""
    return engine.url.render_as_string(hide_password=False)


def is_postgres(engine: Any) -> bool:
    return engine.dialect.name == "postgresql"


# ---- mode ---------------------------------------------------------------------------------------

def deployment(engine: Any) -> dict | None:
    """The recorded deployment (``{"mode": "queue" | "single", ...}``), or None."""
    if not is_postgres(engine):
        return None
    with engine.connect() as conn:
        return get_state(conn, MODE_KEY)


def record_mode(engine: Any, mode: str, **details: Any) -> None:
    """Record the deployment's mode (a front: ``queue``; an all-in-one serve: ``single``). Does
    nothing where the queue's tables are not (SQLite, or ``soar db upgrade`` never run)."""
    if not is_postgres(engine):
        return
    with engine.begin() as conn:
        if not conn.dialect.has_table(conn, "soar_queue_state"):
            return
        set_state(conn, MODE_KEY, {"mode": mode, "by": f"{socket.gethostname()}:{os.getpid()}",
                                   "at": datetime.now(UTC).isoformat(), **details})


def route(routes: list[list[str]] | list[tuple[str, str]], playbook: str, default: str) -> str:
    """The queue of ``playbook``'s jobs: the first ``(pattern, queue)`` whose pattern matches."""
    for pattern, queue in routes:
        if fnmatch.fnmatchcase(playbook, pattern):
            return queue
    return default


def hand_to_queue(store: Any, run_id: str) -> tuple[bool, str] | None:
    """After a decision on an approval of ``run_id`` (a top-level run): in queue mode, claim the
    run and queue its resume. None: not in queue mode (the caller continues the run itself);
    else (queued, what to tell the user)."""
    from runner.store.approval_queue import claim_waiting_run
    from runner.store.inbox import TriggerInbox

    engine = TriggerInbox(store).engine
    doc = deployment(engine)
    if not doc or doc.get("mode") != "queue":
        return None
    if not claim_waiting_run(store, run_id):
        return False, f"run {run_id} is not waiting any more (another decision continues it)"
    run = store.get_run(run_id)
    from runner.queue import jobs

    limit, queue = placement(doc, run.playbook_name, run.playbook_text)
    request = jobs.JobRequest(jobs.RESUME, run.id, jobs.lane(run.playbook_name, run.id, limit), queue,
                              {"run_id": run.id, "playbook": run.playbook_name})
    store.audit(run.id, "run_continued", data={"by": "soar approve", "queue": request.queue}, durable=True)
    try:
        jobs.JobQueue(store_url_of(engine), pool_size=1, name="soar approve").defer_now(request)
    except StoreError as exc:
        raise StoreError(f"the decision is recorded, but {exc.message}",
                         hint="a running `soar serve --role front` queues the run within seconds") from None
    return True, f"run {run.id} continues on a worker (queue {request.queue})"


def placement(doc: dict | None, playbook: str, text: str) -> tuple[int, str]:
    """Where the jobs of a run of ``playbook`` (its stored ``text``) go in the recorded
    deployment ``doc``: (its ``max_runs``, its queue)."""
    from runner.queue import jobs

    doc = doc or {}
    limit = _max_runs(text) or int(doc.get("max_runs") or 1)
    return limit, route(doc.get("routes") or [], playbook, doc.get("queue") or jobs.DEFAULT_QUEUE)


def _max_runs(text: str) -> int | None:
    """The playbook's own ``max_runs:`` (read from the text a run stored)."""
    import yaml

    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    value = doc.get("max_runs") if isinstance(doc, dict) else None
    return value if isinstance(value, int) and value > 0 else None


# ---- workers seen -------------------------------------------------------------------------------

def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def register_worker(engine: Any, *, concurrency: int, queues: list[str] | None, metrics_url: str | None) -> str:
    """Record this process as a worker; returns its name. Rows of workers unseen for a day go."""
    now = datetime.now(UTC)
    name = worker_name()
    row = {"name": name, "host": socket.gethostname(), "pid": os.getpid(), "concurrency": concurrency,
           "queues": _queues_json(queues), "metrics_url": metrics_url, "started_at": now, "seen_at": now,
           "running": 0}
    with engine.begin() as conn:
        conn.execute(delete(queue_workers).where(
            (queue_workers.c.name == name) | (queue_workers.c.seen_at < now - timedelta(days=1))))
        conn.execute(queue_workers.insert().values(row))
    return name


def _queues_json(queues: list[str] | None) -> str | None:
    from runner.store.records import to_json

    return to_json(list(queues)) if queues else None


def worker_seen(engine: Any, name: str, running: int) -> None:
    with engine.begin() as conn:
        conn.execute(update(queue_workers).where(queue_workers.c.name == name)
                     .values(seen_at=datetime.now(UTC), running=running))


def unregister_worker(engine: Any, name: str) -> None:
    with engine.begin() as conn:
        conn.execute(delete(queue_workers).where(queue_workers.c.name == name))


def workers(engine: Any) -> list[dict]:
    """The workers seen, most recently seen first."""
    with engine.connect() as conn:
        rows = conn.execute(select(queue_workers).order_by(queue_workers.c.seen_at.desc())).all()
    return [dict(r._mapping) for r in rows]
