"""``soar runs list|show|resume`` and ``soar approve|deny``."""

from __future__ import annotations

import getpass
import sys
import time

import click

from runner.cli.common import build_runtime, console, handle_errors, print_json

FINISHED = ("succeeded", "failed", "cancelled", "skipped")


@click.group()
def runs():
    """List, show, resume, cancel and rerun runs recorded in the run store."""


def _when(t) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S") if t else ""


@runs.command("list")
@click.option("--limit", "-n", default=20, show_default=True)
@click.option("--status", help="Only runs with this status.")
@click.option("--playbook", help="Only runs of this playbook.")
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def list_runs(limit, status, playbook, as_json):
    """Recent runs, newest first (per-tenant child runs are shown under their parent)."""
    from runner.cli.tables import print_table

    runtime = build_runtime()
    try:
        store = runtime.services.store
        records = store.list_runs(limit=limit, status=status, playbook=playbook, top_level_only=True)
        if as_json:
            print_json([_run_doc(r) for r in records])
            return
        if not records:
            console().print("no runs yet — `soar run PLAYBOOK`")
            return
        print_table(console(), ("run", "playbook", "tenant", "status", "started", "trigger"),
                    [(r.id, r.playbook_name, r.tenant or ("(all)" if store.children(r.id) else ""),
                      r.status, _when(r.created_at), (r.trigger or {}).get("type", "")) for r in records],
                    ids=(0, 1, 2, 3))
    finally:
        runtime.close()


def _run_doc(r) -> dict:
    return {"run_id": r.id, "parent_id": r.parent_id, "playbook": r.playbook_name, "tenant": r.tenant,
            "status": r.status, "dry_run": r.dry_run, "inputs": r.inputs, "trigger": r.trigger,
            "outputs": r.outputs, "error": r.error, "created_at": r.created_at,
            "started_at": r.started_at, "finished_at": r.finished_at, "origin": r.origin,
            "rerun_of": r.rerun_of, "cancel_requested_at": r.cancel_requested_at,
            "cancel_requested_by": r.cancel_requested_by}


@runs.command("show")
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def show(run_id, as_json):
    """A run with its tenant runs (and their errors), its steps (every attempt), its approvals
    (what each asked, with the plan of the gated step) and its audit trail."""
    from runner.cli.runview import print_run, with_run_details

    runtime = build_runtime()
    store = runtime.services.store
    try:
        run = store.get_run(run_id)
        if not as_json:
            print_run(console(), store, run)
            return
        children = store.children(run.id)
        doc = _run_doc(run)
        doc["steps"] = [s.__dict__ for s in store.step_records(run.id)]
        doc["events"] = [e.__dict__ for e in store.events(run.id)]
        doc["children"] = [_run_doc(c) for c in children]
        gates = store.approvals_of([run.id, *(c.id for c in children)])
        doc["approvals"] = [a.as_doc() for a in with_run_details(store, gates)]
        print_json(doc)
    finally:
        runtime.close()


def _read_run(run_id: str):
    """The run (by id or unique prefix), read with a runtime that only serves to read the store."""
    runtime = build_runtime()
    try:
        return runtime.services.store.get_run(run_id)
    finally:
        runtime.close()


def _say(notes: list[str]) -> None:
    from rich.markup import escape

    err = console(stderr=True)
    for note in notes:
        err.print(f"[yellow]note:[/] {escape(note)}")


def resume_and_report(run_id: str, *, simulate: bool, as_json: bool, retry_steps=(), skip_steps=(),
                      auto_approve: bool = False) -> int:
    """Continue a run the way it was started (its stored origin: runner.cli.origin), report."""
    from runner.cli.origin import runtime_for_run
    from runner.cli.progress import summary
    from runner.cli.run import drive

    run = _read_run(run_id)
    runtime, notes = runtime_for_run(run, simulate=simulate, auto_approve=auto_approve)
    _say(notes)
    try:
        outcome = drive(runtime, lambda engine: engine.resume(run.id, retry_steps=tuple(retry_steps),
                                                              skip_steps=tuple(skip_steps)), as_json=as_json)
        if as_json:
            print_json(outcome.result.to_json())
        else:
            summary(outcome.console, outcome.result, outcome.view, outcome.elapsed)
        return outcome.exit_code
    finally:
        runtime.close()


_origin_sim_help = ("Continue against the simulated cloud even if the run was started against real "
                    "tenants (not needed for a run started with --simulate: the run remembers).")


