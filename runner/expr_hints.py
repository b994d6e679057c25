"""Hints for expression errors that come from the run, not from the text: an expression that
reads inside ``steps.<id>.output`` when that output is ``null`` because the step was skipped,
failed, or ran an action that gives no output; or inside ``tenant`` in a run without one.
"Check the name" would point the wrong way: the name is right, the value is null.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

# steps.<id>.output followed by an attribute or an index: a read inside the output
_READ_INSIDE_OUTPUT = re.compile(
    r"\bsteps\s*(?:\.\s*([A-Za-z_][\w-]*)|\[\s*['\"]([^'\"]+)['\"]\s*\])\s*(?:\.\s*output|\[\s*['\"]output['\"]\s*\])"
    r"\s*[.\[]")


_READ_INSIDE_TENANT = re.compile(r"(?<![\w.])tenant\s*[.\[]")


def null_value_hint(text: str, ctx: Mapping[str, Any]) -> str | None:
    """Why a step that ``text`` reads inside has no output (or why ``tenant`` is null), or
    ``None`` if nothing it reads inside is ``null`` (then the error is about something else)."""
    if not isinstance(ctx, Mapping):
        return None
    if ctx.get("tenant", "") is None and _READ_INSIDE_TENANT.search(text):
        return ("`tenant` is null: this run acts on no tenant (`tenants: none`, no tenant configured, or an "
                "after_tenants step, which reads every tenant as ${{ tenants }})")
    steps = ctx.get("steps")
    if not isinstance(steps, Mapping):
        return None
    for m in _READ_INSIDE_OUTPUT.finditer(text):
        sid = m.group(1) or m.group(2)
        entry = steps.get(sid)
        if isinstance(entry, Mapping) and entry.get("output") is None:
            return _why(sid, entry)
    return None


def _why(sid: str, entry: Mapping[str, Any]) -> str:
    status = entry.get("status")
    note = entry.get("note")
    guard = (f"check `steps.{sid}.status` first, or give a default: "
             f"`steps.{sid}.output.x if steps.{sid}.output else ...`")
    if status == "skipped":
        why = f" ({note})" if note else ""
        return f"step '{sid}' was skipped{why} and has no output; {guard}"
    if status == "failed":
        return f"step '{sid}' failed and has no output (its error is `steps.{sid}.error`); {guard}"
    return f"step '{sid}' ran, but its action gives no output (null); read its status instead"
