"""``soar serve``: run playbooks from their triggers until SIGTERM/SIGINT (docs/serve.md)."""

from __future__ import annotations

import json
import socket
import sys

import click

from runner.cli.common import allow_hosts_option, build_runtime, handle_errors


def _seconds(value: str, option: str) -> float | None:
    from runner.durations import parse_duration
    from runner.errors import UsageError

    if str(value).strip().lower() in ("off", "none", "never"):
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise UsageError(f"{option}: {exc}") from None


def _positive(value: str, option: str) -> float:
    from runner.errors import UsageError

    seconds = _seconds(value, option)
    if not seconds:  # a slow client must always be dropped at some point
        raise UsageError(f"{option}: give a duration above zero (e.g. 10s)")
    return seconds


def _listen(host: str, port: int) -> socket.socket:
    from runner.loopback import listen_socket

    sock = listen_socket(host, port)
    sock.setblocking(False)
    return sock


def _approver_tokens(values: tuple[str, ...]) -> dict:
    """``--approver NAME=REF`` options: approver name -> its token (a resolved secret)."""
    from runner.errors import UsageError
    from runner.secrets import resolve

    out: dict = {}
    for value in values:
        name, sep, ref = value.partition("=")
        name = name.strip()
        if not sep or not name or not ref:
            raise UsageError(f"--approver {value.split('=')[0]}=...: expected NAME=REF",
                             hint="e.g. --approver alice=env:ALICE_APPROVAL_TOKEN")
        if name in out:
            raise UsageError(f"--approver {name} is given twice")
        out[name] = resolve(ref, name=f"approver {name}")
    return out


def _routes(values: tuple[str, ...], role: str) -> list[tuple[str, str]]:
    """``--route PATTERN=QUEUE`` options, in order."""
    from runner.errors import UsageError

    if values and role != "front":
        raise UsageError("--route only applies to --role front", hint="an all-in-one serve queues nothing")
    out = []
    for value in values:
        pattern, sep, queue = value.partition("=")
        if not sep or not pattern.strip() or not queue.strip():
            raise UsageError(f"--route {value}: expected PATTERN=QUEUE", hint="e.g. --route 'isolate-*=containment'")
        out.append((pattern.strip(), queue.strip()))
    return out


@click.command()
@click.argument("playbook_dir", default="playbooks", type=click.Path(file_okay=False))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=int, default=8080, show_default=True, help="0 picks a free port.")
@click.option("--simulate", is_flag=True, help="Use the in-process simulated cloud (its state is lost at exit).")
@click.option("--sim-url", envvar="SOAR_SIM_URL", metavar="URL",
              help="Send every API and token request to `soar sim serve` at URL (app and tenants from soar.yaml).")
@click.option("--max-runs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Runs of one playbook at once; more events wait, a schedule that finds no slot is skipped.")
@click.option("--grace", default="30s", show_default=True,
              help="At SIGTERM, how long running runs may take to finish before they are checkpointed.")
@click.option("--misfire-grace", default="1h", show_default=True,
              help="A schedule missed while down still fires (once) if it is at most this late.")
@click.option("--body-limit", type=click.IntRange(min=1), default=1024 * 1024, show_default=True,
              help="Largest webhook body, in bytes (larger: 413).")
@click.option("--api-token", metavar="REF", envvar="SOAR_API_TOKEN",
              help="Secret reference (env:NAME, file:PATH) of the bearer token for /approvals.")
@click.option("--approver", "approvers", multiple=True, metavar="NAME=REF",
              help="A personal bearer token for /approvals (REF: env:VAR, file:PATH): its holder decides as NAME. "
                   "Repeat per approver.")
@click.option("--approval-timeout", default="24h", show_default=True,
              help="Deny (or per the step's on_timeout) approvals undecided this long; `off` to wait forever.")
@click.option("--watch-interval", default="1s", show_default=True,
              help="How often to look for edited playbooks; `off` to reload on SIGHUP only.")
@click.option("--auto-approve", is_flag=True, help="Approve every gate automatically (demo only).")
@click.option("--head-timeout", default="10s", show_default=True,
              help="Close a connection whose request line and headers have not all arrived within this.")
