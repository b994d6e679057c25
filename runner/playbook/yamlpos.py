"""YAML → plain Python values, keeping the 1-based (line, column) of every node.

Why not ``yaml.safe_load``: it forgets where things were, silently keeps the last of two
duplicate keys, expands aliases without limit ("billion laughs"), and reads ``on:``/``yes``/
``no`` as booleans (YAML 1.1), which breaks the ``on:`` trigger key. Why not ``yaml.compose``:
its composer is recursive — the pure-Python one raises ``RecursionError`` at ~1,000 nesting
levels and libyaml's crashes the process at ~100,000. So this module composes the node tree
itself from the parser's event stream (libyaml when available, iteratively, depth-capped),
then constructs values from the nodes.

Scalars follow the YAML 1.2 core schema: only ``true``/``false`` are booleans, ``on``/``yes``/
``no``/``off`` are strings, ``0755`` is the integer 755, dates and times stay strings, and
``1:30`` is a string (not sexagesimal 90). Merge keys (``<<: *defaults``) are supported.

:func:`parse_yaml` returns ``(value, positions, value_positions)`` where the position maps go
from a path tuple (mapping keys and list indexes, e.g. ``("steps", 1, "with", "machine_id")``)
to ``(line, column)``. For a mapping entry, ``positions`` holds where the *key* is (what a
user looks for) and ``value_positions`` where the value starts. Errors are
:class:`~runner.errors.PlaybookSyntaxError` with the file, line and column.
"""

from __future__ import annotations

import gc
import math
import re
from typing import Any

import yaml
from yaml.events import (AliasEvent, MappingEndEvent, MappingStartEvent,
                         ScalarEvent, SequenceEndEvent, SequenceStartEvent, StreamEndEvent)

from runner.errors import Location, PlaybookSyntaxError

MAX_DEPTH = 64  # nesting levels; a playbook needs ~10
MAX_ALIAS_NODES = 100_000  # nodes produced by expanding aliases (billion-laughs guard)

_FastLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_TAG = "tag:yaml.org,2002:"
_NULL = frozenset({"", "~", "null", "Null", "NULL"})
_TRUE = frozenset({"true", "True", "TRUE"})
_FALSE = frozenset({"false", "False", "FALSE"})
_INT = re.compile(r"^[-+]?[0-9]+$")
_OCT = re.compile(r"^0o[0-7]+$")
_HEX = re.compile(r"^0x[0-9a-fA-F]+$")
_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")
_INF = re.compile(r"^[-+]?\.(?:inf|Inf|INF)$")
_NAN = re.compile(r"^\.(?:nan|NaN|NAN)$")
# First characters of plain scalars that may be something other than a string.
_SPECIAL_FIRST = frozenset("0123456789+-.~nNtTfF<") | {""}

Positions = dict[tuple, tuple[int, int]]

# Nodes are plain tuples/lists (much cheaper than yaml.nodes objects on big files):
#   scalar   (SCALAR, value, line, col)      value already constructed; _MERGE for a `<<` key
#   sequence [SEQ, [node, ...], line, col, size, height]
#   mapping  [MAP, [(key node, value node), ...], line, col, size, height]
# ``size`` counts the values the node expands to (aliases included) and ``height`` its
# nesting, so the alias and depth limits are enforced while composing and the value
# builder can recurse without checks.
SCALAR, SEQ, MAP = 0, 1, 2
_MERGE = object()


def parse_yaml(text: str, source: str | None = None) -> tuple[Any, Positions, Positions]:
    """Parse one YAML document. Returns ``(value, positions, value_positions)``.

    Raises :class:`PlaybookSyntaxError` for malformed YAML, duplicate keys, several
    documents, unsupported tags, or aliases that expand too far. An empty document is ``None``."""
    with _no_gc():
        root = _compose(text, source)
        if root is None:
            return None, {}, {}
        builder = _Builder(source)
        return builder.build(root, ()), builder.positions, builder.value_positions


