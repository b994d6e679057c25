"""``soar sim serve``: the simulated cloud on loopback, for curl, scripts and other tools."""

from __future__ import annotations

import json

import click

from runner.cli.common import handle_errors, listen_socket


@click.group()
def sim() -> None:
    """The simulated Microsoft cloud (Entra ID and the Defender/Graph APIs)."""


@sim.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Loopback address to listen on.")
@click.option("--port", type=int, default=8765, show_default=True, help="0 picks a free port.")
@click.option("--tenants", "n_tenants", type=click.IntRange(min=1, max=1000), default=None,
              help="Serve N tenants (tenant-01 ...) instead of the demo tenants contoso and fabrikam.")
@click.option("--token-lifetime", type=click.IntRange(min=60), default=3599, show_default=True,
              help="Lifetime of issued tokens, in seconds.")
@click.option("--devices-per-tenant", type=click.IntRange(min=0, max=100_000), default=None,
              help="Machines in each tenant's Defender inventory (default 25).")
@click.option("--no-quotas", is_flag=True, help="Switch off the simulated API quotas (no 429s).")
@click.option("--without-role", "without_roles", multiple=True, metavar="[TENANT:]ROLE",
              help="The demo app lacks ROLE (e.g. Machine.Isolate) in every tenant, or in TENANT only, as if "
                   "no admin had consented to it: rehearse `soar tenants check`. Repeatable.")
@handle_errors
def serve(host: str, port: int, n_tenants: int | None, token_lifetime: int, devices_per_tenant: int | None,
          no_quotas: bool, without_roles: tuple[str, ...]) -> None:
    """Serve the simulated cloud until interrupted.

    The first line of output is one JSON document: base_url, tenants (name, tenant_id),
    client_id and client_secret of the demo app. Entra ID paths work as on
    login.microsoftonline.com, e.g. POST {base_url}/{tenant_id}/oauth2/v2.0/token.
    """
    import uvicorn

    from runner.cli.tenants import withhold_roles
    from runner.errors import UsageError
    from runner.sim import SimulatedCloud

    if host not in ("127.0.0.1", "localhost", "::1") and not host.startswith("127."):
        raise UsageError(f"refusing to serve the simulated cloud on {host}",
                         hint="it hands out its demo secret to anyone: use a loopback address")
    knobs: dict = {} if devices_per_tenant is None else {"devices_per_tenant": devices_per_tenant}
    if no_quotas:
        knobs["quotas"] = False
    cloud = SimulatedCloud(tenants=n_tenants, token_lifetime=token_lifetime, defender=knobs or None)
    withhold_roles(cloud, without_roles)
    sock = listen_socket(host, port)
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    base = f"http://{shown}:{bound}"
    doc = cloud.describe(base)
    click.echo(json.dumps(doc), nl=True)
    first = doc["tenants"][0]
    click.echo(f"Simulated Entra ID for {len(doc['tenants'])} tenant(s) on {base}")
    click.echo(f"  v2 token:  POST {base}/{first['tenant_id']}/oauth2/v2.0/token  "
               "(scope=https://api.securitycenter.microsoft.com/.default)")
    click.echo(f"  v1 token:  POST {base}/{first['tenant_id']}/oauth2/token  "
               "(resource=https://api.securitycenter.microsoft.com)")
    click.echo(f"  metadata:  GET  {base}/{first['tenant_id']}/v2.0/.well-known/openid-configuration")
    if without_roles:
        click.echo(f"  the app lacks: {', '.join(without_roles)}")
    click.echo("Press Ctrl-C to stop.", nl=True)
    import sys

    sys.stdout.flush()
    config = uvicorn.Config(cloud.asgi_app(), log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
