"""``soar approvals list``: the gates waiting for a human (decide with ``soar approve``/``deny``)."""

from __future__ import annotations

import click

from runner.cli.common import build_runtime, console, handle_errors, print_json


@click.group()
def approvals():
    """Approvals waiting for a decision."""


@approvals.command("list")
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def list_approvals(as_json):
    """Pending approvals, oldest first, with the command that decides each."""
    from rich.markup import escape
    from rich.table import Table

    runtime = build_runtime()
    try:
        store = runtime.services.store
        pending = store.pending_approvals()
        if as_json:
            print_json([{"run_id": a.run_id, "step": a.step_id, "item": a.item, "message": a.message,
                         "approvers": a.approvers, "requested_at": a.requested_at, "expires_at": a.expires_at}
                        for a in pending])
            return
        if not pending:
            console().print("no approvals pending")
            return
        table = Table(box=None, header_style="bold")
        for col in ("run", "playbook", "step", "approvers", "requested", "expires", "message"):
            table.add_column(col)
        for a in pending:
            run = store.get_run(a.run_id)
            table.add_row(a.run_id, run.playbook_name, a.step_id, escape(", ".join(a.approvers) or "anyone"),
                          f"{a.requested_at:%Y-%m-%d %H:%M:%S}",
                          f"{a.expires_at:%Y-%m-%d %H:%M:%S}" if a.expires_at else "-", escape(a.message[:60]))
        out = console()
        out.print(table)
        out.print("decide: soar approve RUN STEP | soar deny RUN STEP "
                  "(with soar serve running, add --no-resume: serve continues the run)")
    finally:
        runtime.close()
