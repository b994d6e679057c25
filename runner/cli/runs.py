"""``soar runs list|show|resume`` and ``soar approve|deny``."""

from __future__ import annotations

import asyncio
import getpass
import sys
import time

import click

from runner.cli.common import build_runtime, console, handle_errors, print_json


@click.group()
def runs():
    """List, show and resume runs recorded in the run store."""


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
    from rich.table import Table

    runtime = build_runtime()
    try:
        records = runtime.services.store.list_runs(limit=limit, status=status, playbook=playbook,
                                                   top_level_only=True)
        if as_json:
            print_json([_run_doc(r) for r in records])
            return
        table = Table(box=None, header_style="bold")
        for col in ("run", "playbook", "tenant", "status", "started", "trigger"):
            table.add_column(col)
        for r in records:
            table.add_row(r.id, r.playbook_name, r.tenant or ("(all)" if runtime.services.store.children(r.id) else ""),
                          r.status, _when(r.created_at), (r.trigger or {}).get("type", ""))
        console().print(table if records else "no runs yet — `soar run PLAYBOOK`")
    finally:
        runtime.close()


def _run_doc(r) -> dict:
    return {"run_id": r.id, "parent_id": r.parent_id, "playbook": r.playbook_name, "tenant": r.tenant,
            "status": r.status, "dry_run": r.dry_run, "inputs": r.inputs, "trigger": r.trigger,
            "outputs": r.outputs, "error": r.error, "created_at": r.created_at,
            "started_at": r.started_at, "finished_at": r.finished_at}


@runs.command("show")
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def show(run_id, as_json):
    """A run with its steps (every attempt), approvals and audit trail."""
    from rich.markup import escape
    from rich.table import Table

    runtime = build_runtime()
    store = runtime.services.store
    try:
        run = store.get_run(run_id)
        children = store.children(run.id)
        steps = store.step_records(run.id)
        events = store.events(run.id)
        if as_json:
            doc = _run_doc(run)
            doc["steps"] = [s.__dict__ for s in steps]
            doc["events"] = [e.__dict__ for e in events]
            doc["children"] = [_run_doc(c) for c in children]
            print_json(doc)
            return
        out = console()
        out.print(f"[bold]{run.id}[/] {run.playbook_name} tenant={run.tenant or '-'} "
                  f"status=[bold]{run.status}[/] dry_run={run.dry_run}")
        out.print(f"created {_when(run.created_at)}  finished {_when(run.finished_at)}")
        if run.error:
            out.print(f"[red]error:[/] {escape(str(run.error.get('message', run.error)))}")
        if children:
            t = Table(box=None, header_style="bold", title="tenant runs")
            for col in ("run", "tenant", "status"):
                t.add_column(col)
            for c in children:
                t.add_row(c.id, c.tenant or "", c.status)
            out.print(t)
        if steps:
            t = Table(box=None, header_style="bold", title="step attempts")
            for col in ("step", "item", "attempt", "action", "effect", "status", "error"):
                t.add_column(col)
            for s in steps:
                err = (s.error or {}).get("message", "") if isinstance(s.error, dict) else (s.error or "")
                t.add_row(s.step_id, "" if s.item is None else str(s.item), str(s.attempt), s.action or "",
                          s.effect or "", s.status, escape(err[:80]))
            out.print(t)
        if run.outputs is not None:
            import json

            out.print("[bold]outputs:[/] " + escape(json.dumps(run.outputs, default=str)[:2000]))
    finally:
        runtime.close()


def resume_and_report(run_id: str, *, simulate: bool, as_json: bool, retry_steps=(), skip_steps=(),
                      auto_approve: bool = False) -> int:
    from runner.cli.progress import ProgressView, summary
    from runner.cli.run import EXIT
    from runner.engine.run import Engine

    runtime = build_runtime(simulate=simulate, auto_approve=auto_approve)
    try:
        out = console(stderr=as_json)
        view = ProgressView(out, live=out.is_terminal and not as_json)
        engine = Engine(runtime.services, progress=view)
        t0 = time.perf_counter()
        with view:
            result = asyncio.run(engine.resume(run_id, retry_steps=tuple(retry_steps), skip_steps=tuple(skip_steps)))
        if as_json:
            print_json(result.to_json())
        else:
            summary(out, result, view, time.perf_counter() - t0)
        return EXIT.get(result.status, 1)
    finally:
        runtime.close()


@runs.command("resume")
@click.argument("run_id")
@click.option("--simulate", is_flag=True, help="Resume against the simulated cloud.")
@click.option("--retry-step", multiple=True, metavar="STEP",
              help="Send this step's items whose outcome is unknown (after checking by hand); "
                   "items recorded as succeeded are never sent again.")
@click.option("--skip-step", multiple=True, metavar="STEP", help="Mark this unfinished step skipped and go on.")
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def resume(run_id, simulate, retry_step, skip_step, as_json):
    """Continue RUN_ID from its last completed step (after a crash or an approval).

    Completed steps are not repeated; a write step that was started but not recorded is
    reconciled by its action, never blindly sent again. With --retry-step, only the step's
    items without a recorded outcome are sent (after its reconcile hook, if any, found nothing).
    """
    sys.exit(resume_and_report(run_id, simulate=simulate, as_json=as_json, retry_steps=retry_step,
                               skip_steps=skip_step))


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
    finally:
        runtime.close()
    if resume_now:
        return resume_and_report(run.parent_id or run.id, simulate=simulate, as_json=False)
    return 0


_resume_opt = click.option("--no-resume", is_flag=True, help="Only record the decision; do not continue the run now.")
_sim_opt = click.option("--simulate", is_flag=True, help="Continue the run against the simulated cloud.")


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
    """Approve STEP of RUN_ID, then continue the run."""
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
    """Deny STEP of RUN_ID; the step fails (its on_error decides what happens next)."""
    sys.exit(_decide(run_id, step, False, reason, not no_resume, simulate, actor))
