"""``soar sim serve``: the simulated cloud on loopback, for curl, scripts and other tools."""

from __future__ import annotations

import json

import click

from runner.cli.common import handle_errors
from runner.loopback import listen_socket


@click.group()
def sim() -> None:
    """The simulated cloud: Entra ID and the simulated services the installed plugins register."""


@sim.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Loopback address to listen on.")
@click.option("--port", type=int, default=8765, show_default=True, help="0 picks a free port.")
@click.option("--tenants", "n_tenants", type=click.IntRange(min=1, max=1000), default=None,
              help="Serve N tenants (tenant-01 ...) instead of the demo tenants contoso and fabrikam.")
@click.option("--token-lifetime", type=click.IntRange(min=60), default=3599, show_default=True,
              help="Lifetime of issued tokens, in seconds.")
@click.option("--set", "options", multiple=True, metavar="SERVICE.OPTION=VALUE",
              help="An option of a simulated service a plugin registers, VALUE read as YAML (3, false, "
                   "{a: 0}); its documentation lists its options. Repeatable.")
@click.option("--without-role", "without_roles", multiple=True, metavar="[TENANT:]ROLE",
              help="The demo app lacks ROLE (e.g. Machine.Isolate) in every tenant, or in TENANT only, as if "
                   "no admin had consented to it: rehearse `soar tenants check`. Repeatable.")
@handle_errors
def serve(host: str, port: int, n_tenants: int | None, token_lifetime: int, options: tuple[str, ...],
          without_roles: tuple[str, ...]) -> None:
    """Serve the simulated cloud until interrupted.

    The first line of output is one JSON document: base_url, tenants (name, tenant_id),
    client_id and client_secret of the demo app. Entra ID paths work as on
    login.microsoftonline.com, e.g. POST {base_url}/{tenant_id}/oauth2/v2.0/token; a simulated
    service's host is reached as {base_url}/_host/HOST/PATH; GET {base_url}/_sim/stats counts
    the token and API requests.
    """
    import uvicorn

    from runner.cli.tenants import withhold_roles
    from runner.errors import UsageError
    from runner.plugins import load_plugins
    from runner.sim import SimulatedCloud

    if host not in ("127.0.0.1", "localhost", "::1") and not host.startswith("127."):
        raise UsageError(f"refusing to serve the simulated cloud on {host}",
                         hint="it hands out its demo secret to anyone: use a loopback address")
    plugins = load_plugins()
    services = service_options(options, plugins.sim_services)
    cloud = SimulatedCloud(tenants=n_tenants, token_lifetime=token_lifetime, plugins=plugins, services=services)
    withhold_roles(cloud, without_roles)
    sock = listen_socket(host, port)
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    base = f"http://{shown}:{bound}"
    doc = cloud.describe(base)
    click.echo(json.dumps(doc), nl=True)
    first = doc["tenants"][0]
    click.echo(f"Simulated Entra ID for {len(doc['tenants'])} tenant(s) on {base}")
    resource = next((cloud.resources.audience(api, first["cloud"]) for api in cloud.resources.resources), None)
    if resource:
        click.echo(f"  v2 token:  POST {base}/{first['tenant_id']}/oauth2/v2.0/token  (scope={resource}/.default)")
        click.echo(f"  v1 token:  POST {base}/{first['tenant_id']}/oauth2/token  (resource={resource})")
    click.echo(f"  metadata:  GET  {base}/{first['tenant_id']}/v2.0/.well-known/openid-configuration")
    for name, service in cloud.plugins.sim_services.items():
        hosts = ", ".join(service.hosts[:3]) + (f" and {len(service.hosts) - 3} more" if len(service.hosts) > 3 else "")
        click.echo(f"  {name}: {base}/_host/HOST/...  for {hosts}")
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


def service_options(specs: tuple[str, ...], registered: dict) -> dict[str, dict]:
    """``--set SERVICE.OPTION=VALUE`` options → service name → options (values read as YAML)."""
    import yaml

    from runner.errors import UsageError

    out: dict[str, dict] = {}
    for spec in specs:
        key, eq, text = spec.partition("=")
        name, dot, option = key.strip().partition(".")
        if not (eq and dot and name and option.strip()):
            raise UsageError(f"--set {spec}: expected SERVICE.OPTION=VALUE",
                             hint=f"simulated services: {', '.join(registered) or 'none'}")
        if name not in registered:
            raise UsageError(f"--set {spec}: no simulated service '{name}'",
                             hint=f"simulated services: {', '.join(registered) or 'none'} (registered by the "
                                  "installed plugins)")
        try:
            value = yaml.safe_load(text) if text.strip() else ""
        except yaml.YAMLError as exc:
            raise UsageError(f"--set {spec}: the value is not valid YAML ({exc.problem or exc})") from None
        out.setdefault(name, {})[option.strip()] = value
    return out
