"""The ``trigger`` of a run started from the command line (``soar run --payload``, ``soar events
replay``): the same shape ``soar serve`` gives a run it starts from a webhook, a poll or a
schedule, so a playbook reading ``trigger.payload`` can be tried before it is served."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from runner.errors import Location, UsageError

# `--trigger-type` -> the playbook's `on:` kinds soar serve starts runs of that type from
SERVED_BY = {"webhook": ("webhook",), "poll": ("poll",), "schedule": ("schedule", "every"), "manual": ()}


def read_payload(ref: str) -> Any:
    """The payload in file ``ref`` (``-``: standard input): JSON, or YAML for ``.yaml``/``.yml``
    files and for text that does not start like JSON. Held to the limits a webhook body is
    (nesting depth, integer size), so what runs here would be accepted by ``soar serve``."""
    if ref == "-":
        source, text = "<stdin>", sys.stdin.read()
    else:
        path = Path(ref)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise UsageError(f"--payload {ref}: no such file", hint="give a JSON or YAML file, or - for stdin") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"--payload {ref}: cannot read it ({exc})") from None
        source = ref
    if not text.strip():
        raise UsageError(f"--payload {source} is empty", hint="a webhook body is a JSON document, e.g. {\"id\": 1}")
    suffix = Path(source).suffix.lower()
    if suffix in (".yaml", ".yml") or (suffix != ".json" and text.lstrip()[:1] not in ("{", "[")):
        return _yaml(text, source)
    return _json(text, source)


def _json(text: str, source: str) -> Any:
    from runner.serve.webhooks import BadPayload, parse_json

    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"--payload is not valid JSON: {exc.msg}",
                         where=Location(file=source, line=exc.lineno, column=exc.colno),
                         hint="fix the JSON at that position (or give a .yaml file to write it as YAML)") from None
    try:
        return parse_json(text.encode("utf-8"))
    except BadPayload as exc:  # a limit soar serve holds webhook bodies to
        raise UsageError(f"--payload: {exc}", where=Location(file=source),
                         hint="soar serve would refuse this body (HTTP 400)") from None


def _yaml(text: str, source: str) -> Any:
    import yaml

    try:
        value = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Location(file=source, line=mark.line + 1, column=mark.column + 1) if mark else Location(file=source)
        raise UsageError(f"--payload is not valid YAML: {exc.problem or exc}", where=where,
                         hint="fix the YAML at that position") from None
    except yaml.YAMLError as exc:
        raise UsageError(f"--payload is not valid YAML: {exc}", where=Location(file=source)) from None
    # a webhook body is JSON: dates and other YAML-only values arrive as text
    return _json(json.dumps(value, default=str), source)


def trigger_for(playbook: Any, kind: str, payload: Any, *, tenant: str | None = None, has_payload: bool = True,
                now: datetime | None = None, on_warning: Any = None, since: str | None = None) -> dict:
    """``trigger`` for a run of ``playbook`` of type ``kind`` with ``payload``, as ``soar serve``
    builds it (type, event id, key, payload, received_at, since; a poll's tenant). Warns (on
    stderr, or through ``on_warning(message)``) when the playbook has no trigger of that kind, so
    ``soar serve`` would never start it that way. ``since``: a schedule's ``trigger.since`` (the
    start of the playbook's last succeeded run), when no payload is given."""
    say = on_warning or warn
    now = now or datetime.now(timezone.utc)
    if kind == "manual":
        if has_payload:
            say("a manual run gets no payload from soar serve (trigger.payload is null there); "
                 "giving it this one anyway")
        return {"type": "manual", "payload": payload}
    served = [t for t in playbook.on if t.kind in SERVED_BY[kind]]
    if not served:
        have = ", ".join(sorted({t.kind for t in playbook.on})) or "none (manual only)"
        say(f"playbook '{playbook.name}' has no {kind} trigger (its triggers: {have}), so soar serve "
             f"never starts it with trigger.type {kind}; running it that way anyway")
    if kind == "schedule" and payload is None:  # what a schedule's event carries
        payload = {"scheduled_for": now.isoformat(), "since": since}
    key = None
    if kind == "webhook" and served:
        from runner.serve.webhooks import hook_url_path

        key = hook_url_path(served[0].webhook.path)
    doc = {"type": kind, "event_id": None, "key": key, "payload": payload, "received_at": now.isoformat(),
           "since": payload.get("since") if isinstance(payload, dict) else None}
    if kind == "schedule":
        doc["scheduled_for"] = payload.get("scheduled_for") if isinstance(payload, dict) else None
    if kind == "poll" and tenant is not None:
        doc["tenant"] = tenant
    return doc


def warn(message: str) -> None:
    """A warning on stderr (the run goes on)."""
    from runner.cli.common import console

    console(stderr=True).print(f"[yellow]warning:[/] {_escape(message)}")


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)
