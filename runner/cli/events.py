"""``soar events list|replay``: the trigger events ``soar serve`` recorded (webhooks, polls,
schedules), and replaying one as a new run of its playbook with the same payload.

An event is read from the trigger its run keeps in the run store (``trigger.payload`` and the
rest), so it can be replayed after the inbox has pruned it; an event whose run has not started
yet is read from the inbox. A replay is a deliberate second run, not a delivery: no dedup key
stops it, and its trigger says what it replays (``trigger.replay_of``: the event id;
``trigger.replay_of_run``: the run that event started).
"""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import click

from runner.cli.common import (allow_hosts_option, build_runtime, console, handle_errors, print_json,
                               sim_url_option)

SOURCES = ["webhook", "poll", "schedule", "all"]


@click.group()
def events() -> None:
    """Recorded trigger events (webhooks, polls, schedules), and replaying them."""


def _inbox(runtime: Any) -> Any:
    from runner.store.inbox import TriggerInbox

    return TriggerInbox(runtime.services.store)


def _doc(ev: Any) -> dict:
    return {"event_id": ev.event_id, "received_at": ev.received_at, "playbook": ev.playbook, "source": ev.source,
            "key": ev.key, "tenant": ev.tenant, "run_id": ev.run_id, "run_status": ev.run_status,
            "replay_of": ev.replay_of, "payload": ev.payload}


def _payload_summary(payload: Any) -> str:
    import json

    text = json.dumps(payload, default=str, separators=(",", ":"))
    return text if len(text) <= 60 else f"{len(text)} bytes: {text[:40]}..."


@events.command("list")
@click.option("--playbook", help="Only events of this playbook (its name).")
@click.option("--source", type=click.Choice(SOURCES), default="webhook", show_default=True,
              help="Which triggers' events.")
@click.option("--limit", "-n", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document (payloads included).")
@handle_errors
def list_events(playbook: str | None, source: str, limit: int, as_json: bool) -> None:
    """Recorded events, newest first, with the run each started (replays included)."""
    from runner.secrets import mask

    runtime = build_runtime()
    try:
        found = _inbox(runtime).recorded(source=None if source == "all" else source, playbook=playbook, limit=limit)
    finally:
        runtime.close()
    if as_json:
        print_json({"events": [_doc(ev) for ev in found]})
        return
    out = console()
    if not found:
        out.print(f"no {'' if source == 'all' else source + ' '}events recorded — `soar serve` records them")
        return
    from runner.cli.tables import print_table

    rows = [(ev.event_id or f"(replay of {ev.replay_of})", ev.received_at or "", ev.playbook, ev.source, ev.run_id,
             ev.run_status or "not started", _payload_summary(mask(ev.payload))) for ev in found]
    print_table(out, ("event", "received (UTC)", "playbook", "source", "run", "status", "payload"), rows,
                ids=(0, 2, 4))


def find_event(inbox: Any, store: Any, ref: str) -> Any:
    """The recorded event ``ref`` names: an event id (``e-...``), or a run id (or unique prefix)
    of the run an event started. Raises a UsageError saying where to look."""
    from runner.errors import RunNotFound, UsageError

    if ref.startswith("e-"):
        hits = [ev for ev in inbox.recorded(source=None, event_id=ref, limit=None) if ev.event_id == ref]
        if hits:
            return hits[0]
        raise UsageError(f"no recorded event '{ref}'", hint="`soar events list` shows the recorded events "
                         "(the same --store as `soar serve`)")
    try:
        run = store.get_run(ref)
    except RunNotFound:
        raise UsageError(f"'{ref}' is neither a recorded event nor a run",
                         hint="give an event id (e-...) or the run id it started: `soar events list`") from None
    trig = run.trigger or {}
    if run.parent_id is not None or not (trig.get("event_id") or trig.get("replay_of")):
        raise UsageError(f"run {run.id} was not started by a trigger event (trigger type: {trig.get('type', 'manual')})",
                         hint="`soar runs rerun RUN_ID` repeats a manual run")
    from runner.store.inbox import RecordedEvent

    return RecordedEvent(trig.get("event_id"), run.id, run.playbook_name, trig.get("type"), trig.get("key"),
                         trig.get("tenant"), trig.get("payload"), trig.get("received_at"), run.status,
                         run.playbook_path, trig.get("replay_of"))


def replay_trigger(ev: Any, now: datetime | None = None) -> dict:
    """The trigger of a replay of ``ev``: the event's, received now, naming what it replays."""
    now = now or datetime.now(timezone.utc)
    payload = ev.payload
    return {"type": ev.source, "event_id": None, "key": ev.key, "payload": payload,
            "received_at": now.isoformat(), "since": payload.get("since") if isinstance(payload, dict) else None,
            **({"tenant": ev.tenant} if ev.tenant else {}),
            "replay_of": ev.event_id or ev.replay_of, "replay_of_run": ev.run_id}


@events.command("replay")
@click.argument("event")
@click.option("--playbook", "playbook_path", type=click.Path(dir_okay=False), metavar="FILE",
              help="Run this playbook file (default: the file the event's run was started from).")
@click.option("--tenant", "-t", help="Run for this tenant only (default: as the event's run did).")
@click.option("--dry-run", is_flag=True, help="Run read actions only; print the plan of write/destructive ones.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead of the live view.")
@click.option("--simulate", is_flag=True, help="Run against the in-process simulated cloud.")
@click.option("--auto-approve", is_flag=True, help="Approve approval-gated steps automatically (recorded as such).")
@sim_url_option
@allow_hosts_option
@handle_errors
def replay(event: str, playbook_path: str | None, tenant: str | None, dry_run: bool, as_json: bool, simulate: bool,
           auto_approve: bool, sim_url: str | None, allow_hosts: tuple[str, ...]) -> None:
    """Run EVENT's playbook again with the event's payload, as a new run recorded as a replay.

    EVENT is an event id (`soar events list`) or the id of the run it started. The playbook is
    read from its file as it is now: a playbook fixed after a failed run can be replayed against
    the event that made it fail. Exit codes as `soar run`.
    """
    from runner.cli.run import run_and_report
    from runner.errors import UsageError

    runtime = build_runtime(simulate=simulate, auto_approve=auto_approve, sim_url=sim_url, allow_hosts=allow_hosts)
    try:
        ev = find_event(_inbox(runtime), runtime.services.store, event)
        path = playbook_path or ev.playbook_path
        if not path:
            raise UsageError(f"event {ev.event_id} has not started a run yet, so its playbook file is not known",
                             hint=f"give the file of playbook '{ev.playbook}' with --playbook FILE")
        if not Path(path).is_file():
            raise UsageError(f"the playbook file of event {ev.event_id or ev.replay_of} is gone: {path}",
                             hint=f"give the file of playbook '{ev.playbook}' with --playbook FILE")
        trigger = replay_trigger(ev)

        def checked(playbook: Any, store: Any = None) -> dict:
            if playbook.name != ev.playbook:
                from runner.cli.triggers import warn

                warn(f"{path} is playbook '{playbook.name}', but the event was for '{ev.playbook}'; "
                      "replaying it with that playbook anyway")
            return trigger

        code = run_and_report(runtime, path, inputs={}, tenant=tenant or ev.tenant, dry_run=dry_run,
                              as_json=as_json, trigger=checked)
    finally:
        runtime.close()
    sys.exit(code)
