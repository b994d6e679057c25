"""``soar consent-url``, ``soar token`` and ``soar tenants list|check``.

Each takes ``--simulate`` to use the in-process simulated cloud's demo config instead of
``soar.yaml``. Token values are never printed, except by ``soar token --raw``.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import click

from runner.cli.common import console, handle_errors, print_json, resolve_sim_url, sim_url_option, state
from runner.errors import ConfigError, SoarError

simulate_option = click.option("--simulate", is_flag=True,
                               help="Use the built-in simulated cloud and its demo tenants.")
json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")


def _config(simulate: bool, sim_url: str | None = None, without_roles: tuple[str, ...] = ()) -> tuple[Any, Any, Any]:
    """(config, network, simulated cloud or None). ``sim_url``: soar.yaml's app and tenants, every
    request sent to `soar sim serve` at that URL (default: the root --sim-url); ``without_roles``:
    roles the in-process simulated cloud's app lacks (``--without-role``, with --simulate)."""
    sim_url = resolve_sim_url(sim_url, simulate=simulate)
    if without_roles and not simulate:
        from runner.errors import UsageError

        raise UsageError("--without-role applies to the in-process simulated cloud (--simulate)",
                         hint="for `soar sim serve`, give it --without-role instead")
    if simulate:
        from runner.sim import SimulatedCloud

        cloud = SimulatedCloud()
        withhold_roles(cloud, without_roles)
        return cloud.demo_config(), cloud.network(), cloud
    from runner.config import load_config
    from runner.http import Network

    config = load_config(state().config_path)
    if config is None:
        raise ConfigError("no soar.yaml found",
                          hint="create soar.yaml (see docs/auth.md), pass --config, or use --simulate")
    return config, Network.loopback(sim_url) if sim_url else Network.internet(), None


def withhold_roles(cloud: Any, specs: tuple[str, ...]) -> None:
    """``--without-role [TENANT:]ROLE`` options: take the role from the simulated app (in every
    tenant, or in TENANT only), so `soar tenants check` shows what a missing consent looks like."""
    from runner.errors import UsageError

    for spec in specs:
        tenant, sep, role = spec.rpartition(":")
        tenant, role = (tenant.strip() or None) if sep else None, role.strip()
        if not role:
            raise UsageError(f"--without-role {spec!r}: name a role", hint="e.g. --without-role Machine.Isolate")
        try:
            cloud.withhold_role(role, tenant=tenant)
        except ValueError as exc:
            raise UsageError(f"--without-role {spec}: {exc}",
                             hint="role names are the app permissions, e.g. Machine.Isolate, Ti.ReadWrite.All") from None


without_role_option = click.option(
    "--without-role", "without_roles", multiple=True, metavar="[TENANT:]ROLE",
    help="With --simulate: the simulated app lacks ROLE (in every tenant, or in TENANT only); repeatable.")


@contextmanager
def _provider(config: Any, network: Any) -> Iterator[Any]:
    from runner.compose import build_token_provider

    provider = build_token_provider(config, network)
    try:
        yield provider
    finally:
        provider.close()


def _first_entra_api(provider: Any) -> str:
    from runner.apis.registry import entra_apis

    found = entra_apis(provider.registry)
    if not found:
        raise ConfigError("no installed plugin registers an API that takes Entra ID tokens",
                          hint="install the plugin of the API (`soar plugins list` shows what is installed)")
    return found[0]


def _app(config: Any) -> Any:
    if config.app is None:
        raise ConfigError("soar.yaml has no `app:` registration",
                          where=None, hint="add app.client_id and a client_secret reference (docs/auth.md)")
    return config.app


# ---- consent-url --------------------------------------------------------------------------------

