"""JSON on the hot paths: API answers (:mod:`runner.apis`) and the run store's step rows
(:mod:`runner.store.records`). The one module that imports orjson, with the stdlib wherever the
two would differ, so what is read or written never depends on which one did it.

Reading an answer: orjson decodes about twice as fast as ``json.loads``, but it turns an integer
outside 64 bits into a float where the stdlib keeps it exact. Such a number is at least 19
digits long, so a document holding a 19-digit number (not a string: one that follows ``:``,
``[`` or ``,``) is read by the stdlib; the check is one ``bytes.translate`` and two substring
searches, in C, instead of a walk over the decoded tree in Python (docs/benchmarks.md, JSON).
"""

from __future__ import annotations

import json
from typing import Any, Callable

try:
    import orjson
except ImportError:  # pragma: no cover - a declared dependency; the stdlib still works
    orjson = None

__all__ = ["dumps_text", "loads"]

if orjson is not None:
    # datetimes and dataclasses go through the caller's ``default``, as with the stdlib encoder
    _TEXT_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS

# every digit becomes '0' and every byte that can come before a number ('[' and ',') a ':'
_NUMBERS = bytes(0x30 if 0x30 <= b <= 0x39 else 0x3A if b in b"[," else b for b in range(256))
_WHITESPACE = b" \t\n\r"
_LONG = b"0" * 19  # 2**63 has 19 digits: anything shorter fits in 64 bits
_AFTER, _AFTER_MINUS = b":" + _LONG, b":-" + _LONG


def _long_number(data: bytes) -> bool:
    """Whether ``data`` may hold a number of 19 digits or more (outside a string). A string
    that looks like one (``"a: 1234...``) only sends the document to the stdlib: never wrong."""
    shape = data.translate(_NUMBERS, _WHITESPACE)
    return _AFTER in shape or _AFTER_MINUS in shape or shape.lstrip(b"-").startswith(_LONG)


def loads(data: bytes | str) -> Any:
    """Decode a JSON document (raises ``ValueError`` when it is not one), exactly as the stdlib
    would: what orjson refuses but the stdlib reads (NaN, Infinity, a byte-order mark, another
    UTF encoding) and a document that may hold an integer outside 64 bits are read by the stdlib."""
    if orjson is not None and type(data) is bytes and not _long_number(data):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    return json.loads(data)


def dumps_text(value: Any, default: Callable[[Any], Any]) -> str | None:
    """JSON text of ``value`` by orjson (``default`` for what it does not know), or ``None``
    when orjson cannot write it (the caller's stdlib encoder then decides)."""
    if orjson is None:  # pragma: no cover
        return None
    try:
        return orjson.dumps(value, default=default, option=_TEXT_OPTIONS).decode()
    except TypeError:  # ints over 64 bits, deep nesting, non-text keys
        return None