def parse_mapping(text: str, source: str | None = None, what: str = "a playbook") -> tuple[dict, Positions, Positions]:
    """Like :func:`parse_yaml` but the document must be a mapping (an empty file is an error)."""
    with _no_gc():
        root = _compose(text, source)
        if root is None:
            raise PlaybookSyntaxError(
                "the file is empty", where=Location(file=source, line=1, column=1),
                hint=f"{what} is a mapping with at least `name:` and `steps:`")
        if root[0] != MAP:
            kind = "a list" if root[0] == SEQ else f"a single value ({root[1]!r:.40})"
            raise PlaybookSyntaxError(
                f"{what} must be a mapping of keys (name:, steps:, ...), found {kind}",
                where=Location(file=source, line=root[2], column=root[3]),
                hint="start the file with `name: my-playbook` (no leading `-`)")
        builder = _Builder(source)
        builder.positions[()] = builder.value_positions[()] = (root[2], root[3])
        return builder.build(root, ()), builder.positions, builder.value_positions


class _no_gc:
    """Pause the cyclic GC: building ~10^5 long-lived objects otherwise triggers it over and
    over for nothing (it tripled the time of a 10,000-step playbook)."""

    def __enter__(self) -> None:
        self.was_enabled = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc: Any) -> None:
        if self.was_enabled:
            gc.enable()


def _loc(source: str | None, mark: Any) -> Location:
    return Location(file=source, line=mark.line + 1, column=mark.column + 1)


def _at(source: str | None, node: Any) -> Location:
    return Location(file=source, line=node[2], column=node[3])


# ---- events → nodes (iterative, depth-capped) ---------------------------------------------

def _compose(text: str, source: str | None) -> Any:
    """The single document's root node, or ``None`` for an empty stream."""
    if not isinstance(text, str):
        raise TypeError("parse_yaml() takes text (str)")
    try:
        loader = _FastLoader(text)
    except yaml.YAMLError as exc:
        raise _syntax_error(exc, text, source) from None
    try:
        return _compose_events(loader, source)
    except yaml.YAMLError as exc:
        raise _syntax_error(_precise_error(text) or exc, text, source) from None
    finally:
        loader.dispose()


def _compose_events(loader: Any, source: str | None) -> Any:
    get_event = loader.get_event
    get_event()  # StreamStart
    if loader.check_event(StreamEndEvent):
        return None
    get_event()  # DocumentStart
    anchors: dict[str, Any] = {}
    expanded = 0  # values added by aliases
    stack: list[list] = []  # [node, anchor, pending key node | None]
    while True:
        event = get_event()
        cls = type(event)
        if cls is ScalarEvent:
            mark = event.start_mark
            value = event.value
            tag = event.tag
            if tag is not None and tag != "!":
                value = _scalar(event, source)
            elif not event.style and event.implicit[0] and value[:1] in _SPECIAL_FIRST:
                value = _scalar(event, source)  # a plain scalar that may be a number, bool, null
            node = (SCALAR, value, mark.line + 1, mark.column + 1)
            if event.anchor is not None:
                anchors[event.anchor] = node
            size = height = 0
        elif cls is AliasEvent:
            node = anchors.get(event.anchor)
            if node is None:
                raise PlaybookSyntaxError(
                    f"alias *{event.anchor} refers to no anchor", where=_loc(source, event.start_mark),
                    hint=f"define `&{event.anchor}` on a complete value before `*{event.anchor}` "
                         "(an alias cannot point into the value that contains it)")
            size, height = (1, 0) if node[0] == SCALAR else (node[4], node[5])
            expanded += size
            if expanded > MAX_ALIAS_NODES:
                raise PlaybookSyntaxError(
                    f"YAML aliases expand to more than {MAX_ALIAS_NODES:,} values", where=_loc(source, event.start_mark),
                    hint="this looks like a 'billion laughs' document; use fewer nested aliases")
            if len(stack) + height > MAX_DEPTH:
                raise _too_deep(source, event.start_mark)
            size -= 1  # the alias itself is counted below like any node
        elif cls is SequenceStartEvent or cls is MappingStartEvent:
            kind = SEQ if cls is SequenceStartEvent else MAP
            if event.tag not in (None, "!", _TAG + ("seq" if kind == SEQ else "map")):
                raise _tag_error(event.tag, event.start_mark, source)
            if len(stack) >= MAX_DEPTH:
                raise _too_deep(source, event.start_mark)
            mark = event.start_mark
            node = [kind, [], mark.line + 1, mark.column + 1, 1, 1]
            if stack:
                _attach(stack[-1], node)
            # registered once complete, so an alias can never point into its own value
            stack.append([node, event.anchor, None])
            continue
        elif cls is SequenceEndEvent or cls is MappingEndEvent:
            node, anchor, _ = stack.pop()
            if anchor is not None:
                anchors[anchor] = node
            if not stack:
                break
            parent = stack[-1][0]
            parent[4] += node[4]
            if node[5] >= parent[5]:
                parent[5] = node[5] + 1
            continue
        else:  # pragma: no cover - the parser guarantees the grammar
            raise PlaybookSyntaxError(f"unexpected YAML event {cls.__name__}", where=_loc(source, event.start_mark))
        if not stack:
            break
        top = stack[-1]
        parent = top[0]
        parent[4] += size + 1
        if height >= parent[5]:
            parent[5] = height + 1
        if parent[0] == SEQ:
            parent[1].append(node)
        elif top[2] is None:
            top[2] = node
        else:
            parent[1].append((top[2], node))
            top[2] = None
    get_event()  # DocumentEnd
    if not loader.check_event(StreamEndEvent):
        event = loader.peek_event()
        raise PlaybookSyntaxError(
            "the file holds more than one YAML document", where=_loc(source, event.start_mark),
            hint="a playbook file is one document: remove the second `---` (or split the file)")
    return node


