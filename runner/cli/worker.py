"""``soar worker``: execute the runs fronts queue (docs/scale-out.md)."""

from __future__ import annotations

import json
import sys

import click

from runner.cli.common import allow_hosts_option, build_runtime, handle_errors, state


def _duration(value: str, option: str) -> float:
    from runner.durations import parse_duration
    from runner.errors import UsageError

    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise UsageError(f"{option}: {exc}") from None
    if seconds <= 0:
        raise UsageError(f"{option}: give a duration above zero (e.g. 5s)")
    return seconds


@click.command()
@click.option("--concurrency", type=click.IntRange(min=1, max=1000), default=10, show_default=True,
              help="Runs this worker executes at once.")
@click.option("--queues", "queues", multiple=True, metavar="NAME",
              help="Queues to take jobs from (repeatable, or comma-separated). Default: every queue.")
@click.option("--simulate", is_flag=True, help="Use the in-process simulated cloud (each worker its own: "
                                                "for one cloud shared by every worker use --sim-url).")
@click.option("--sim-url", envvar="SOAR_SIM_URL", metavar="URL",
              help="Send every API and token request to `soar sim serve` at URL (app and tenants from soar.yaml).")
@click.option("--grace", default="30s", show_default=True,
              help="At SIGTERM, how long running runs may take to finish before they are handed back to the queue.")
@click.option("--heartbeat", default="5s", show_default=True,
              help="How often this worker says it is alive, and looks for jobs of dead workers.")
@click.option("--stalled-after", default="30s", show_default=True,
              help="A worker silent this long is taken as dead: its jobs go back to the queue.")
@click.option("--poll-interval", default="5s", show_default=True,
              help="Longest wait between looks for jobs (PostgreSQL notifications wake the worker sooner).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address of /healthz and /metrics.")
@click.option("--metrics-port", type=int, default=None, metavar="PORT",
              help="Serve /healthz and /metrics on this port (0 picks one). Default: not served.")
@click.option("--auto-approve", is_flag=True, help="Approve every gate automatically (demo only).")
@allow_hosts_option
@handle_errors
def worker(concurrency, queues, simulate, sim_url, grace, heartbeat, stalled_after, poll_interval, host,
           metrics_port, auto_approve, allow_hosts):
    """Execute queued runs: start them from their events, continue them after an approval or
    after another worker died. Needs a PostgreSQL store prepared by `soar db upgrade`.

    The first line printed is one JSON document: worker (its name), concurrency, queues, metrics
    URL. Runs until SIGTERM or SIGINT: no new job is taken, running runs get --grace to finish,
    the others are handed back to the queue at their current step.
    """
    import asyncio

    from runner.errors import UsageError
    from runner.queue.jobs import quiet
    from runner.queue.worker import QueueWorker, WorkerOptions, build_probe_app

    if simulate and sim_url:
        raise UsageError("--simulate and --sim-url are two different simulated clouds; choose one")
    heartbeat_s = _duration(heartbeat, "--heartbeat")
    stalled_s = _duration(stalled_after, "--stalled-after")
    if stalled_s <= 2 * heartbeat_s:
        raise UsageError(f"--stalled-after ({stalled_after}) must be more than twice --heartbeat ({heartbeat})",
                         hint="else a live worker that is a little late looks dead, and its runs move")
    options = WorkerOptions(
        concurrency=concurrency, queues=[q.strip() for v in queues for q in v.split(",") if q.strip()],
        grace=_duration(grace, "--grace") if grace not in ("0", "0s") else 0.0, heartbeat=heartbeat_s,
        stalled_after=stalled_s, poll_interval=_duration(poll_interval, "--poll-interval"))
    quiet(state().verbose)
    sock = None
    if metrics_port is not None:
        from runner.loopback import listen_socket

        sock = listen_socket(host, metrics_port)
        sock.setblocking(False)
    try:
        # role: token_cache.backend and quotas.shared `auto` share the store's (docs/auth.md, docs/quotas.md)
        runtime = build_runtime(simulate=simulate, sim_url=sim_url, auto_approve=auto_approve,
                                allow_hosts=allow_hosts, role="worker")
    except BaseException:
        if sock is not None:
            sock.close()
        raise

    async def main() -> None:
        from runner.serve.httpserver import HttpLimits, build_server

        queue_worker = QueueWorker(runtime.services, options)
        url = None
        if sock is not None:
            shown = f"[{host}]" if ":" in host else host
            url = f"http://{shown}:{sock.getsockname()[1]}"
        summary = await queue_worker.start(metrics_url=url)
        queue_worker.install_signals()
        click.echo(json.dumps(summary))
        sys.stdout.flush()
        server = http = None
        if sock is not None:
            server = build_server(build_probe_app(queue_worker), HttpLimits(max_connections=100))
            http = asyncio.create_task(server.serve(sockets=[sock]), name="probe")
        try:
            await queue_worker.run()
        finally:
            if server is not None:
                server.should_exit = True
                await asyncio.gather(http, return_exceptions=True)
            apis = runtime.services.apis
            if apis is not None:
                await apis.aclose()

    try:
        asyncio.run(main())
    finally:
        if sock is not None:
            sock.close()
        runtime.close()
    click.echo("stopped", err=True)
