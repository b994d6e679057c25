"""``soar demo``: the triage playbook against the in-process simulated cloud, then a summary.

The demo needs no config and no network: it starts :class:`runner.sim.SimulatedCloud` with its
two demo tenants (``contoso``, ``fabrikam``), runs the shipped triage playbook with approvals
auto-approved (and says so), shows live progress, and ends with what happened, read from the
simulator and the API client counters rather than from the playbook's own claims: incidents
seen, devices isolated per tenant, machine actions and their outcomes, token requests, API
calls, 429s absorbed, the steps' warnings (e.g. devices without a machine id: nothing to act
on is not shown as a plain success) and the elapsed time.
"""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from runner.cli.common import allow_hosts_option, build_runtime, handle_errors, print_json

DEMO_PLAYBOOK = "triage-high-severity-incidents.yaml"


def demo_playbook() -> Path:
    """The demo playbook shipped inside the package (a copy of ``playbooks/`` + DEMO_PLAYBOOK,
    kept identical by a test), so a non-editable install finds it too."""
    path = Path(__file__).resolve().parent.parent / "playbooks" / DEMO_PLAYBOOK
    if not path.is_file():
        from runner.errors import ConfigError

        raise ConfigError(f"the demo playbook ({DEMO_PLAYBOOK}) is missing from this installation",
                          hint="reinstall soar-runner")
    return path


@dataclass
class TenantFigures:
    incidents: int | None = None                  # as listed by the playbook's first step
    isolated: list[str] = field(default_factory=list)          # device names, isolated now
    actions: dict[str, dict[str, int]] = field(default_factory=dict)  # type -> status -> count
    token_requests: int = 0
    api_calls: dict[str, int] = field(default_factory=dict)    # api -> calls sent
    throttled: int = 0                            # 429 answers received (then waited out)


@dataclass
class DemoSummary:
    """What the demo did, per tenant and in all."""

    status: str
    tenants: dict[str, TenantFigures]
    elapsed: float
    auto_approved: int
    retries: int = 0
    warnings: list[str] = field(default_factory=list)  # "tenant: step: message" (runner.notes)

    @property
    def incidents(self) -> int:
        return sum(t.incidents or 0 for t in self.tenants.values())

    @property
    def token_requests(self) -> int:
        return sum(t.token_requests for t in self.tenants.values())

    @property
    def api_calls(self) -> int:
        return sum(sum(t.api_calls.values()) for t in self.tenants.values())

    @property
    def throttled(self) -> int:
        return sum(t.throttled for t in self.tenants.values())

    @property
    def api_pairs(self) -> list[tuple[str, str]]:
        """The (tenant, API) pairs the run called: one token request each is the ideal."""
        return [(name, api) for name, t in self.tenants.items() for api in sorted(t.api_calls)]

    def to_json(self) -> dict:
        return {
            "status": self.status,
            "incidents_seen": self.incidents,
            "incidents_seen_by_tenant": {n: t.incidents for n, t in self.tenants.items()},
            "devices_isolated": {n: t.isolated for n, t in self.tenants.items()},
            "machine_actions": {n: t.actions for n, t in self.tenants.items()},
            "token_requests": self.token_requests,
            "token_requests_by_tenant": {n: t.token_requests for n, t in self.tenants.items()},
            "api_pairs": [list(p) for p in self.api_pairs],
            "api_calls": self.api_calls,
            "api_calls_by_tenant": {n: t.api_calls for n, t in self.tenants.items()},
            "throttled_429_absorbed": self.throttled,
            "retries": self.retries,
            "auto_approved": self.auto_approved,
            "warnings": self.warnings,
            "elapsed_seconds": round(self.elapsed, 3),
        }


