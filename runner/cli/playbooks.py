"""``soar validate`` and ``soar schema``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from runner.cli.common import console, handle_errors, print_json, startup_gc


def _expand(paths: tuple[str, ...]) -> list[Path]:
    out = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            out.extend(sorted([*path.glob("*.yaml"), *path.glob("*.yml")]))
        else:
            out.append(path)
    return out


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print the problems as JSON.")
@handle_errors
def validate(paths, as_json):
    """Check playbooks (files or directories) without running them. Exit 2 if any is invalid."""
    with startup_gc():  # imports and plugin loading: no collections (see startup_gc)
        from rich.markup import escape

        from runner.errors import PlaybookError, PlaybookErrors
        from runner.playbook.loader import PlaybookLoader
        from runner.plugins import load_plugins

        loader = PlaybookLoader(load_plugins())
    report, bad = [], 0
    out = console()
    err = console(stderr=True)
    for path in _expand(paths):
        try:
            pb = loader.load(str(path))
        except PlaybookErrors as exc:
            problems = exc.errors
        except PlaybookError as exc:
            problems = [exc]
        else:
            report.append({"path": str(path), "valid": True, "name": pb.name, "problems": []})
            if not as_json:
                out.print(f"[green]ok[/]   {escape(str(path))} ({pb.name}, {sum(1 for _ in pb.all_steps())} steps)")
            continue
        bad += 1
        report.append({"path": str(path), "valid": False, "problems": [p.to_dict() for p in problems]})
        if not as_json:
            for p in problems:
                head, _, hint = str(p).partition("\n  hint: ")
                err.print(f"[red]error[/] {escape(head)}")
                if hint:
                    err.print(f"      [yellow]hint:[/] {escape(hint)}")
    if as_json:
        print_json(report)
    sys.exit(2 if bad else 0)


@click.command()
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write to a file instead of stdout.")
@handle_errors
def schema(output):
    """Print the playbook JSON Schema (for VS Code YAML: `# yaml-language-server: $schema=...`)."""
    import json

    from runner.playbook.schema import playbook_json_schema
    from runner.plugins import load_plugins

    doc = playbook_json_schema(load_plugins())
    text = json.dumps(doc, indent=2)
    if output:
        Path(output).write_text(text + "\n")
        console(stderr=True).print(f"wrote {output}")
    else:
        click.echo(text)
