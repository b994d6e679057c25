"""The parser's event stream → plain values and the (line, column) of every node, in one pass
(no recursion, no node objects): nesting depth and alias expansion are capped as events come,
anchors/aliases/merge keys replay the positions of what they copy. Used by :mod:`runner.playbook.yamlpos`."""

from __future__ import annotations

from typing import Any

from yaml.events import (AliasEvent, MappingEndEvent, MappingStartEvent, ScalarEvent, SequenceEndEvent,
                         SequenceStartEvent, StreamEndEvent)

from runner.errors import PlaybookSyntaxError
from runner.playbook.yamlerrors import MAX_DEPTH, loc, too_deep
from runner.playbook.yamlscalars import MERGE, SPECIAL_FIRST, TAG, scalar, tag_error

MAX_ALIAS_NODES = 100_000  # values produced by expanding aliases (billion-laughs guard)
_NO_KEY = object()  # a mapping frame waiting for its next key

Positions = dict[tuple, tuple[int, int]]


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


class Builder:
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
        scalar_event, alias_event, no_key, special_first = ScalarEvent, AliasEvent, _NO_KEY, SPECIAL_FIRST
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
                if key is MERGE:
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
                    value = scalar(event, self.source)
                elif not event.style and event.implicit[0] and value[:1] in special_first:
                    # a plain scalar that may be a number, bool or null; big files repeat a few
                    # of them ("3", "5m", "true") thousands of times
                    text = value
                    value = plain.get(text, plain)
                    if value is plain:
                        value = scalar(event, self.source)
                        if len(plain) < 4096:
                            plain[text] = value
                    if value is MERGE:
                        raise PlaybookSyntaxError("`<<` (merge) is only allowed as a mapping key",
                                                  where=loc(self.source, mark), hint="quote it if you mean '<<'")
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
                "the file holds more than one YAML document", where=loc(self.source, event.start_mark),
                hint="a playbook file is one document: remove the second `---` (or split the file)")
        return root, positions, value_positions

    def open(self, event: Any, path: tuple, merge_into: _Frame | None = None) -> Any:
        is_map = type(event) is MappingStartEvent
        if event.tag not in (None, "!", TAG + ("map" if is_map else "seq")):
            raise tag_error(event.tag, event.start_mark, self.source)
        if len(self.stack) >= MAX_DEPTH:
            raise too_deep(self.source, event.start_mark)
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
            if event.tag not in (None, "!") or (not event.style and event.implicit[0] and key[:1] in SPECIAL_FIRST):
                key = scalar(event, self.source)
        elif cls is AliasEvent and event.anchor in self.anchors and \
                not isinstance(self.anchors[event.anchor][0], (dict, list)):
            key = self.anchors[event.anchor][0]
        else:
            raise PlaybookSyntaxError("a mapping key must be a plain value (text or number), not a list or mapping",
                                      where=loc(self.source, event.start_mark), hint="write `key: value`")
        if cls is ScalarEvent and event.anchor is not None:
            self.anchors[event.anchor] = (key, (), 0, 0, 0)
        if key is not MERGE and key in top.value and key not in top.merged:
            first = self.positions.get(top.path + (key,), (0, 0))[0]
            raise PlaybookSyntaxError(
                f"duplicate key '{key}' (first defined on line {first})", where=loc(self.source, event.start_mark),
                hint="YAML would silently keep only the last one; remove or rename one of them")
        top.key = key
        top.key_pos = pos

    def expand(self, event: Any, path: tuple) -> tuple[Any, int]:
        """The value of an alias (a copy), with the positions of the anchored value replayed."""
        anchored = self.anchors.get(event.anchor)
        if anchored is None:
            raise PlaybookSyntaxError(
                f"alias *{event.anchor} refers to no anchor", where=loc(self.source, event.start_mark),
                hint=f"define `&{event.anchor}` on a complete value before `*{event.anchor}` "
                     "(an alias cannot point into the value that contains it)")
        value, base, start, end, height = anchored
        if len(self.stack) + height > MAX_DEPTH:
            raise too_deep(self.source, event.start_mark)
        self.count(end - start + 1, event)
        self.replay(base, path, start, end)
        return _copy(value), height

    def count(self, n: int, event: Any) -> None:
        self.expanded += n
        if self.expanded > MAX_ALIAS_NODES:
            raise PlaybookSyntaxError(
                f"YAML aliases expand to more than {MAX_ALIAS_NODES:,} values", where=loc(self.source, event.start_mark),
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
            raise PlaybookSyntaxError("`<<` merges mappings only", where=loc(self.source, event.start_mark),
                                      hint="write `<<: *anchor` (or a list of them) where the anchor is on a mapping")

    def merge(self, target: _Frame, source: tuple, base: tuple, event: Any = None) -> None:
        value, _, start, end, height = source
        if not isinstance(value, dict):
            raise PlaybookSyntaxError("`<<` merges mappings only", where=loc(self.source, event.start_mark)
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

