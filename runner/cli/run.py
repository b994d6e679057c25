"""``soar run``: load a playbook, run it with live progress, report (``soar demo`` reuses it)."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Any

import click

from runner.cli.common import (Runtime, allow_hosts_option, build_runtime, console, handle_errors, print_json,
                               run_async, sim_url_option)

# how a run ended, as the exit code of `soar run`, `soar runs resume|rerun`, `soar approve|deny`
# (2 is a SoarError's: an invalid playbook, config or usage)
EXIT = {"succeeded": 0, "failed": 1, "waiting_approval": 3, "cancelled": 4}
TRIGGER_TYPES = ["webhook", "poll", "schedule", "manual"]


def _parse_inputs(pairs: tuple[str, ...]) -> dict:
    from runner.errors import UsageError

    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--input {pair!r} is not KEY=VALUE", hint="e.g. --input min_risk=High")
        out[key.strip()] = value
    return out


@dataclass
class Outcome:
    """A finished (or paused) run, with what the report needs."""

    result: Any          # runner.engine.run.RunResult
    view: Any            # runner.cli.progress.ProgressView
    elapsed: float       # seconds, wall clock
    console: Any         # where the human-readable report goes (None with --json)

    @property
    def exit_code(self) -> int:
        return EXIT.get(self.result.status, 1)


def _last_success(store: Any, playbook: Any, kind: str, body: Any) -> str | None:
    """``trigger.since`` of a scheduled run started by hand: as ``soar serve`` gives it, the start
    of the playbook's last succeeded run in this store (None: there is none), unless the given
    payload says otherwise."""
    if kind != "schedule" or (isinstance(body, dict) and "since" in body):
        return None
    from runner.store.inbox import TriggerInbox

    found = TriggerInbox(store).last_succeeded([playbook.name]).get(playbook.name)
    return found.isoformat() if found is not None else None


def run_playbook(runtime: Runtime, playbook_path: str, *, inputs: dict, tenant: str | None,
                 dry_run: bool = False, as_json: bool = False, banner: str | None = None,
                 log_lines: bool = False, trigger: Any = None) -> Outcome:
    """Load and run one playbook with ``runtime``'s services, showing live progress.

    Progress is a live table on a terminal; with ``log_lines`` (and no terminal) it is one line
    per finished step instead, so piped output still shows it as it happens."""
    from runner.playbook.loader import PlaybookLoader

    playbook = PlaybookLoader(runtime.services.plugins).load(playbook_path)
    if callable(trigger):  # built from the loaded playbook (its webhook path, a warning) and the store
        trigger = trigger(playbook, runtime.services.store)
    return drive(runtime, lambda engine: engine.start(playbook, inputs=inputs, tenant=tenant, dry_run=dry_run,
                                                      trigger=trigger),
                 as_json=as_json, banner=banner, log_lines=log_lines)


def drive(runtime: Runtime, begin: Any, *, as_json: bool, banner: str | None = None,
          log_lines: bool = False) -> Outcome:
    """Run ``begin(engine)`` (the coroutine of an :class:`~runner.engine.run.Engine`'s start or
    resume) with ``runtime``'s services, showing live progress: a live table on a terminal; with
    ``log_lines`` (and no terminal) one line per finished step, so piped output still shows it."""
    from runner.cli.progress import ProgressView
    from runner.engine.run import Engine

    out = None if as_json else console()  # --json shows nothing but the document (and no rich import)
    if banner and out is not None:
        out.print(banner)
    live = out is not None and out.is_terminal
    view = ProgressView(out, live=live, lines=log_lines and not live and not as_json)
    t0 = time.perf_counter()
    with view:
        result = run_async(runtime, begin(Engine(runtime.services, progress=view)))
    return Outcome(result, view, time.perf_counter() - t0, out)


def execute(playbook_path: str, *, inputs: dict, tenant: str | None, dry_run: bool, as_json: bool,
            simulate: bool, auto_approve: bool, replay: str | None = None, sim_url: str | None = None,
            allow_hosts: tuple[str, ...] = (), trigger: Any = None) -> int:
    """Load, run, report. Returns the exit code. ``trigger``: the run's ``trigger`` (a dict, or a
    function of the loaded playbook returning one); default a manual run."""
    if replay is not None and simulate:
        from runner.errors import UsageError

        raise UsageError("--replay and --simulate exclude each other",
                         hint="--replay DIR answers from recordings; --simulate from the simulated cloud")
    runtime = build_runtime(simulate=simulate, auto_approve=auto_approve, replay=replay, sim_url=sim_url,
                            allow_hosts=allow_hosts)
    try:
        return run_and_report(runtime, playbook_path, inputs=inputs, tenant=tenant, dry_run=dry_run,
                              as_json=as_json, trigger=trigger)
    finally:
        runtime.close()


def run_and_report(runtime: Runtime, playbook_path: str, *, inputs: dict, tenant: str | None, dry_run: bool,
                   as_json: bool, trigger: Any = None) -> int:
    """Run with ``runtime`` (not closed here), print the summary or the JSON document; the exit code."""
    from runner.cli.progress import summary

    outcome = run_playbook(runtime, playbook_path, inputs=inputs, tenant=tenant, dry_run=dry_run,
                           as_json=as_json, trigger=trigger)
    doc = outcome.result.to_json()
    if runtime.replay is not None:
        doc["replay"] = replay_report(runtime.replay)
    if as_json:
        print_json(doc)
    else:
        summary(outcome.console, outcome.result, outcome.view, outcome.elapsed)
        if runtime.replay is not None:
            _print_replay(outcome.console, doc["replay"])
    return outcome.exit_code


def replay_report(replay: Any) -> dict:
    """What a replayed run asked for: requests answered from recordings, and those none answered."""
    return {"directory": str(replay.directory), "requests": len(replay.received),
            "answered": sum(1 for r in replay.received if r["file"]),
            "writes": [f"{r['method']} {r['host']}{r['path']}" for r in replay.received
                       if r["file"] and r["method"] not in ("GET", "HEAD")],
            "not_recorded": [f"{r['method']} {r['host']}{r['path']}" for r in replay.missing]}


def _print_replay(console: Any, report: dict) -> None:
    from rich.markup import escape

    console.print(f"replay: {report['answered']}/{report['requests']} request(s) answered from "
                  f"{escape(report['directory'])}")
    for line in report["not_recorded"]:
        console.print(f"[red]not recorded:[/] {escape(line)}")


@click.command()
@click.argument("playbook", type=click.Path(dir_okay=False))
@click.option("--input", "-i", "inputs", multiple=True, metavar="KEY=VALUE", help="A playbook input (repeatable).")
@click.option("--tenant", "-t", help="Run for this tenant only.")
@click.option("--dry-run", is_flag=True, help="Run read actions only; print the plan of write/destructive ones.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead of the live view.")
@click.option("--simulate", is_flag=True, help="Run against the in-process simulated cloud (tenants contoso, fabrikam).")
@click.option("--replay", type=click.Path(file_okay=False), metavar="DIR",
              help="Answer every API request from the recorded exchanges in DIR (docs/replay.md); offline.")
@click.option("--auto-approve", is_flag=True, help="Approve approval-gated steps automatically (recorded as such).")
@click.option("--payload", metavar="FILE|-",
              help="The trigger's payload (`trigger.payload`): a JSON or YAML file, or - for stdin. "
                   "Implies --trigger-type webhook.")
@click.option("--trigger-type", type=click.Choice(TRIGGER_TYPES),
              help="`trigger.type` of the run, as `soar serve` would start it (default: webhook with "
                   "--payload, else manual).")
@sim_url_option
@allow_hosts_option
@handle_errors
def run(playbook, inputs, tenant, dry_run, as_json, simulate, replay, auto_approve, payload, trigger_type,
        sim_url, allow_hosts):
    """Run PLAYBOOK now.

    With --simulate it runs offline against the simulated cloud (tenants contoso and fabrikam,
    seeded incidents, devices and indicators): try a playbook before pointing it at a tenant.
    With --replay DIR it runs offline against what a tenant answered, recorded in DIR.
    With --payload FILE a webhook playbook runs as if FILE had been posted to its webhook.

    Exit codes: 0 succeeded, 1 failed, 2 invalid playbook/config/usage, 3 waiting for approval,
    4 cancelled (`soar runs cancel`).
    """
    trigger = None
    if payload is not None or trigger_type is not None:
        from runner.cli.triggers import read_payload, trigger_for

        body = read_payload(payload) if payload is not None else None
        kind = trigger_type or "webhook"
        trigger = lambda playbook, store: trigger_for(playbook, kind, body, tenant=tenant,  # noqa: E731
                                                      has_payload=payload is not None,
                                                      since=_last_success(store, playbook, kind, body))
    code = execute(playbook, inputs=_parse_inputs(inputs), tenant=tenant, dry_run=dry_run,
                   as_json=as_json, simulate=simulate, auto_approve=auto_approve, replay=replay,
                   sim_url=sim_url, allow_hosts=allow_hosts, trigger=trigger)
    sys.exit(code)