@click.option("--read-timeout", default="30s", show_default=True,
              help="Answer 408 to a request whose body has not all arrived within this.")
@click.option("--keep-alive", default="5s", show_default=True, help="Close idle keep-alive connections after this.")
@click.option("--max-connections", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Answer 503 at once beyond this many connections (keep `ulimit -n` above it).")
@click.option("--role", type=click.Choice(["all", "front"]), default="all", show_default=True,
              help="all: run everything in this process. front: accept triggers and queue the runs for "
                   "`soar worker` processes (PostgreSQL store; docs/scale-out.md).")
@click.option("--queue", "queue_name", default="runs", show_default=True, metavar="NAME",
              help="--role front: the queue jobs go to unless a --route says otherwise.")
@click.option("--route", "routes", multiple=True, metavar="PATTERN=QUEUE",
              help="--role front: queue the runs of playbooks whose name matches PATTERN (shell-style) on "
                   "QUEUE; repeatable, the first match wins.")
@allow_hosts_option
@handle_errors
def serve(playbook_dir, host, port, simulate, sim_url, max_runs, grace, misfire_grace, body_limit,
          api_token, approvers, approval_timeout, watch_interval, auto_approve, head_timeout, read_timeout, keep_alive,
          max_connections, role, queue_name, routes, allow_hosts):
    """Serve the playbooks in PLAYBOOK_DIR (default ./playbooks): schedules, webhooks under
    /hooks/..., polls, approvals over HTTP, /healthz and /metrics.

    The first line printed is one JSON document: url, playbooks, rejected files, webhooks,
    schedules, and how many runs were resumed / started after a restart. Runs until SIGTERM or
    SIGINT; SIGHUP reloads the playbooks now.
    """
    import asyncio

    from runner.errors import UsageError
    from runner.secrets import resolve
    from runner.serve.service import ServeOptions, ServeService

    if simulate and sim_url:
        raise UsageError("--simulate and --sim-url are two different simulated clouds; choose one")
    options = ServeOptions(
        directory=playbook_dir, max_runs=max_runs, grace=_seconds(grace, "--grace") or 0.0,
        misfire_grace=_seconds(misfire_grace, "--misfire-grace") or 0.0, body_limit=body_limit,
        api_token=resolve(api_token, name="api token") if api_token else None,
        approver_tokens=_approver_tokens(approvers),
        approval_timeout=_seconds(approval_timeout, "--approval-timeout"),
        watch_interval=_seconds(watch_interval, "--watch-interval") or 0.0,
        head_timeout=_positive(head_timeout, "--head-timeout"), read_timeout=_positive(read_timeout, "--read-timeout"),
        keep_alive=_positive(keep_alive, "--keep-alive"), max_connections=max_connections,
        role=role, queue=queue_name, routes=_routes(routes, role))
    if role == "front":
        from runner.cli.common import state
        from runner.queue.jobs import quiet

        quiet(state().verbose)
    sock = _listen(host, port)
    try:
        # a front: token_cache.backend and quotas.shared `auto` share the store's (docs/auth.md, docs/quotas.md)
        runtime = build_runtime(simulate=simulate, sim_url=sim_url, auto_approve=auto_approve,
                                allow_hosts=allow_hosts, role="front" if role == "front" else None)
    except BaseException:  # a refused option (e.g. --allow-host) must not leave the socket open
        sock.close()
        raise
    from runner.console.gate import exposure_note

    note = exposure_note(host, runtime.services.config)
    if note:
        click.echo(note, err=True)

    async def main() -> None:
        service = ServeService(runtime.services, options)
        summary = await service.start()
        service.install_signals()
        shown = f"[{host}]" if ":" in host else host
        click.echo(json.dumps({"url": f"http://{shown}:{sock.getsockname()[1]}", **summary}))
        sys.stdout.flush()
        await service.serve(sock)
        apis = runtime.services.apis
        if apis is not None:
            await apis.aclose()
        if service.fatal is not None:  # stopped on its own (the serve lock was taken): exit 1
            raise service.fatal

    try:
        asyncio.run(main())
    finally:
        sock.close()
        runtime.close()
    click.echo("stopped", err=True)
