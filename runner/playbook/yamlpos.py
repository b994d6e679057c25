"""YAML → plain Python values, keeping the 1-based (line, column) of every node.

Why not ``yaml.safe_load``: it forgets where things were, silently keeps the last of two
duplicate keys, expands aliases without limit ("billion laughs"), and reads ``on:``/``yes``/
``no`` as booleans (YAML 1.1), which breaks the ``on:`` trigger key. Why not ``yaml.compose``:
its composer is recursive — the pure-Python one raises ``RecursionError`` at ~1,000 nesting
levels and libyaml's crashes the process at ~100,000 — and building its node objects, then
values from them, is the slow part of loading a big playbook. So this module builds values
and positions in one pass over the parser's event stream (libyaml's when available), with
the nesting depth and the alias expansion capped as the events come.

Scalars follow the YAML 1.2 core schema: only ``true``/``false`` are booleans, ``on``/``yes``/
``no``/``off`` are strings, ``0755`` is the integer 755, dates and times stay strings, and
``1:30`` is a string (not sexagesimal 90). Anchors, aliases and merge keys (``<<: *defaults``)
work; an alias expands to an independent copy.

:func:`parse_yaml` returns ``(value, positions, value_positions)`` where the position maps go
from a path tuple (mapping keys and list indexes, e.g. ``("steps", 1, "with", "machine_id")``)
to ``(line, column)``. For a mapping entry, ``positions`` holds where the *key* is (what a
user looks for) and ``value_positions`` where the value starts; ``()`` is the document. Errors
are :class:`~runner.errors.PlaybookSyntaxError` with the file, line and column.
"""

from __future__ import annotations

import gc
import math
import re
from typing import Any

import yaml
from yaml.events import (AliasEvent, MappingEndEvent, MappingStartEvent, ScalarEvent, SequenceEndEvent,
                         SequenceStartEvent, StreamEndEvent)

from runner.errors import Location, PlaybookSyntaxError

MAX_DEPTH = 64  # nesting levels; a playbook needs ~10
MAX_ALIAS_NODES = 100_000  # values produced by expanding aliases (billion-laughs guard)

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
_MERGE = object()  # the `<<` key
_NO_KEY = object()  # a mapping frame waiting for its next key

Positions = dict[tuple, tuple[int, int]]


def parse_yaml(text: str, source: str | None = None) -> tuple[Any, Positions, Positions]:
    """Parse one YAML document. Returns ``(value, positions, value_positions)``.

    Raises :class:`PlaybookSyntaxError` for malformed YAML, duplicate keys, several
    documents, unsupported tags, or aliases that expand too far. An empty document is ``None``."""
    with _no_gc():
        return _load(text, source) or (None, {}, {})


def parse_mapping(text: str, source: str | None = None, what: str = "a playbook") -> tuple[dict, Positions, Positions]:
    """Like :func:`parse_yaml` but the document must be a mapping (an empty file is an error)."""
    with _no_gc():
        result = _load(text, source)
    if result is None:
        raise PlaybookSyntaxError(
            "the file is empty", where=Location(file=source, line=1, column=1),
            hint=f"{what} is a mapping with at least `name:` and `steps:`")
    value, positions, _ = result
    if not isinstance(value, dict):
        kind = "a list" if isinstance(value, list) else f"a single value ({value!r:.40})"
        line, col = positions[()]
        raise PlaybookSyntaxError(
            f"{what} must be a mapping of keys (name:, steps:, ...), found {kind}",
            where=Location(file=source, line=line, column=col),
            hint="start the file with `name: my-playbook` (no leading `-`)")
    return result


class _no_gc:
    """Pause the cyclic GC: building ~10^5 long-lived objects otherwise triggers it over and
    over for nothing (it doubled the time of a 10,000-step playbook)."""

    def __enter__(self) -> None:
        self.was_enabled = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc: Any) -> None:
        if self.was_enabled:
            gc.enable()


def _loc(source: str | None, mark: Any) -> Location:
    return Location(file=source, line=mark.line + 1, column=mark.column + 1)


def _load(text: str, source: str | None) -> tuple[Any, Positions, Positions] | None:
    if not isinstance(text, str):
        raise TypeError("parse_yaml() takes text (str)")
    try:
        loader = _FastLoader(text)
    except yaml.YAMLError as exc:
        raise _syntax_error(exc, text, source) from None
    try:
        return _Builder(loader, source).run()
    except yaml.YAMLError as exc:
        raise _syntax_error(_precise_error(text) or exc, text, source) from None
    finally:
        loader.dispose()


# ---- events → values + positions, in one pass -----------------------------------------------------

class _Frame:
    """An open mapping or sequence."""

    __slots__ = ("value", "is_map", "path", "key", "key_pos", "anchor", "log_start", "height", "merged",
                 "merge_into")

    def __init__(self, value: Any, path: tuple, anchor: str | None, log_start: int, merge_into: Any = None):
        self.value = value
        self.is_map = type(value) is dict
        self.path = path
        self.key = _NO_KEY
        self.key_pos = (0, 0)
        self.anchor = anchor
        self.log_start = log_start
        self.height = 1
        self.merged: set = set()  # keys that came from `<<` (own keys may override them)
        self.merge_into = merge_into  # for a `<<` value: the mapping frame it merges into