def collect(runtime: Any, outcome: Any) -> DemoSummary:
    """Read the figures from the simulated cloud, the API clients and the run's outputs."""
    cloud = runtime.simulated
    sim = cloud.defender
    sim.tick()  # bring machine actions up to the simulated now
    stats = runtime.services.apis.stats()
    result = outcome.result
    runs = result.children or ({result.tenant: result} if result.tenant else {})
    tenants: dict[str, TenantFigures] = {}
    for name in cloud.tenants:
        data = sim.tenant(name)
        actions: dict[str, Counter] = {}
        for rec in data.actions:
            actions.setdefault(rec.data["type"], Counter())[rec.data["status"]] += 1
        child = runs.get(name)
        outputs = child.outputs if child is not None and isinstance(child.outputs, dict) else {}
        tenants[name] = TenantFigures(
            incidents=outputs.get("incidents") if isinstance(outputs.get("incidents"), int) else None,
            isolated=sorted((data.device(mid) or {}).get("computerDnsName", mid) for mid in data.isolated),
            actions={kind: dict(sorted(c.items())) for kind, c in sorted(actions.items())},
            token_requests=cloud.token_requests.get(name, 0),
            api_calls=dict(stats["calls"].get(name, {})),
            throttled=sum(stats["throttled"].get(name, {}).values()),
        )
    approved = sum(1 for row in outcome.view.rows.values() if row.get("approved_by") == "auto-approve")
    from runner.cli.progress import step_warnings

    # a run that found nothing to act on because a field was missing is not a quiet success
    warnings = [f"{tenant}: {step}: {message}" if tenant else f"{step}: {message}"
                for tenant, step, message in step_warnings(result)]
    return DemoSummary(result.status, tenants, outcome.elapsed, approved, stats["total_retries"], warnings)


def render(console: Any, s: DemoSummary) -> None:
    """Print the summary as a two-column table."""
    from rich.markup import escape
    from rich.table import Table

    def per_tenant(fn) -> str:
        return "\n".join(f"{name}: {fn(t)}" for name, t in s.tenants.items())

    def actions(t: TenantFigures) -> str:
        if not t.actions:
            return "none"
        return "; ".join(f"{kind} " + ", ".join(f"{n} {status}" for status, n in by.items())
                         for kind, by in t.actions.items())

    def isolated(t: TenantFigures) -> str:
        return f"{len(t.isolated)}" + (f" ({', '.join(t.isolated)})" if t.isolated else "")

    def calls(t: TenantFigures) -> str:
        return ", ".join(f"{api} {n}" for api, n in sorted(t.api_calls.items())) or "none"

    pairs = ", ".join(f"{t}/{a}" for t, a in s.api_pairs)
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")  # device and tenant names wrap, never end in an ellipsis
    rows = [
        ("incidents seen", f"{s.incidents}\n" + per_tenant(lambda t: "?" if t.incidents is None else t.incidents)),
        ("devices isolated", f"{sum(len(t.isolated) for t in s.tenants.values())}\n" + per_tenant(isolated)),
        ("machine actions", per_tenant(actions)),
        ("token requests", f"{s.token_requests} for {len(s.api_pairs)} (tenant, API) pairs: {pairs}"),
        ("API calls", f"{s.api_calls}\n" + per_tenant(calls)),
        ("429s absorbed", f"{s.throttled}" + (f" ({s.retries} other retries)" if s.retries else "")),
        ("approvals", f"{s.auto_approved} auto-approved (demo only: real runs wait for `soar approve`)"),
        ("warnings", "\n".join(s.warnings) or "none"),
        ("elapsed", f"{s.elapsed:.2f}s"),
    ]
    for label, value in rows:
        table.add_row(label, escape(value))
    console.print("\n[bold]demo summary[/] (simulated cloud: contoso and fabrikam)")
    console.print(table)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document (the run and a `summary`).")
@allow_hosts_option
@handle_errors
def demo(as_json, allow_hosts):
    """Run the triage playbook against the simulated cloud: offline, no config, approvals auto-approved.

    Starts the simulated cloud in-process with the demo tenants contoso and fabrikam, runs
    playbooks/triage-high-severity-incidents.yaml with live progress, then summarises what
    happened: incidents seen, devices isolated, machine actions, token requests, API calls,
    429s absorbed, elapsed time.
    """
    from runner.cli.progress import summary
    from runner.cli.run import run_playbook

    path = demo_playbook()
    banner = (f"[bold]soar demo[/]: running [cyan]{path.stem}[/] against the in-process simulated cloud "
              "(tenants contoso and fabrikam, offline).\n"
              "[yellow]Approval gates are auto-approved in the demo[/]: a real run waits for `soar approve`.")
    runtime = build_runtime(simulate=True, auto_approve=True, allow_hosts=allow_hosts)
    try:
        outcome = run_playbook(runtime, str(path), inputs={}, tenant=None, as_json=as_json, banner=banner,
                               log_lines=True)
        figures = collect(runtime, outcome)
        if as_json:
            print_json({**outcome.result.to_json(), "summary": figures.to_json()})
        else:
            summary(outcome.console, outcome.result, outcome.view, outcome.elapsed, outputs=False)
            render(outcome.console, figures)
    finally:
        runtime.close()
    sys.exit(outcome.exit_code)
