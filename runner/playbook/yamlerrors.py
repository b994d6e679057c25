"""YAML errors → :class:`~runner.errors.PlaybookSyntaxError` located at the file, line and
column, with a hint in plain words (the parser's own messages are jargon)."""

from __future__ import annotations

from typing import Any

import yaml

from runner.errors import Location, PlaybookSyntaxError


MAX_DEPTH = 64  # nesting levels; a playbook needs ~10


def loc(source: str | None, mark: Any) -> Location:
    return Location(file=source, line=mark.line + 1, column=mark.column + 1)


def depth_capped(exc: Exception) -> bool:
    """PyYAML >= 6.0.3 caps flow nesting in its scanner, before our own count (yamlbuild)."""
    return "maximum nesting depth" in str(getattr(exc, "problem", None) or "")


def too_deep(source: str | None, mark: Any) -> PlaybookSyntaxError:
    where = loc(source, mark) if mark is not None else Location(file=source)
    return PlaybookSyntaxError(f"nesting deeper than {MAX_DEPTH} levels", where=where,
                               hint="a playbook needs far fewer levels; check for runaway brackets or aliases")


_HINTS = (
    ("'\\t'", "YAML does not allow tabs for indentation; indent with spaces"),
    ("cannot start any token", "this character cannot start a value; quote the value"),
    ("while scanning a quoted scalar", "close the quote that was opened at {ctx}"),
    ("while parsing a flow sequence", "close the `[` opened at {ctx}, or separate items with `,`"),
    ("while parsing a flow mapping", "close the `{{` opened at {ctx}, or separate entries with `,`"),
    ("mapping values are not allowed", "quote a value that contains ': ', or put the key on its own line"),
    ("while parsing a block mapping", "keys of one mapping must line up; check the indentation of this "
                                      "line against the mapping that starts at {ctx}"),
    ("while parsing a block collection", "items of one list must line up; check the indentation"),
    ("could not find expected ':'", "a key needs a colon: `key: value`; check the previous line too"),
    ("while scanning a simple key", "a key needs a colon: `key: value`; check the previous line too"),
    ("while scanning an alias", "an alias is `*name` with letters, digits, '-' or '_'"),
    ("while scanning an anchor", "an anchor is `&name` with letters, digits, '-' or '_'"),
)


def precise_error(text: str) -> yaml.YAMLError | None:
    """The pure-Python parser's error for ``text`` (libyaml's messages are vaguer), if any."""
    try:
        loader = yaml.SafeLoader(text)
    except yaml.YAMLError as exc:
        return exc
    try:
        while loader.check_event():
            loader.get_event()
    except yaml.YAMLError as exc:
        return exc
    finally:
        loader.dispose()
    return None


def syntax_error(exc: Exception, text: str, source: str | None) -> PlaybookSyntaxError:
    if isinstance(exc, yaml.reader.ReaderError):
        pos = max(0, min(exc.position, len(text)))
        line = text.count("\n", 0, pos) + 1
        col = pos - (text.rfind("\n", 0, pos) + 1) + 1
        return PlaybookSyntaxError(
            f"character #x{exc.character:04x} is not allowed in YAML ({exc.reason})",
            where=Location(file=source, line=line, column=col),
            hint="remove the control character; save the file as UTF-8 text")
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        if depth_capped(exc):
            return too_deep(source, exc.context_mark or mark)
        early = _ended_early(exc, text, source)
        if early is not None:
            return early
        ctx_mark = exc.context_mark
        ctx = f"line {ctx_mark.line + 1}, column {ctx_mark.column + 1}" if ctx_mark else "the start"
        problem = (exc.problem or "invalid YAML").replace("\t", "\\t")
        if "expected <block end>" in problem:  # the parser's jargon for a misaligned line
            problem = "bad indentation: this line does not line up with the lines above it"
        message = f"invalid YAML: {problem}"
        if exc.context:
            message += f" ({exc.context}" + (f" started at {ctx})" if ctx_mark else ")")
        hint = "check the YAML around this position: indentation (spaces), quotes and brackets"
        key = f"{exc.context or ''} {exc.problem or ''}"
        for needle, text_hint in _HINTS:
            if needle in key or needle in repr(exc.problem):
                hint = text_hint.format(ctx=ctx)
                break
        where = loc(source, mark) if mark else Location(file=source)
        return PlaybookSyntaxError(message, where=where, hint=hint)
    return PlaybookSyntaxError(f"invalid YAML: {exc}", where=Location(file=source),
                               hint="check the YAML syntax")


def _ended_early(exc: yaml.MarkedYAMLError, text: str, source: str | None) -> PlaybookSyntaxError | None:
    """A quote inside a quoted value ends it early: ``message: "Isolate ${{ inputs["x"] }}"``
    reads as the value ``"Isolate ${{ inputs["`` followed by stray text, which the parser reports
    as a misaligned block ("expected <block end>, but found ..."). Recognised when the text the
    parser stumbled on comes right after a quote that closes a value opened on the same line."""
    mark = exc.problem_mark
    problem = exc.problem or ""
    if mark is None or ("but found" not in problem and "but got" not in problem):
        return None
    lines = text.splitlines()
    if mark.line >= len(lines):
        return None
    line = lines[mark.line]
    end = min(mark.column, len(line)) - 1
    while end >= 0 and line[end] in " \t":
        end -= 1
    if end < 1 or line[end] not in "\"'":
        return None
    quote = line[end]
    start = _value_quote(line, end, quote)
    if start is None:
        return None
    rest = line[mark.column:].rstrip()
    shown = rest if len(rest) <= 40 else rest[:37] + "..."
    opened = f"line {mark.line + 1}, column {start + 1}"
    if quote == '"':
        message = (f"invalid YAML: a `\"` ends the quoted value opened at {opened} early, so "
                   f"`{shown}` after it is not part of the value")
        hint = ("inside a \"...\" value, write quotes as ' (inputs['x']) or \\\"; or quote the whole value "
                "with single quotes ('... inputs[\"x\"] ...'), or write it as a block scalar "
                "(`key: >-` with the text on the next line, indented)")
    else:
        message = (f"invalid YAML: a `'` ends the quoted value opened at {opened} early, so "
                   f"`{shown}` after it is not part of the value")
        hint = ("inside a '...' value, write a single quote twice (''); or quote the whole value with "
                "double quotes, or write it as a block scalar (`key: >-` with the text on the next line, indented)")
    where = Location(file=source, line=mark.line + 1, column=end + 1)
    return PlaybookSyntaxError(message, where=where, hint=hint)


def _value_quote(line: str, end: int, quote: str) -> int | None:
    """Where the quoted value closed at ``line[end]`` was opened: the first ``quote`` before it
    that starts a value (after a key's colon, a list dash, a bracket or a comma)."""
    for i in range(end):
        if line[i] != quote:
            continue
        before = line[:i].rstrip()
        if not before or before[-1] in ":-[{,":
            return i
        return None  # the first quote on the line does not open a value: not this mistake
    return None