@click.command("consent-url")
@click.option("--tenant", "tenant_name", help="Only this tenant's v2 link (default: every tenant).")
@click.option("--redirect-uri", help="Redirect URI registered on the app (default: app.consent_redirect_uri).")
@click.option("--client-id", help="App (client) id, when there is no soar.yaml.")
@simulate_option
@json_option
@handle_errors
def consent_url(tenant_name: str | None, redirect_uri: str | None, client_id: str | None,
                simulate: bool, as_json: bool) -> None:
    """Print the admin-consent links for the app.

    The Defender pages' link (/common/oauth2/authorize?prompt=consent...) lets an admin of any
    tenant consent; the v2 link (/{tenant}/adminconsent) is tenant-specific. An admin must open
    one of them again after every permission added to the app.
    """
    from runner.auth import consent_urls

    rows = []
    if client_id:
        urls = consent_urls(client_id, redirect_uri=redirect_uri)
        rows.append({"tenant": None, "tenant_id": None, "cloud": "commercial", **urls.as_dict()})
    else:
        config, _network, _cloud = _config(simulate)
        app = _app(config)
        names = [config.tenant(tenant_name).name] if tenant_name else config.tenant_names()
        redirect = redirect_uri or app.consent_redirect_uri
        for name in names or [None]:
            t = config.tenant(name) if name else None
            urls = consent_urls(app.client_id, tenant_id=t.id if t else None,
                                cloud=t.cloud if t else "commercial", redirect_uri=redirect)
            rows.append({"tenant": name, "tenant_id": t.id if t else None,
                         "cloud": t.cloud if t else "commercial", **urls.as_dict()})
    if as_json:
        print_json({"consent_urls": rows})
        return
    out = console()
    seen: set[str] = set()
    for row in rows:
        if row["authorize"] not in seen:
            seen.add(row["authorize"])
            out.print(f"[bold]Consent link (any tenant's admin, {row['cloud']} cloud):[/]")
            click.echo(f"  {row['authorize']}")
    for row in rows:
        label = f"tenant '{row['tenant']}' ({row['tenant_id']})" if row["tenant"] else "any organization"
        out.print(f"[bold]Admin consent for {label}:[/]")
        click.echo(f"  {row['admin_consent']}")


# ---- token --------------------------------------------------------------------------------------

@click.command("token")
@click.argument("tenant")
@click.option("--api", metavar="API", help="A registered API that takes Entra ID tokens (default: the first one "
                                          "registered; `soar tenants check` lists them).")
@click.option("--decode", is_flag=True, help="Show every claim (never the signature).")
@click.option("--raw", is_flag=True, help="Print the raw access token (and nothing else).")
@simulate_option
@sim_url_option
@without_role_option
@json_option
@handle_errors
def token(tenant: str, api: str | None, decode: bool, raw: bool, simulate: bool, sim_url: str | None,
          without_roles: tuple[str, ...], as_json: bool) -> None:
    """Get a token for TENANT and show its claims, roles and expiry."""
    config, network, _cloud = _config(simulate, sim_url, without_roles)
    _app(config)
    with _provider(config, network) as provider:
        if api is None:
            api = _first_entra_api(provider)
        tok = asyncio.run(provider.get_token(tenant, api))
    if raw:
        click.echo(tok.value.reveal())
        return
    summary = tok.summary()
    if decode:
        summary["claims"] = tok.claims
    if as_json:
        print_json(summary)
        return
    out = console()
    out.print(f"[bold]{tok.tenant}[/] ({tok.tenant_id}) — {api}: token from "
              f"{'the cache' if tok.source == 'cache' else 'Entra ID'}")
    out.print(f"  audience   {summary['audience']}")
    out.print(f"  expires    in {summary['expires_in']}s "
              f"({time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(tok.expires_on))})")
    out.print(f"  signature  {'verified' if tok.verified_signature else 'not verifiable (claims checked)'}")
    out.print(f"  roles      {', '.join(tok.roles) if tok.roles else '(none)'}")
    if decode:
        import json

        out.print("  claims:")
        click.echo("    " + json.dumps(tok.claims, indent=2, sort_keys=True).replace("\n", "\n    "))


# ---- tenants ------------------------------------------------------------------------------------

@click.group()
def tenants() -> None:
    """List tenants and check their tokens and roles."""


