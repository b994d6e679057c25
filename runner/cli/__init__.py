"""``soar`` — the command line. Subcommands live in their own modules and are imported only
when invoked, so ``soar --help`` stays fast (heavy libraries load on demand)."""

from __future__ import annotations

import importlib
import sys

import click

# command name -> "module:attribute" (a click.Command or click.Group)
COMMANDS: dict[str, str] = {
    "validate": "runner.cli.playbooks:validate",
    "run": "runner.cli.run:run",
    "demo": "runner.cli.demo:demo",
    "schema": "runner.cli.playbooks:schema",
    "actions": "runner.cli.catalog:actions",
    "plugins": "runner.cli.catalog:plugins",
    "runs": "runner.cli.runs:runs",
    "approve": "runner.cli.runs:approve",
    "deny": "runner.cli.runs:deny",
    "consent-url": "runner.cli.tenants:consent_url",
    "token": "runner.cli.tenants:token",
    "tenants": "runner.cli.tenants:tenants",
    "sim": "runner.cli.sim:sim",
    "serve": "runner.cli.serve:serve",
    "approvals": "runner.cli.approvals:approvals",
    "events": "runner.cli.events:events",
    "playbooks": "runner.cli.playbooks:playbooks",
    "worker": "runner.cli.worker:worker",
    "queue": "runner.cli.queue:queue",
    "db": "runner.cli.queue:db",
}

SHORT_HELP: dict[str, str] = {
    "validate": "Check playbooks without running them.",
    "run": "Run a playbook now.",
    "demo": "Run the triage demo against the simulated cloud.",
    "schema": "Print the playbook JSON Schema (for editors).",
    "actions": "List and describe actions.",
    "plugins": "List installed plugins.",
    "runs": "List, show and resume runs.",
    "approve": "Approve a step waiting for approval.",
    "deny": "Deny a step waiting for approval.",
    "consent-url": "Print the admin-consent URLs for the app.",
    "token": "Get a token for a tenant and show its claims.",
    "tenants": "List tenants and check their tokens and roles.",
    "sim": "Serve the simulated cloud on loopback.",
    "serve": "Run playbooks from their triggers (schedules, webhooks, polls).",
    "approvals": "List approvals waiting for a decision.",
    "events": "List recorded trigger events; replay one as a new run.",
    "playbooks": "List playbooks with their triggers and next schedule times.",
    "worker": "Execute the runs fronts queue (scale-out, PostgreSQL).",
    "queue": "Jobs and workers of the queue (scale-out).",
    "db": "Upgrade the store's schema and the job queue's.",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return [name for name in COMMANDS if self._available(name)]

    def _available(self, name: str) -> bool:
        module = COMMANDS[name].split(":")[0]
        return importlib.util.find_spec(module) is not None

    def get_command(self, ctx, name):
        target = COMMANDS.get(name)
        if target is None or not self._available(name):
            return None
        module, attr = target.split(":")
        return getattr(importlib.import_module(module), attr)

    def format_commands(self, ctx, formatter):
        rows = [(n, SHORT_HELP.get(n, "")) for n in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="soar-runner", prog_name="soar")
@click.option("--config", "config_path", envvar="SOAR_CONFIG", type=click.Path(dir_okay=False),
              help="Path to soar.yaml (default: ./soar.yaml if present). Env: SOAR_CONFIG.")
@click.option("--store", "store_url", envvar="SOAR_STORE",
              help="Run store URL (default: sqlite under ./.soar/). Env: SOAR_STORE.")
@click.option("-v", "--verbose", count=True, help="More log output (-v runs and events, -vv API calls).")
@click.option("--log-format", type=click.Choice(["text", "json"], case_sensitive=False), default="text",
              envvar="SOAR_LOG_FORMAT", show_default=True,
              help="Log lines on stderr: text, or one JSON object per line. Env: SOAR_LOG_FORMAT.")
@click.option("--sim-url", envvar="SOAR_SIM_URL", metavar="URL",
              help="Send every token and API request of the command to `soar sim serve` at URL, with the "
                   "app and tenants of soar.yaml (a rehearsal). Env: SOAR_SIM_URL.")
@click.pass_context
def main(ctx: click.Context, config_path: str | None, store_url: str | None, verbose: int,
         log_format: str, sim_url: str | None) -> None:
    """soar — run security automation playbooks against Microsoft Defender.

    Try `soar demo` to run the triage playbook against the built-in simulated cloud.
    """
    from runner.cli.common import CliState, setup_logging

    setup_logging(verbose, log_format.lower())
    ctx.obj = CliState(config_path=config_path, store_url=store_url, verbose=verbose, sim_url=sim_url)


own_process = False  # True in the `soar` console process: see run_main and common.startup_gc


def run_main() -> None:  # pragma: no cover - console entry
    import gc

    global own_process
    own_process = True
    try:
        main(prog_name="soar")
    finally:
        # Exit: the store is closed and output flushed by now. Without this, the interpreter's
        # shutdown collects and frees the whole heap (pydantic, SQLAlchemy, plugins) one object
        # at a time: ~90 ms of a `soar run`. atexit handlers and stream flushing still run.
        gc.freeze()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
