"""Scalar values by the YAML 1.2 core schema: only ``true``/``false`` are booleans, ``on``/``yes``/
``no``/``off`` are strings, ``0755`` is the integer 755, ``0o755``/``0x1f`` are octal/hex, dates
and times stay strings, ``1:30`` is a string; ``<<`` is the merge key (:data:`MERGE`)."""

from __future__ import annotations

import math
import re
from typing import Any

from yaml.events import ScalarEvent

from runner.errors import PlaybookSyntaxError
from runner.playbook.yamlerrors import loc

TAG = "tag:yaml.org,2002:"
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
SPECIAL_FIRST = frozenset("0123456789+-.~nNtTfF<") | {""}
MERGE = object()  # the `<<` key


def scalar(event: ScalarEvent, source: str | None) -> Any:
    tag, text = event.tag, event.value
    if tag is None or tag == "!":
        if event.style or not event.implicit[0]:
            return text  # quoted: always a string
        tag = plain_tag(text)
        if tag is None:
            return text
    elif tag == TAG + "str":
        return text
    try:
        if tag == TAG + "null":
            if text not in _NULL:
                raise ValueError
            return None
        if tag == TAG + "bool":
            if text in _TRUE or text in _FALSE:
                return text in _TRUE
            raise ValueError
        if tag == TAG + "int":
            t = text.replace("_", "")
            if _OCT.match(t):
                return int(t[2:], 8)
            if _HEX.match(t):
                return int(t[2:], 16)
            return int(t)
        if tag == TAG + "float":
            if _INF.match(text):
                return -math.inf if text.startswith("-") else math.inf
            if _NAN.match(text):
                return math.nan
            return float(text)
        if tag == "merge":
            return MERGE
    except ValueError:
        raise PlaybookSyntaxError(f"{text!r} is not a valid {show_tag(tag)} value", where=loc(source, event.start_mark),
                                  hint="remove the tag or fix the value") from None
    raise tag_error(tag, event.start_mark, source)


def plain_tag(text: str) -> str | None:
    """The YAML 1.2 core-schema type of a plain scalar (``None``: a string)."""
    if not text or len(text) > 40:
        return TAG + "null" if not text else None
    c = text[0]
    if c in "0123456789+-.":
        if _INT.match(text) or _OCT.match(text) or _HEX.match(text):
            return TAG + "int"
        if _FLOAT.match(text) or _INF.match(text) or _NAN.match(text):
            return TAG + "float"
        return None
    if text in _NULL:
        return TAG + "null"
    if text in _TRUE or text in _FALSE:
        return TAG + "bool"
    if text == "<<":
        return "merge"
    return None


def show_tag(tag: str) -> str:
    return "!!" + tag[len(TAG):] if tag.startswith(TAG) else tag


def tag_error(tag: str, mark: Any, source: str | None) -> PlaybookSyntaxError:
    return PlaybookSyntaxError(
        f"unsupported YAML tag {show_tag(tag)}", where=loc(source, mark),
        hint="playbooks use plain YAML values only; remove the tag (quote the value if it must be text)")