@tenants.command("list")
@simulate_option
@sim_url_option
@json_option
@handle_errors
def list_tenants(simulate: bool, sim_url: str | None, as_json: bool) -> None:
    """The configured tenants."""
    config, _network, _cloud = _config(simulate, sim_url)
    rows = [{"name": t.name, "tenant_id": t.id, "cloud": t.cloud, "region": t.region, "apis": dict(t.apis)}
            for t in config.tenants.values()]
    if as_json:
        print_json({"tenants": rows})
        return
    from runner.cli.tables import print_table

    print_table(console(), ("tenant", "tenant id", "cloud", "region", "api preferences"),
                [(r["name"], r["tenant_id"], r["cloud"], r["region"] or "-",
                  ", ".join(f"{k}: {v}" for k, v in r["apis"].items()) or "-") for r in rows], ids=(0, 1))


@tenants.command("check")
@click.argument("playbook_dir", required=False, type=click.Path(exists=True, file_okay=False))
@simulate_option
@sim_url_option
@without_role_option
@json_option
@handle_errors
def check_tenants(playbook_dir: str | None, simulate: bool, sim_url: str | None, without_roles: tuple[str, ...],
                  as_json: bool) -> None:
    """Per tenant: can a token be obtained, and does it hold the roles the playbooks need?

    Exits 1 when a tenant has a problem (no token, or a role missing).
    """
    config, network, _cloud = _config(simulate, sim_url, without_roles)
    _app(config)
    needs = roles_needed(Path(playbook_dir)) if playbook_dir else None
    with _provider(config, network) as provider:
        report = asyncio.run(_check_all(provider, config, needs))
    ok = all(r["ok"] for r in report)
    if as_json:
        print_json({"ok": ok, "tenants": report})
    else:
        _print_report(report, needs is not None)
    if not ok:
        raise SystemExit(1)


def roles_needed(directory: Path) -> list[dict]:
    """Best effort: for every step ``action:`` in the playbooks, the roles it declares.

    Returns ``[{"playbook", "tenants", "action", "roles": {api: (role, ...)}}]``.
    """
    import yaml

    from runner.plugins import load_plugins

    host = load_plugins()
    out = []
    for path in sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")]):
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            continue  # `soar validate` reports broken playbooks; this is only a role survey
        if not isinstance(doc, dict):
            continue
        targets = doc.get("tenants", "all")
        for name in sorted(set(_actions_in(doc.get("steps")))):
            action = host.actions.get(name)
            if action is not None and action.roles:
                out.append({"playbook": path.name, "tenants": targets, "action": name,
                            "roles": {k: tuple(v) for k, v in action.roles.items()},
                            "choice": action.api_choice})
    return out


def _actions_in(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("action"), str):
            yield node["action"]
        for value in node.values():
            if isinstance(value, (dict, list)):
                yield from _actions_in(value)
    elif isinstance(node, list):
        for item in node:
            yield from _actions_in(item)


async def _check_all(provider: Any, config: Any, needs: list[dict] | None) -> list[dict]:
    return list(await asyncio.gather(*(_check_one(provider, config, name, needs) for name in config.tenant_names())))


async def _check_one(provider: Any, config: Any, name: str, needs: list[dict] | None) -> dict:
    t = config.tenant(name)
    wanted: dict[str, list[dict]] = {}
    if needs is None:  # every API that takes tokens, and those soar.yaml names a secret for
        named = {*(getattr(config, "credentials", None) or {}), *(getattr(t, "credentials", None) or {})}
        wanted = {api: [] for api in provider.registry if provider.takes_tokens(api) or api in named}
    else:
        for need in needs:
            targets = need["tenants"]
            if isinstance(targets, list) and name not in targets:
                continue
            api = provider.choose_api(name, need["roles"], choice=need.get("choice"))
            wanted.setdefault(api, []).append(need)
    apis: dict[str, dict] = {}
    ok = True
    for api, group in wanted.items():
        if not provider.takes_tokens(api):
            entry = await _check_secret(provider, config, name, api, required=needs is not None)
            ok = ok and entry["ok"]
            apis[api] = entry
            continue
        entry = {"auth": "entra", "token": False, "roles": [], "missing": [], "error": None}
        try:
            tok = await provider.get_token(name, api)
        except SoarError as err:
            entry["error"] = err.message
            entry["hint"] = err.hint
            entry["unreachable"] = getattr(err, "unreachable", None)  # no answer at all: not consent
            ok = False
        else:
            entry["token"] = True
            entry["roles"] = list(tok.roles)
            for need in group:
                roles = need["roles"][api]
                if roles and not tok.has_role(*roles):
                    entry["missing"].append({"action": need["action"], "playbook": need["playbook"],
                                             "any_of": list(roles)})
            ok = ok and not entry["missing"]
        apis[api] = entry
    unreachable = any(e.get("unreachable") for e in apis.values())
    entra_ok = all(e["token"] and not e["missing"] for e in apis.values() if e["auth"] == "entra")
    return {"name": name, "tenant_id": t.id, "cloud": t.cloud, "ok": ok, "apis": apis,
            "unreachable": unreachable,
            # consent grants roles and admits the app: worth it only when Entra ID answered
            "consent_url": None if entra_ok or unreachable else provider.consent_url(name)}


