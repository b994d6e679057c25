"""``hash()`` and ``hash_xxhash64()``: Kusto's xxHash64 of a value, the one module that imports
the ``xxhash`` library; and the ``hll()`` sketches ``dcount_hll()`` counts, built on it.

Kusto hashes a string's UTF-8 bytes and a datetime's ticks (100 ns since 0001-01-01) as a
little-endian 64-bit integer, which reproduces Microsoft's documented values
(``hash("World")`` is 1846988464401551951, ``hash(datetime(2015-01-01))`` 1380966698541616202).
Numbers, timespans and booleans are hashed the same way, as their 64-bit little-endian form
(a real as its IEEE double); a dynamic value as its JSON text. With ``mod``, the result is the
unsigned hash modulo ``mod`` (0 to mod - 1); without, the 64-bit hash as a signed long.
"""

from __future__ import annotations

import struct
from datetime import datetime, timedelta
from typing import Any

import xxhash

from .model import UTC, to_kql_string
from .signatures import ANY, DYNAMIC, INTEGER, Function, rule

_EPOCH = datetime(1, 1, 1, tzinfo=UTC)


def _ticks(delta: timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * 10_000_000 + delta.microseconds * 10


def _bytes(value: Any) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, bool):
        return struct.pack("<q", int(value))
    if isinstance(value, int):
        return struct.pack("<q", value)
    if isinstance(value, float):
        return struct.pack("<d", value)
    if isinstance(value, datetime):
        return struct.pack("<q", _ticks(value - _EPOCH))
    if isinstance(value, timedelta):
        return struct.pack("<q", _ticks(value))
    return to_kql_string(value).encode("utf-8")


def kusto_hash(value: Any, mod: Any = None) -> int | None:
    if value is None:
        return None
    digest = xxhash.xxh64_intdigest(_bytes(value))
    if mod is None:
        return digest - (1 << 64) if digest >= 1 << 63 else digest
    if not isinstance(mod, int) or isinstance(mod, bool) or mod <= 0:
        return None
    return digest % mod


def sketch(values: list) -> list[int]:
    """``hll()``'s result: Kusto's is an estimate's registers; the simulator's is exact, the
    sorted distinct hashes of the values, so ``dcount_hll()`` gives the exact distinct count."""
    return sorted({kusto_hash(v) for v in values})


def merge_sketches(sketches: list) -> list[int]:
    """``hll_merge()``: one sketch counting every value the given sketches counted."""
    return sorted({h for s in sketches if isinstance(s, list) for h in s if isinstance(h, int)})


def _dcount_hll(value: Any) -> int | None:
    return len(value) if isinstance(value, list) else None


FUNCTIONS = [
    Function("hash", 1, 2, rule("long", ANY, INTEGER), kusto_hash),
    Function("hash_xxhash64", 1, 2, rule("long", ANY, INTEGER), kusto_hash),
    Function("dcount_hll", 1, 1, rule("long", DYNAMIC), _dcount_hll),
    Function("hll_merge", 2, 64, rule("dynamic", DYNAMIC), lambda *sketches: merge_sketches(list(sketches))),
]