def _attach(top: list, node: Any) -> None:
    parent = top[0]
    if parent[0] == SEQ:
        parent[1].append(node)
    elif top[2] is None:
        top[2] = node
    else:
        parent[1].append((top[2], node))
        top[2] = None


def _too_deep(source: str | None, mark: Any) -> PlaybookSyntaxError:
    return PlaybookSyntaxError(f"nesting deeper than {MAX_DEPTH} levels", where=_loc(source, mark),
                               hint="a playbook needs far fewer levels; check for runaway brackets or aliases")


def _scalar(event: ScalarEvent, source: str | None) -> Any:
    tag, text = event.tag, event.value
    if tag is None or tag == "!":
        if event.style or not event.implicit[0]:
            return text  # quoted: always a string
        tag = _plain_tag(text)
        if tag is None:
            return text
    elif tag == _TAG + "str":
        return text
    try:
        if tag == _TAG + "null":
            if text not in _NULL:
                raise ValueError
            return None
        if tag == _TAG + "bool":
            if text in _TRUE or text in _FALSE:
                return text in _TRUE
            raise ValueError
        if tag == _TAG + "int":
            t = text.replace("_", "")
            if _OCT.match(t):
                return int(t[2:], 8)
            if _HEX.match(t):
                return int(t[2:], 16)
            return int(t)
        if tag == _TAG + "float":
            if _INF.match(text):
                return -math.inf if text.startswith("-") else math.inf
            if _NAN.match(text):
                return math.nan
            return float(text)
        if tag == "merge":
            return _MERGE
    except ValueError:
        raise PlaybookSyntaxError(f"{text!r} is not a valid {_show_tag(tag)} value", where=_loc(source, event.start_mark),
                                  hint="remove the tag or fix the value") from None
    raise _tag_error(tag, event.start_mark, source)


def _plain_tag(text: str) -> str | None:
    """The YAML 1.2 core-schema type of a plain scalar (``None``: a string)."""
    if not text or len(text) > 40:
        return _TAG + "null" if not text else None
    c = text[0]
    if c in "0123456789+-.":
        if _INT.match(text) or _OCT.match(text) or _HEX.match(text):
            return _TAG + "int"
        if _FLOAT.match(text) or _INF.match(text) or _NAN.match(text):
            return _TAG + "float"
        return None
    if text in _NULL:
        return _TAG + "null"
    if text in _TRUE or text in _FALSE:
        return _TAG + "bool"
    if text == "<<":
        return "merge"
    return None


def _show_tag(tag: str) -> str:
    return "!!" + tag[len(_TAG):] if tag.startswith(_TAG) else tag


