"""``soar queue status`` and ``soar db upgrade`` (docs/scale-out.md)."""

from __future__ import annotations

import click

from runner.cli.common import console, handle_errors, print_json, state


@click.group()
def queue():
    """The job queue of a scaled-out deployment (fronts and workers)."""


@queue.command("status")
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def status(as_json):
    """Jobs per queue and status, the oldest job waiting, and the workers seen (with when each
    was last seen and how many runs it executes)."""
    from runner.cli.tables import print_table
    from runner.queue.status import STATUSES, QueueStats
    from runner.store import RunStore
    from runner.store.inbox import TriggerInbox

    store = RunStore.open(state().store_url)
    try:
        doc = QueueStats.read(TriggerInbox(store).engine).as_doc()
    finally:
        store.close()
    if as_json:
        print_json(doc)
        return
    out = console()
    out.print(f"mode: {doc['mode']}")
    rows = [(q, *(str(per[s]) for s in STATUSES)) for q, per in doc["queues"].items()]
    if rows:
        print_table(out, ("queue", *STATUSES), rows, ids=(0,))
    else:
        out.print("no jobs")
    oldest = doc["oldest_waiting_seconds"]
    out.print(f"oldest waiting: {oldest:.1f}s" if oldest is not None else "oldest waiting: none waiting")
    if not doc["workers"]:
        out.print("workers: none seen (start `soar worker`)")
        return
    print_table(out, ("worker", "concurrency", "queues", "running", "last seen", "metrics"),
                [(w["name"], str(w["concurrency"]), ",".join(w["queues"]) if isinstance(w["queues"], list)
                  else w["queues"], str(w["running"]), f"{w['seen_seconds_ago']:.0f}s ago", w["metrics_url"] or "")
                 for w in doc["workers"]], ids=(0,))


@click.group()
def db():
    """The run store's database."""


@db.command("upgrade")
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def upgrade(as_json):
    """Bring the store's schema up to this soar-runner's version, and (PostgreSQL) put the job
    queue's schema in place or upgrade it. Safe to run again: it changes only what is missing."""
    from runner.queue.schema import upgrade as do_upgrade

    done = do_upgrade(state().store_url)
    if as_json:
        print_json(done.as_doc())
        return
    out = console()
    out.print(f"store {done.store}: schema version {done.store_schema}")
    if done.queue_schema is None:
        out.print("job queue: not on SQLite (a scaled-out deployment needs a PostgreSQL store)")
    else:
        out.print(f"job queue: procrastinate {done.queue_schema} schema in place")
    for line in done.applied:
        out.print(f"  applied: {line}")
    if not done.applied:
        out.print("  nothing to change")