@runs.command("resume")
@click.argument("run_id")
@click.option("--simulate", is_flag=True, help=_origin_sim_help)
@click.option("--retry-step", multiple=True, metavar="STEP",
              help="Send this step's items whose outcome is unknown (after checking by hand); "
                   "items recorded as succeeded are never sent again.")
@click.option("--skip-step", multiple=True, metavar="STEP", help="Mark this unfinished step skipped and go on.")
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def resume(run_id, simulate, retry_step, skip_step, as_json):
    """Continue RUN_ID from its last completed step (after a crash or an approval), the way it
    was started (simulated or not, config file, --sim-url: the run remembers).

    Completed steps are not repeated; a write step that was started but not recorded is
    reconciled by its action, never blindly sent again. With --retry-step, only the step's
    items without a recorded outcome are sent (after its reconcile hook, if any, found nothing).

    Exit codes as `soar run`: 0 succeeded, 1 failed, 3 waiting for approval, 4 cancelled.
    """
    sys.exit(resume_and_report(run_id, simulate=simulate, as_json=as_json, retry_steps=retry_step,
                               skip_steps=skip_step))


@runs.command("cancel")
@click.argument("run_id")
@click.option("--reason", default="", help="Why (kept in the audit trail).")
@click.option("--as", "actor", help="Who cancels (default: the OS user).")
@click.option("--wait", "wait_for", default="10s", show_default=True,
              help="How long to wait for a run another process is executing to stop (0: do not wait).")
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def cancel(run_id, reason, actor, wait_for, as_json):
    """Cancel RUN_ID (with its tenant runs).

    A run waiting for an approval is cancelled at once and its pending approvals are closed. A
    run another process is executing (`soar serve`, another `soar run`) stops before its next
    step or foreach item (items in flight finish). A finished run cannot be cancelled.
    """
    from runner.durations import parse_duration
    from runner.store.runcontrol import request_cancel

    wait_s = parse_duration(wait_for) if wait_for not in ("0", "off") else 0.0
    runtime = build_runtime()
    store = runtime.services.store
    out = console(stderr=as_json)
    try:
        run = store.get_run(run_id)
        if run.parent_id is not None:
            top = store.get_run(run.parent_id)
            out.print(f"run {run.id} is a tenant run of {top.id}: cancelling {top.id} as a whole")
            run = top
        outcome = request_cancel(store, run.id, actor=actor or getpass.getuser(), reason=reason)
        for run_id_, step in outcome.approvals:
            out.print(f"approval closed: run {run_id_} step '{step}'")
        status = store.get_run(run.id).status
        if outcome.requested and status != "cancelled":
            out.print(f"cancel requested: run {run.id} is being executed by another process; it stops "
                      "before its next step or item")
            deadline = time.monotonic() + wait_s
            while status not in FINISHED and time.monotonic() < deadline:
                time.sleep(0.2)
                status = store.get_run(run.id).status
        if status == "cancelled":
            out.print(f"cancelled: run {run.id}")
        elif status in FINISHED:
            out.print(f"[yellow]run {run.id} {status} before it saw the cancel request[/]")
        else:
            out.print(f"[yellow]run {run.id} is still {status}:[/] the request stands, and the process "
                      f"executing it stops it before its next step or item; if no process executes it "
                      f"any more (it was stopped or crashed), `soar runs resume {run.id}` ends it cancelled")
        if as_json:
            print_json({"run_id": run.id, "status": status, "cancelled": outcome.cancelled,
                        "requested": outcome.requested,
                        "approvals_closed": [{"run_id": r, "step": s} for r, s in outcome.approvals]})
    finally:
        runtime.close()


@runs.command("rerun")
@click.argument("run_id")
@click.option("--from-file", is_flag=True,
              help="Run the playbook file as it is now (default: the exact version RUN_ID ran).")
