"""``soar validate``, ``soar schema`` and ``soar playbooks list``."""

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


@click.group()
def playbooks():
    """The playbooks of a directory and what starts them."""


@playbooks.command("list")
@click.argument("directory", default="playbooks", type=click.Path(file_okay=False))
@click.option("--next", "count", type=click.IntRange(min=1, max=100), default=3, show_default=True,
              help="How many next fire times to show per schedule.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@handle_errors
def list_playbooks(directory, count, as_json):
    """Each playbook of DIRECTORY (default ./playbooks) with its triggers, as `soar serve` would
    serve them: schedules (cron or interval) with their next fire times in UTC and local time,
    webhook paths, poll sources and intervals. Exit 2 if a file is not a valid playbook."""
    from runner.errors import PlaybookError, PlaybookErrors, UsageError

    if not Path(directory).is_dir():
        raise UsageError(f"playbook directory '{directory}' does not exist",
                         hint="`soar playbooks list DIR` takes a directory of playbook YAML files")
    with startup_gc():
        from runner.playbook.loader import PlaybookLoader
        from runner.plugins import load_plugins
        from runner.serve.catalog import describe_triggers
        from runner.serve.scheduler import next_fire_times

        loader = PlaybookLoader(load_plugins())
    docs, bad = [], 0
    err = console(stderr=True)
    for path in _expand((directory,)):
        try:
            pb = loader.load(str(path))
        except (PlaybookErrors, PlaybookError) as exc:
            bad += 1
            problems = exc.errors if isinstance(exc, PlaybookErrors) else [exc]
            docs.append({"path": str(path), "valid": False, "problems": [p.to_dict() for p in problems]})
            if not as_json:
                from rich.markup import escape

                for problem in problems:
                    err.print(f"[red]error[/] {escape(str(problem).partition(chr(10))[0])}")
            continue
        triggers = []
        for trigger in describe_triggers(pb):
            job = trigger.pop("job", None)
            if job is not None:
                trigger["next"] = [_when(t) for t in next_fire_times(job, count)]
            triggers.append(trigger)
        docs.append({"path": str(path), "valid": True, "name": pb.name, "triggers": triggers})
    if as_json:
        print_json({"directory": directory, "playbooks": docs})
    else:
        out = console()
        for doc in docs:
            if doc["valid"]:
                _print_playbook(out, doc)
    sys.exit(2 if bad else 0)


def _when(moment) -> dict:
    return {"utc": moment, "local": moment.astimezone()}  # datetimes: --json prints them as ISO 8601


def _print_playbook(out, doc: dict) -> None:
    from runner.durations import format_duration

    def line(text: str) -> None:
        out.out(text, highlight=False)  # plain text: never wrapped, cut or read as markup

    line(f"{doc['name']}  {doc['path']}")
    if not doc["triggers"]:
        line("  manual only (soar run)")
    for t in doc["triggers"]:
        if t["kind"] in ("schedule", "every"):
            what = f"cron \"{t['cron']}\" ({t['timezone']})" if t["cron"] else f"every {format_duration(t['every'])}"
            note = "" if t["cron"] else " (first one: as if soar serve started now)"
            line(f"  schedule  {what}, next{note}:")
            for when in t["next"]:
                utc, local = when["utc"], when["local"]
                line(f"    {utc:%Y-%m-%d %H:%M:%S} UTC   {local:%Y-%m-%d %H:%M:%S %Z} local")
        elif t["kind"] == "webhook":
            auth = " and ".join(f"{k} {t[k]}" for k in ("secret", "token") if t[k]) or "no secret or token"
            dedup = (f"dedup on {t['dedup_key']} for {format_duration(t['dedup_window'])}"
                     if t["dedup_key"] and t["dedup_window"] else "no dedup")
            line(f"  webhook   POST {t['path']}  ({auth}; {dedup})")
        elif t["kind"] == "poll":
            extra = f"  filter: {t['filter']}" if t["filter"] else ""
            line(f"  poll      {t['source']} every {format_duration(t['every'])}, "
                 f"{'one run per poll' if t['batch'] else 'one run per item'}{extra}")
