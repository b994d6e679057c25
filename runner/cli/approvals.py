"""``soar approvals list``: the gates waiting for a human (decide with ``soar approve``/``deny``)."""

from __future__ import annotations

import click

from runner.cli.common import build_runtime, console, handle_errors, print_json


@click.group()
def approvals():
    """Approvals waiting for a decision."""


@approvals.command("list")
@click.option("--items", default=20, show_default=True, metavar="N",
              help="Items of each gate's plan to show (0: all).")
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def list_approvals(items, as_json):
    """Pending approvals, oldest first: what each asks (its message, rendered), the tenant and
    playbook, who may decide, until when, the plan of the gated step — which action on which
    items, with their inputs (secrets masked) — and the commands that decide it."""
    from runner.cli.runview import approval_lines, with_run_details

    runtime = build_runtime()
    try:
        store = runtime.services.store
        pending = with_run_details(store, store.pending_approvals())
        if as_json:
            print_json([a.as_doc() for a in pending])
            return
        out = console()
        if not pending:
            out.print("no approvals pending")
            return
        for n, a in enumerate(pending):
            if n:
                out.print("")
            for line in approval_lines(a, items=items or None):
                out.print(line)
        out.print("\nwith soar serve running, add --no-resume to a decision: serve continues the run")
    finally:
        runtime.close()
