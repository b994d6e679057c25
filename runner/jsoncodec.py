"""JSON on the hot paths: API request bodies and answers (:mod:`runner.apis`) and the run store's
step rows (:mod:`runner.store.records`). The one module that imports orjson — about 5× the
stdlib's speed on the small documents Defender sends — with the stdlib as the fallback wherever
orjson refuses a value, so what is written or read never depends on which one did it.
"""

from __future__ import annotations

import json
from typing import Any, Callable

try:
    import orjson
except ImportError:  # pragma: no cover - a declared dependency; the stdlib still works
    orjson = None

__all__ = ["body_bytes", "dumps_text", "loads"]

if orjson is not None:
    # datetimes and dataclasses go through the caller's ``default``, as with the stdlib encoder
    _TEXT_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
    _BODY_OPTIONS = orjson.OPT_NON_STR_KEYS


def body_bytes(value: Any) -> bytes:
    """A request body as httpx's ``json=`` writes it: compact UTF-8, non-ASCII kept; NaN and
    infinities refused (``ValueError``), as the API would refuse them."""
    if orjson is not None and not _any_float(value, _non_finite):
        try:
            return orjson.dumps(value, option=_BODY_OPTIONS)
        except TypeError:  # ints over 64 bits, deep nesting: as the stdlib says
            pass
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")


def loads(data: bytes | str) -> Any:
    """Decode a JSON document (raises ``ValueError`` when it is not one), as the stdlib would:
    what orjson refuses but the stdlib reads (NaN, Infinity) is read by the stdlib, and so is a
    document where orjson gave a float of 2**63 or more — an integer outside 64 bits, which orjson
    turns into a float and the stdlib keeps exact."""
    if orjson is not None:
        try:
            value = orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
        else:
            if not _any_float(value, _huge):
                return value
    return json.loads(data)


_HUGE = float(2 ** 63)


def _non_finite(v: float) -> bool:  # orjson writes NaN/Infinity as null; the stdlib refuses them
    return v != v or v in (float("inf"), float("-inf"))


def _huge(v: float) -> bool:  # what orjson made of an integer outside 64 bits
    return v >= _HUGE or v <= -_HUGE


def _any_float(value: Any, test: Callable[[float], bool]) -> bool:
    """Whether a float anywhere in ``value`` (dicts, lists, tuples) passes ``test``."""
    stack = [value]
    pop, many = stack.pop, stack.extend
    while stack:
        v = pop()
        t = type(v)
        if t is dict:
            many(v.values())
        elif t is list or t is tuple:
            many(v)
        elif t is float and test(v):
            return True
    return False


def dumps_text(value: Any, default: Callable[[Any], Any]) -> str | None:
    """JSON text of ``value`` by orjson (``default`` for what it does not know), or ``None``
    when orjson cannot write it (the caller's stdlib encoder then decides)."""
    if orjson is None:  # pragma: no cover
        return None
    try:
        return orjson.dumps(value, default=default, option=_TEXT_OPTIONS).decode()
    except TypeError:  # ints over 64 bits, deep nesting, non-text keys
        return None