@click.option("--dry-run/--no-dry-run", default=None, help="Default: as RUN_ID was.")
@click.option("--simulate", is_flag=True, help=_origin_sim_help)
@click.option("--auto-approve", is_flag=True, help="Approve approval-gated steps automatically (recorded as such).")
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def rerun(run_id, from_file, dry_run, simulate, auto_approve, as_json):
    """Start RUN_ID again as a new run: the same inputs, trigger payload and tenants, the same way
    (simulated or not, config file: the run remembers), the playbook version it ran. Prints the
    new run id; the new run records which run it repeats (rerun_of)."""
    from runner.cli.origin import runtime_for_run
    from runner.cli.progress import summary
    from runner.cli.run import drive
    from runner.errors import UsageError
    from runner.playbook.loader import PlaybookLoader

    run = _read_run(run_id)
    if (run.trigger or {}).get("type") == "playbook":
        raise UsageError(f"run {run.id} is a sub-playbook run of {run.parent_id}",
                         hint=f"rerun the run that called it: `soar runs rerun {run.parent_id}`")
    runtime, notes = runtime_for_run(run, simulate=simulate, auto_approve=auto_approve)
    _say(notes)
    try:
        services = runtime.services
        loader = PlaybookLoader(services.plugins)
        if from_file:
            if not run.playbook_path or run.playbook_path.startswith("<"):
                raise UsageError(f"run {run.id} did not come from a file", hint="rerun it without --from-file")
            playbook = loader.load(run.playbook_path)
        else:
            playbook = loader.load_text(run.playbook_text, run.playbook_path or "<stored>")
        scope = [c.tenant for c in services.store.children(run.id) if c.tenant] or (
            [run.tenant] if run.tenant else [])
        outcome = drive(runtime, lambda engine: engine.start(
            playbook, inputs=run.inputs or {}, trigger=run.trigger or {"type": "manual"}, scope=scope,
            dry_run=run.dry_run if dry_run is None else dry_run, rerun_of=run.id), as_json=as_json)
        if as_json:
            print_json({**outcome.result.to_json(), "rerun_of": run.id})
        else:
            summary(outcome.console, outcome.result, outcome.view, outcome.elapsed)
            outcome.console.print(f"rerun of {run.id}: new run {outcome.result.run_id}")
    finally:
        runtime.close()
    sys.exit(outcome.exit_code)


def _decide(run_id: str, step: str, approved: bool, reason: str, resume_now: bool, simulate: bool, actor: str | None):
    runtime = build_runtime()
    try:
        store = runtime.services.store
        run = store.get_run(run_id)
        target = run
        if store.get_approval(run.id, step) is None:
            # approving on a parent run applies to every tenant run waiting at that step
            kids = [c for c in store.children(run.id) if store.get_approval(c.id, step) is not None]
            if not kids:
                from runner.errors import UsageError

                raise UsageError(f"run {run.id} has no step '{step}' waiting for approval",
                                 hint="`soar approvals list` or `soar runs show RUN_ID`")
            targets = kids
        else:
            targets = [target]
        who = actor or getpass.getuser()
        for t in targets:
            rec = store.decide_approval(t.id, step, approved=approved, actor=who, reason=reason)
            console().print(f"{'approved' if approved else 'denied'}: run {t.id} step '{step}' by {rec.decided_by}")
        queued = _hand_to_queue(store, run.parent_id or run.id) if resume_now else None
    finally:
        runtime.close()
    if queued is not None:  # a scaled-out deployment: a worker continues the run
        console().print(queued[1])
        return 0
    if resume_now:
        return resume_and_report(run.parent_id or run.id, simulate=simulate, as_json=False)
    return 0


def _hand_to_queue(store, run_id: str):
    """In queue mode (fronts and workers: docs/scale-out.md) the run's resume is queued for a
    worker; None otherwise (this process continues the run)."""
    if store.url.startswith("sqlite"):
        return None
    from runner.queue.roles import hand_to_queue

    return hand_to_queue(store, run_id)


_resume_opt = click.option("--no-resume", is_flag=True, help="Only record the decision; do not continue the run now.")
_sim_opt = click.option("--simulate", is_flag=True, help=_origin_sim_help)


@click.command()
@click.argument("run_id")
@click.argument("step")
@click.option("--reason", default="", help="Why (kept in the audit trail).")
@click.option("--as", "actor", help="Who approves (default: the OS user); must be one of the step's "
                                    "`approvers:` when it names some.")
@_resume_opt
@_sim_opt
@handle_errors
def approve(run_id, step, reason, actor, no_resume, simulate):
    """Approve STEP of RUN_ID, then continue the run the way it was started (the run remembers
    whether it was simulated, its config file, --sim-url)."""
    sys.exit(_decide(run_id, step, True, reason, not no_resume, simulate, actor))


@click.command()
@click.argument("run_id")
@click.argument("step")
@click.option("--reason", default="", help="Why (kept in the audit trail).")
@click.option("--as", "actor", help="Who denies (default: the OS user); must be one of the step's "
                                    "`approvers:` when it names some.")
@_resume_opt
@_sim_opt
@handle_errors
def deny(run_id, step, reason, actor, no_resume, simulate):
    """Deny STEP of RUN_ID; the step fails (its on_error decides what happens next), and the run
    continues the way it was started."""
    sys.exit(_decide(run_id, step, False, reason, not no_resume, simulate, actor))