def _tag_error(tag: str, mark: Any, source: str | None) -> PlaybookSyntaxError:
    return PlaybookSyntaxError(
        f"unsupported YAML tag {_show_tag(tag)}", where=_loc(source, mark),
        hint="playbooks use plain YAML values only; remove the tag (quote the value if it must be text)")


# ---- YAML errors → located PlaybookSyntaxError ------------------------------------------------

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


def _precise_error(text: str) -> yaml.YAMLError | None:
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


def _syntax_error(exc: Exception, text: str, source: str | None) -> PlaybookSyntaxError:
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
        where = _loc(source, mark) if mark else Location(file=source)
        return PlaybookSyntaxError(message, where=where, hint=hint)
    return PlaybookSyntaxError(f"invalid YAML: {exc}", where=Location(file=source),
                               hint="check the YAML syntax")


# ---- nodes → values ------------------------------------------------------------------------------

class _Builder:
    def __init__(self, source: str | None):
        self.source = source
        self.positions: Positions = {}
        self.value_positions: Positions = {}

    def build(self, node: Any, path: tuple) -> Any:
        kind = node[0]
        if kind == SCALAR:
            if node[1] is _MERGE:
                raise PlaybookSyntaxError("`<<` (merge) is only allowed as a mapping key", where=_at(self.source, node),
                                          hint="quote it if you mean the text '<<'")
            return node[1]
        positions, value_positions = self.positions, self.value_positions
        if kind == SEQ:
            out = []
            for i, item in enumerate(node[1]):
                p = path + (i,)
                positions[p] = value_positions[p] = (item[2], item[3])
                out.append(item[1] if item[0] == SCALAR and item[1] is not _MERGE else self.build(item, p))
            return out
        entries = self.entries(node)
        result: dict = {}
        for key, key_node, value_node in entries:
            p = path + (key,)
            positions[p] = (key_node[2], key_node[3])
            value_positions[p] = (value_node[2], value_node[3])
            if value_node[0] == SCALAR and value_node[1] is not _MERGE:
                result[key] = value_node[1]
            else:
                result[key] = self.build(value_node, p)
        return result

    def entries(self, node: list) -> list[tuple[Any, Any, Any]]:
        """``(key, key node, value node)`` of a mapping: duplicates rejected, merges applied."""
        own: list[tuple[Any, Any, Any]] = []
        first: dict = {}
        merged: list[tuple[Any, Any, Any]] = []
        for key_node, value_node in node[1]:
            if key_node[0] != SCALAR:
                raise PlaybookSyntaxError(
                    "a mapping key must be a plain value (text or number), not a list or mapping",
                    where=_at(self.source, key_node), hint="write `key: value`")
            key = key_node[1]
            if key is _MERGE:
                merged.extend(self.merge_sources(value_node))
                continue
            if key in first:
                raise PlaybookSyntaxError(
                    f"duplicate key '{key}' (first defined on line {first[key][2]})", where=_at(self.source, key_node),
                    hint="YAML would silently keep only the last one; remove or rename one of them")
            first[key] = key_node
            own.append((key, key_node, value_node))
        if merged:  # merged entries first (earlier sources win); the mapping's own keys override
            taken = set(first)
            entries = []
            for entry in merged:
                if entry[0] not in taken:
                    taken.add(entry[0])
                    entries.append(entry)
            own = entries + own
        return own

    def merge_sources(self, value_node: Any) -> list[tuple[Any, Any, Any]]:
        sources = value_node[1] if value_node[0] == SEQ else [value_node]
        out: list[tuple[Any, Any, Any]] = []
        for src in sources:
            if src[0] != MAP:
                raise PlaybookSyntaxError("`<<` merges mappings only", where=_at(self.source, src),
                                          hint="write `<<: *anchor` where the anchor is on a mapping")
            for k, v in src[1]:
                if k[0] != SCALAR or k[1] is _MERGE:
                    raise PlaybookSyntaxError("a merged mapping must have plain keys and no `<<` of its own",
                                              where=_at(self.source, k))
                out.append((k[1], k, v))
        return out