async def _check_secret(provider: Any, config: Any, tenant: str, api: str, *, required: bool) -> dict:
    """An API that takes a secret (or nothing): which reference soar.yaml names for it and whether
    it resolves — never its value. A missing one fails the check only when a playbook needs the API."""
    from runner.apis.registry import auth_kind
    from runner.apis.secret_auth import secret_reference
    from runner.secrets import resolve

    spec = provider.registry[api]
    kind = auth_kind(spec)
    entry: dict[str, Any] = {"auth": kind, "token": False, "roles": [], "missing": [], "error": None,
                             "credential": None, "ok": True}
    if kind == "none":
        entry["token"] = True
        return entry
    try:
        ref, where = secret_reference(config, tenant, spec)
        entry["credential"] = f"{where} ({ref})"
        await asyncio.to_thread(resolve, ref, f"credentials.{api}")
    except SoarError as err:
        entry["error"], entry["hint"] = err.message, err.hint
        entry["ok"] = not required
    else:
        entry["token"] = True
    return entry


def _print_report(report: list[dict], with_needs: bool) -> None:
    from rich.markup import escape
    from rich.text import Text

    from runner.cli.tables import print_table

    rows = []
    for r in report:
        first = True
        for api, e in r["apis"].items():
            token_cell = _credential_cell(e)
            missing = "; ".join(dict.fromkeys(f"{' or '.join(m['any_of'])} ({m['action']})" for m in e["missing"]))
            roles = ", ".join(e["roles"]) or "-" if e.get("auth", "entra") == "entra" else "n/a"
            row = [r["name"] if first else "", r["cloud"] if first else "", api, token_cell, roles]
            if with_needs:
                row.append(Text(missing, style="red"))
            rows.append(row)
            first = False
    columns = ("tenant", "cloud", "api", "credential", "roles held") + (("missing",) if with_needs else ())
    out = console()
    print_table(out, columns, rows, ids=(0,))
    for r in report:
        if r["ok"]:
            continue
        name = escape(r["name"])
        for api, e in r["apis"].items():
            if e.get("auth", "entra") != "entra" and not e.get("ok", True):
                out.print(f"[yellow]{name}[/]: {escape(e['error'] or '')}")
                out.print(f"  [yellow]hint:[/] {escape(e.get('hint') or '')}")
        if not r.get("consent_url") and not r.get("unreachable"):
            continue
        if r.get("unreachable"):
            failed = next(e for e in r["apis"].values() if e.get("unreachable"))
            out.print(f"[yellow]{name}[/]: {escape(failed['error'])}")
            out.print(f"  [yellow]hint:[/] {escape(failed['hint'] or '')}")
            continue
        out.print(f"[yellow]{name}[/]: an admin of the tenant should (re)consent: {escape(r['consent_url'] or '')}")


def _credential_cell(e: dict) -> Any:
    """The credential column: a token (Entra ID), the secret reference in use, or nothing to send."""
    from rich.text import Text

    kind = e.get("auth", "entra")
    if kind == "none":
        return Text("none needed", style="dim")
    if e["token"]:
        return Text("token", style="green") if kind == "entra" else \
            Text.assemble((kind, "green"), f" {e.get('credential') or ''}")
    if kind == "entra":
        return Text.assemble(("no", "red"), " " + (e["error"] or ""))
    # the reason is printed under the table when a playbook needs the API
    return Text(f"{kind}: not set", style="red" if not e.get("ok", True) else "yellow")


__all__ = ["consent_url", "token", "tenants", "roles_needed"]
