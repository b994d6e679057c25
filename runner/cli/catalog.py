"""``soar actions list|show`` and ``soar plugins list``."""

from __future__ import annotations

import json

import click

from runner.cli.common import console, handle_errors, print_json


@click.group()
def actions():
    """List and describe the installed actions."""


@actions.command("list")
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def list_actions(as_json):
    """Every installed action with its effect and summary."""
    from rich.text import Text

    from runner.cli.tables import print_table
    from runner.plugins import load_plugins

    host = load_plugins()
    if as_json:
        print_json([{"name": a.name, "effect": a.effect, "summary": a.summary, "plugin": a.plugin}
                    for a in host.actions])
        return
    rows = [(a.name, Text(a.effect, style={"destructive": "red", "write": "yellow"}.get(a.effect, "")), a.summary)
            for a in host.actions]
    print_table(console(), ("action", "effect", "summary"), rows, ids=(0,))


@actions.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def show_action(name, as_json):
    """An action's metadata: inputs, output, effect, roles, quota, undo."""
    import difflib

    from runner.errors import UsageError
    from runner.plugins import load_plugins

    from runner.actions import type_label

    host = load_plugins()
    action = host.actions.get(name)
    if action is None:
        close = difflib.get_close_matches(name, host.actions.names(), n=3)
        raise UsageError(f"unknown action '{name}'",
                         hint=(f"did you mean {', '.join(close)}? " if close else "") + "`soar actions list`")
    meta = action.metadata()
    if as_json:
        print_json(meta)
        return
    out = console()
    out.print(f"[bold]{meta['name']}[/] — {meta['summary']}  (plugin {meta['plugin']})")
    if meta["description"]:
        out.print(meta["description"])
    out.print(f"effect: {meta['effect']}   quota: {meta['quota'] or '-'}   undo: {meta['undo'] or '-'}"
              f"   needs tenant: {meta['needs_tenant']}   reconciles after crash: {meta['reconciles']}")
    for api, roles in meta["roles"].items():
        out.print(f"roles ({api}): any of {', '.join(roles)}")
    props = meta["inputs"].get("properties", {})
    required = set(meta["inputs"].get("required", []))
    if props:
        out.print("[bold]inputs[/]:")
        for key, schema in props.items():
            kind = type_label(schema)
            extra = " (required)" if key in required else (f" = {json.dumps(schema['default'])}" if "default" in schema else "")
            out.print(f"  {key}: {kind}{extra}  {schema.get('description', '')}")
    elif meta["inputs"].get("additionalProperties", True):
        out.print("[bold]inputs[/]: any mapping")
    if meta["output"]:
        out.print("[bold]output[/]: " + ", ".join(meta["output"].get("properties", {})))


def catalogue_markdown(host) -> str:
    """docs/actions.md, rendered from the actions' own metadata (a test keeps the file current)."""
    from runner.actions import type_label

    lines = ["# Action catalogue", "",
             "Generated from the actions' metadata by `soar actions docs > docs/actions.md`; "
             "do not edit by hand.", ""]
    for a in host.actions:
        meta = a.metadata()
        lines += [f"## `{meta['name']}`", "", meta["summary"] + ".", ""]
        if meta["description"]:
            lines += [meta["description"].strip(), ""]
        lines.append(f"- plugin: `{meta['plugin']}`; effect: **{meta['effect']}**; quota: "
                     f"{meta['quota'] or '-'}; undo: {('`' + meta['undo'] + '`') if meta['undo'] else '-'}; "
                     f"needs a tenant: {'yes' if meta['needs_tenant'] else 'no'}; "
                     f"reconciles after a crash: {'yes' if meta['reconciles'] else 'no'}")
        for api, roles in meta["roles"].items():
            lines.append(f"- roles ({api}): any of {', '.join('`' + r + '`' for r in roles)}")
        props = meta["inputs"].get("properties", {})
        required = set(meta["inputs"].get("required", []))
        if props:
            lines += ["", "| input | type | default | description |", "|---|---|---|---|"]
            for key, schema in props.items():
                kind = type_label(schema, " \\| ")
                default = "required" if key in required else json.dumps(schema.get("default"))
                lines.append(f"| `{key}` | {kind} | {default} | {schema.get('description', '')} |")
        else:
            lines += ["", "Inputs: any mapping."]
        if meta["output"]:
            lines += ["", "Output: " + ", ".join(f"`{k}`" for k in meta["output"].get("properties", {}))]
        lines.append("")
    return "\n".join(lines)


@actions.command("docs")
@handle_errors
def docs_actions():
    """Print the action catalogue as Markdown (docs/actions.md)."""
    from runner.plugins import load_plugins

    click.echo(catalogue_markdown(load_plugins()), nl=False)


@click.group()
def plugins():
    """Installed plugins."""


@plugins.command("list")
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def list_plugins(as_json):
    """Every plugin (built-in and installed) with its package, version and actions."""
    from runner.cli.tables import print_table
    from runner.plugins import load_plugins

    rows = load_plugins().plugins()
    if as_json:
        print_json(rows)
        return
    print_table(console(), ("plugin", "package", "version", "actions"),
                [(p["name"], p["package"], p["version"], str(len(p["actions"]))) for p in rows], ids=(0, 1))
