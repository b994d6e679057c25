"""``soar demo``: a demo playbook against the in-process simulated cloud, then a summary.

The demo needs no config and no network: it starts :class:`runner.sim.SimulatedCloud` with its
two demo tenants (``contoso``, ``fabrikam``) and every simulated service the installed plugins
register, runs the demo playbook a simulated service ships (``SimService.demo``; the Defender
plugin's is the triage playbook) with approvals auto-approved (and says so), shows live
progress, and ends with what happened, read from the simulated services and the API client
counters rather than from the playbook's own claims: items the playbook reported, what each
service saw it do (e.g. devices isolated, machine actions), token requests, API calls, 429s
absorbed, the steps' warnings (e.g. devices that came without the id the playbook needs:
nothing to act on is not shown as a plain success) and the elapsed time.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from runner.cli.common import allow_hosts_option, build_runtime, handle_errors, print_json


def demo_playbook(plugins: Any, service: str | None = None) -> tuple[str, Path]:
    """(service name, playbook path) of the demo a registered simulated service ships."""
    from runner.errors import ConfigError

    demos = {name: svc.demo for name, svc in plugins.sim_services.items() if svc.demo}
    if not demos:
        raise ConfigError("no installed plugin ships a demo playbook for the simulated cloud",
                          hint="install an integration that does, e.g. `pip install -e plugins/defender`")
    if service is None:
        service = next(iter(demos))
    elif service not in demos:
        raise ConfigError(f"no demo named '{service}'; installed demos: {', '.join(demos)}",
                          hint="`soar demo --service NAME` with one of those")
    path = Path(demos[service])
    if not path.is_file():
        raise ConfigError(f"the demo playbook of '{service}' ({path}) is missing from this installation",
                          hint=f"reinstall the plugin that provides the '{service}' simulated service")
    return service, path


@dataclass
class TenantFigures:
    incidents: int | None = None                  # as the playbook's outputs report them
    seen: list[tuple[str, str, Any]] = field(default_factory=list)  # (key, label, value) from the service
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

    def seen(self) -> dict[str, tuple[str, dict[str, Any]]]:
        """key → (label, tenant → value): what the simulated services saw, by figure."""
        out: dict[str, tuple[str, dict[str, Any]]] = {}
        for name, t in self.tenants.items():
            for key, label, value in t.seen:
                out.setdefault(key, (label, {}))[1][name] = value
        return out

    def to_json(self) -> dict:
        return {
            "status": self.status,
            "incidents_seen": self.incidents,
            "incidents_seen_by_tenant": {n: t.incidents for n, t in self.tenants.items()},
            **{key: by_tenant for key, (_, by_tenant) in self.seen().items()},
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
    """Read the figures from the simulated services, the API clients and the run's outputs."""
    cloud = runtime.simulated
    stats = runtime.services.apis.stats()
    result = outcome.result
    runs = result.children or ({result.tenant: result} if result.tenant else {})
    reporters = [svc for svc in cloud.services.values() if callable(getattr(svc, "summary", None))]
    tenants: dict[str, TenantFigures] = {}
    for name in cloud.tenants:
        child = runs.get(name)
        outputs = child.outputs if child is not None and isinstance(child.outputs, dict) else {}
        tenants[name] = TenantFigures(
            incidents=outputs.get("incidents") if isinstance(outputs.get("incidents"), int) else None,
            seen=[row for svc in reporters for row in svc.summary(name)],
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


def _figure(value: Any) -> str:
    """A service's figure as text: a list as its length and items, a mapping of counts by kind."""
    if isinstance(value, (list, tuple)):
        return f"{len(value)}" + (f" ({', '.join(map(str, value))})" if value else "")
    if isinstance(value, dict):
        if not value:
            return "none"
        return "; ".join(f"{k} " + (", ".join(f"{n} {s}" for s, n in v.items()) if isinstance(v, dict) else str(v))
                         for k, v in value.items())
    return str(value)


def _total(values: list[Any]) -> str:
    if all(isinstance(v, (list, tuple)) for v in values):
        return f"{sum(len(v) for v in values)}\n"
    return ""


def render(console: Any, s: DemoSummary) -> None:
    """Print the summary as a two-column table."""
    from rich.markup import escape
    from rich.table import Table

    def per_tenant(fn) -> str:
        return "\n".join(f"{name}: {fn(t)}" for name, t in s.tenants.items())

    def calls(t: TenantFigures) -> str:
        return ", ".join(f"{api} {n}" for api, n in sorted(t.api_calls.items())) or "none"

    pairs = ", ".join(f"{t}/{a}" for t, a in s.api_pairs)
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")  # device and tenant names wrap, never end in an ellipsis
    rows = [
        ("incidents seen", f"{s.incidents}\n" + per_tenant(lambda t: "?" if t.incidents is None else t.incidents)),
        *((label, _total(list(by_tenant.values())) + "\n".join(f"{name}: {_figure(v)}" for name, v in by_tenant.items()))
          for label, by_tenant in s.seen().values()),
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
@click.option("--service", default=None, metavar="NAME",
              help="The simulated service whose demo playbook to run (default: the first installed).")
@allow_hosts_option
@handle_errors
def demo(as_json, service, allow_hosts):
    """Run a demo playbook against the simulated cloud: offline, no config, approvals auto-approved.

    Starts the simulated cloud in-process with the demo tenants contoso and fabrikam and the
    simulated services of the installed plugins, runs the demo playbook one of them ships (the
    Defender plugin's: triage-high-severity-incidents) with live progress, then summarises what
    happened: incidents seen, what the simulated services saw (devices isolated, machine
    actions), token requests, API calls, 429s absorbed, elapsed time.
    """
    from runner.cli.progress import summary
    from runner.cli.run import run_playbook

    runtime = build_runtime(simulate=True, auto_approve=True, allow_hosts=allow_hosts)
    try:
        _, path = demo_playbook(runtime.services.plugins, service)
        banner = (f"[bold]soar demo[/]: running [cyan]{path.stem}[/] against the in-process simulated cloud "
                  "(tenants contoso and fabrikam, offline).\n"
                  "[yellow]Approval gates are auto-approved in the demo[/]: a real run waits for `soar approve`.")
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
