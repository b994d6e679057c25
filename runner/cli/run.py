"""``soar run`` and ``soar demo``."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import click

from runner.cli.common import build_runtime, console, handle_errors, print_json

EXIT = {"succeeded": 0, "failed": 1, "cancelled": 1, "waiting_approval": 3}


def _parse_inputs(pairs: tuple[str, ...]) -> dict:
    from runner.errors import UsageError

    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--input {pair!r} is not KEY=VALUE", hint="e.g. --input min_risk=High")
        out[key.strip()] = value
    return out


def execute(playbook_path: str, *, inputs: dict, tenant: str | None, dry_run: bool, as_json: bool,
            simulate: bool, auto_approve: bool, banner: str | None = None) -> int:
    """Load, run, report. Returns the exit code."""
    from runner.cli.progress import ProgressView, summary
    from runner.engine.run import Engine
    from runner.playbook.loader import PlaybookLoader

    runtime = build_runtime(simulate=simulate, auto_approve=auto_approve)
    try:
        playbook = PlaybookLoader(runtime.services.plugins).load(playbook_path)
        out = console(stderr=as_json)
        if banner and not as_json:
            out.print(banner)
        live = out.is_terminal and not as_json
        view = ProgressView(out, live=live)
        engine = Engine(runtime.services, progress=view)
        t0 = time.perf_counter()
        with view:
            result = asyncio.run(engine.start(playbook, inputs=inputs, tenant=tenant, dry_run=dry_run))
        elapsed = time.perf_counter() - t0
        if as_json:
            print_json(result.to_json())
        else:
            summary(out, result, view, elapsed)
        return EXIT.get(result.status, 1)
    finally:
        runtime.close()


@click.command()
@click.argument("playbook", type=click.Path(dir_okay=False))
@click.option("--input", "-i", "inputs", multiple=True, metavar="KEY=VALUE", help="A playbook input (repeatable).")
@click.option("--tenant", "-t", help="Run for this tenant only.")
@click.option("--dry-run", is_flag=True, help="Run read actions only; print the plan of write/destructive ones.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead of the live view.")
@click.option("--simulate", is_flag=True, help="Run against the in-process simulated cloud (tenants contoso, fabrikam).")
@click.option("--auto-approve", is_flag=True, help="Approve approval-gated steps automatically (recorded as such).")
@handle_errors
def run(playbook, inputs, tenant, dry_run, as_json, simulate, auto_approve):
    """Run PLAYBOOK now.

    Exit codes: 0 succeeded, 1 failed, 2 invalid playbook/config/usage, 3 waiting for approval.
    """
    code = execute(playbook, inputs=_parse_inputs(inputs), tenant=tenant, dry_run=dry_run,
                   as_json=as_json, simulate=simulate, auto_approve=auto_approve)
    sys.exit(code)


def demo_playbook() -> Path:
    """The demo playbook shipped with the package (falls back to the source tree's copy)."""
    here = Path(__file__).resolve().parent.parent
    for candidate in (here / "playbooks" / "demo.yaml",
                      here.parent / "playbooks" / "triage-high-severity-incidents.yaml",
                      here.parent / "playbooks" / "hello.yaml"):
        if candidate.is_file():
            return candidate
    from runner.errors import ConfigError

    raise ConfigError("the demo playbook is missing from this installation",
                      hint="reinstall soar-runner")


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@handle_errors
def demo(as_json):
    """Run the demo playbook against the simulated cloud (offline; approvals auto-approved)."""
    path = demo_playbook()
    banner = (f"[bold]soar demo[/]: running [cyan]{path.name}[/] against the in-process simulated cloud "
              "(tenants contoso and fabrikam). Approval gates are [yellow]auto-approved[/] in the demo.")
    code = execute(str(path), inputs={}, tenant=None, dry_run=False, as_json=as_json, simulate=True,
                   auto_approve=True, banner=banner)
    sys.exit(code)