class _Builder:
    def __init__(self, loader: Any, source: str | None):
        self.loader = loader
        self.source = source
        self.positions: Positions = {}
        self.value_positions: Positions = {}
        # (path, key position, value position) of the nodes inside anchored values, in document
        # order, so an alias can replay the positions under its own path
        self.log: list[tuple[tuple, tuple, tuple]] = []
        self.logging = 0  # open frames whose nodes are logged
        self.anchors: dict[str, tuple] = {}  # name -> (value, path, log start, log end, height)
        self.expanded = 0
        self.stack: list[_Frame] = []
        self.closed_root: Any = None

    def run(self) -> tuple[Any, Positions, Positions] | None:
        loader = self.loader
        get_event = loader.get_event
        get_event()  # StreamStart
        if loader.check_event(StreamEndEvent):
            return None
        get_event()  # DocumentStart
        stack, positions, value_positions, log = self.stack, self.positions, self.value_positions, self.log
        scalar_event, alias_event, no_key, special_first = ScalarEvent, AliasEvent, _NO_KEY, _SPECIAL_FIRST
        seq_end, map_end = SequenceEndEvent, MappingEndEvent
        plain: dict[str, Any] = {}  # resolved plain scalars, by text
        root: Any = None
        while True:
            event = get_event()
            cls = type(event)
            if cls is seq_end or cls is map_end:
                if self.close(stack.pop()):
                    continue
                root = self.closed_root
                break
            mark = event.start_mark
            pos = (mark.line + 1, mark.column + 1)
            top = stack[-1] if stack else None
            if top is not None and top.is_map and top.key is no_key:
                if cls is scalar_event and event.tag is None and event.anchor is None and \
                        event.value[:1] not in special_first and event.value not in top.value:
                    top.key = event.value  # the common case: a new plain-text key
                    top.key_pos = pos
                else:
                    self.take_key(top, event, pos)
                continue
            if top is None:
                path, key_pos = (), pos
            elif top.is_map:
                key, key_pos = top.key, top.key_pos
                top.key = no_key
                if key is _MERGE:
                    self.merge_value(top, event, pos)
                    continue
                path = top.path + (key,)
            else:
                if top.merge_into is not None:
                    self.merge_value(top.merge_into, event, pos, listed=True)
                    continue
                path, key_pos = top.path + (len(top.value),), pos
            positions[path] = key_pos
            value_positions[path] = pos
            if self.logging:
                log.append((path, key_pos, pos))
            if cls is scalar_event:
                value = event.value
                tag = event.tag
                if tag is not None and tag != "!":
                    value = _scalar(event, self.source)
                elif not event.style and event.implicit[0] and value[:1] in special_first:
                    # a plain scalar that may be a number, bool or null; big files repeat a few
                    # of them ("3", "5m", "true") thousands of times
                    text = value
                    value = plain.get(text, plain)
                    if value is plain:
                        value = _scalar(event, self.source)
                        if len(plain) < 4096:
                            plain[text] = value
                    if value is _MERGE:
                        raise PlaybookSyntaxError("`<<` (merge) is only allowed as a mapping key",
                                                  where=_loc(self.source, mark), hint="quote it if you mean '<<'")
                if event.anchor is not None:
                    self.anchors[event.anchor] = (value, path, 0, 0, 0)
            elif cls is alias_event:
                value, height = self.expand(event, path)
                if top is not None and height >= top.height:
                    top.height = height + 1
            else:
                value = self.open(event, path)
            if top is None:
                root = value
                if not stack:  # a scalar document
                    break
            elif top.is_map:
                top.value[key] = value
                if top.merged:
                    top.merged.discard(key)
            else:
                top.value.append(value)
        get_event()  # DocumentEnd
        if not loader.check_event(StreamEndEvent):
            event = loader.peek_event()
            raise PlaybookSyntaxError(
                "the file holds more than one YAML document", where=_loc(self.source, event.start_mark),
                hint="a playbook file is one document: remove the second `---` (or split the file)")
        return root, positions, value_positions

    def open(self, event: Any, path: tuple, merge_into: _Frame | None = None) -> Any:
        is_map = type(event) is MappingStartEvent
        if event.tag not in (None, "!", _TAG + ("map" if is_map else "seq")):
            raise _tag_error(event.tag, event.start_mark, self.source)
        if len(self.stack) >= MAX_DEPTH:
            raise _too_deep(self.source, event.start_mark)
        value: Any = {} if is_map else []
        # an anchor is registered once its value is complete: an alias never points into itself
        frame = _Frame(value, path, event.anchor, len(self.log), merge_into)
        if event.anchor is not None or merge_into is not None:
            self.logging += 1
        self.stack.append(frame)
        return value

    def close(self, frame: _Frame) -> bool:
        """Finish ``frame``; ``False`` when it was the document's root."""
        if frame.anchor is not None or frame.merge_into is not None:
            self.logging -= 1
        source = (frame.value, frame.path, frame.log_start, len(self.log), frame.height)
        if frame.anchor is not None:
            self.anchors[frame.anchor] = source
        if frame.merge_into is not None and frame.is_map:
            self.merge(frame.merge_into, source, frame.path)
        if not self.stack:
            self.closed_root = frame.value
            return False
        parent = self.stack[-1]
        if frame.height >= parent.height:
            parent.height = frame.height + 1
        return True

    def take_key(self, top: _Frame, event: Any, pos: tuple) -> None:
        cls = type(event)
        if cls is ScalarEvent:
            key = event.value
            if event.tag not in (None, "!") or (not event.style and event.implicit[0] and key[:1] in _SPECIAL_FIRST):
                key = _scalar(event, self.source)
        elif cls is AliasEvent and event.anchor in self.anchors and \
                not isinstance(self.anchors[event.anchor][0], (dict, list)):
            key = self.anchors[event.anchor][0]
        else:
            raise PlaybookSyntaxError("a mapping key must be a plain value (text or number), not a list or mapping",
                                      where=_loc(self.source, event.start_mark), hint="write `key: value`")
        if cls is ScalarEvent and event.anchor is not None:
            self.anchors[event.anchor] = (key, (), 0, 0, 0)
        if key is not _MERGE and key in top.value and key not in top.merged:
            first = self.positions.get(top.path + (key,), (0, 0))[0]
            raise PlaybookSyntaxError(
                f"duplicate key '{key}' (first defined on line {first})", where=_loc(self.source, event.start_mark),
                hint="YAML would silently keep only the last one; remove or rename one of them")
        top.key = key
        top.key_pos = pos

    def expand(self, event: Any, path: tuple) -> tuple[Any, int]:
        """The value of an alias (a copy), with the positions of the anchored value replayed."""
        anchored = self.anchors.get(event.anchor)
        if anchored is None:
            raise PlaybookSyntaxError(
                f"alias *{event.anchor} refers to no anchor", where=_loc(self.source, event.start_mark),
                hint=f"define `&{event.anchor}` on a complete value before `*{event.anchor}` "
                     "(an alias cannot point into the value that contains it)")
        value, base, start, end, height = anchored
        if len(self.stack) + height > MAX_DEPTH:
            raise _too_deep(self.source, event.start_mark)
        self.count(end - start + 1, event)
        self.replay(base, path, start, end)
        return _copy(value), height

    def count(self, n: int, event: Any) -> None:
        self.expanded += n
        if self.expanded > MAX_ALIAS_NODES:
            raise PlaybookSyntaxError(
                f"YAML aliases expand to more than {MAX_ALIAS_NODES:,} values", where=_loc(self.source, event.start_mark),
                hint="this looks like a 'billion laughs' document; use fewer nested aliases")

    def replay(self, base: tuple, path: tuple, start: int, end: int, keys: set | None = None) -> None:
        n = len(base)
        positions, value_positions, log = self.positions, self.value_positions, self.log
        for i in range(start, end):
            old, key_pos, pos = log[i]
            if keys is not None and old[n] not in keys:
                continue
            new = path + old[n:]
            positions[new] = key_pos
            value_positions[new] = pos
            if self.logging:
                log.append((new, key_pos, pos))

    def merge_value(self, target: _Frame, event: Any, pos: tuple, listed: bool = False) -> None:
        """The value of a `<<` key (or one item of its list): merge it into ``target``."""
        cls = type(event)
        if cls is AliasEvent:
            anchored = self.anchors.get(event.anchor)
            if anchored is None:
                self.expand(event, ())  # raises the located error
            self.count(anchored[3] - anchored[2] + 1, event)
            self.merge(target, anchored, anchored[1], event)
        elif cls is MappingStartEvent:
            self.open(event, target.path + ("<<",), merge_into=target)
        elif cls is SequenceStartEvent and not listed:
            self.open(event, target.path + ("<<",), merge_into=target)
        else:
            raise PlaybookSyntaxError("`<<` merges mappings only", where=_loc(self.source, event.start_mark),
                                      hint="write `<<: *anchor` (or a list of them) where the anchor is on a mapping")

    def merge(self, target: _Frame, source: tuple, base: tuple, event: Any = None) -> None:
        value, _, start, end, height = source
        if not isinstance(value, dict):
            raise PlaybookSyntaxError("`<<` merges mappings only", where=_loc(self.source, event.start_mark)
                                      if event is not None else None,
                                      hint="write `<<: *anchor` where the anchor is on a mapping")
        added = set()
        for k, v in value.items():
            if k not in target.value:  # own keys and earlier merges win
                target.value[k] = _copy(v)
                target.merged.add(k)
                added.add(k)
        if height >= target.height:
            target.height = height
        self.replay(base, target.path, start, end, added)


def _copy(value: Any) -> Any:
    if type(value) is dict:
        return {k: _copy(v) for k, v in value.items()}
    if type(value) is list:
        return [_copy(v) for v in value]
    return value


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
