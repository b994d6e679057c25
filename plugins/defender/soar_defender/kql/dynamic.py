"""Dynamic values: JSON parsing, property bags, arrays and sets.

Dynamic values are plain Python lists, dicts and scalars. Functions never modify their arguments
(a bag or array may be shared by many rows) and build new values instead.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from .model import hashable, to_kql_string
from .signatures import ANY, DYNAMIC, INTEGER, STR, Function, rule

MAX_ARRAY = 10_000  # range() and repeat() stop here (Kusto allows 1,048,576), so a query stays quick
_PATH_STEP = re.compile(r"\.([A-Za-z_][\w]*)|\[(\d+)\]|\['([^']*)'\]|\[\"([^\"]*)\"\]")


def too_deep(value: Any, limit: int = 64) -> bool:
    stack = [(value, 1)]
    while stack:
        v, depth = stack.pop()
        if isinstance(v, (list, dict)):
            if depth > limit:
                return True
            stack += [(c, depth + 1) for c in (v.values() if isinstance(v, dict) else v)]
    return False


def parse_json(v: Any) -> Any:
    """JSON text → dynamic; text that is not JSON (or nests deeper than 64) stays a string."""
    if not isinstance(v, str):
        return v
    try:
        parsed = json.loads(v)
    except (ValueError, RecursionError):
        return v
    return v if too_deep(parsed) else parsed


def path_steps(path: str) -> list[str | int] | None:
    """The steps of a JSONPath (``$.a.b[0]``, ``$['a']``): keys and array indexes; None when it
    is not one."""
    if not path.startswith("$"):
        return None
    steps: list[str | int] = []
    position = 1
    for m in _PATH_STEP.finditer(path, 1):
        if m.start() != position:
            return None
        position = m.end()
        key, index, quoted1, quoted2 = m.groups()
        steps.append(int(index) if index is not None else
                     key if key is not None else (quoted1 if quoted1 is not None else quoted2))
    return steps if position == len(path) else None


def json_path(value: Any, path: str) -> Any:
    """``$.a.b[0]`` / ``$['a']`` over a parsed JSON value (None when a step is missing)."""
    steps = path_steps(path)
    return None if steps is None else _walk(value, steps)


def _walk(value: Any, steps: list[str | int]) -> Any:
    for step in steps:
        if isinstance(step, int):
            value = value[step] if isinstance(value, list) and step < len(value) else None
        else:
            value = value.get(step) if isinstance(value, dict) else None
    return value


def _pack(*args: Any) -> dict | None:
    if len(args) % 2:
        return None
    return {to_kql_string(args[i]): args[i + 1] for i in range(0, len(args), 2)}


def _bag_merge(*bags: Any) -> dict:
    out: dict = {}
    for bag in bags:
        if isinstance(bag, dict):
            for k, v in bag.items():
                out.setdefault(k, v)  # the first bag wins on duplicate keys
    return out


def _unique(values) -> list:
    seen, out = set(), []
    for v in values:
        key = hashable(v)
        if key not in seen:
            seen.add(key)
            out.append(v)
    return out


def _set_union(*arrays: Any) -> list | None:
    if not all(isinstance(a, list) for a in arrays):
        return None
    return _unique(v for a in arrays for v in a)


def _set_intersect(*arrays: Any) -> list | None:
    if not all(isinstance(a, list) for a in arrays):
        return None
    others = [{hashable(v) for v in a} for a in arrays[1:]]
    return _unique(v for v in arrays[0] if all(hashable(v) in o for o in others))


def _set_difference(*arrays: Any) -> list | None:
    if not all(isinstance(a, list) for a in arrays):
        return None
    others = {hashable(v) for a in arrays[1:] for v in a}
    return _unique(v for v in arrays[0] if hashable(v) not in others)


def _array_index_of(array: Any, value: Any, start: Any = 0, length: Any = -1, occurrence: Any = 1) -> int | None:
    if not isinstance(array, list) or not all(isinstance(v, int) for v in (start, length, occurrence)):
        return None
    if start < 0:
        start = max(len(array) + start, 0)
    end = len(array) if length == -1 else min(len(array), start + length)
    wanted, seen = hashable(value), 0
    for i in range(start, end):
        if hashable(array[i]) == wanted:
            seen += 1
            if seen == occurrence:
                return i
    return -1


def _array_slice(array: Any, start: Any, end: Any) -> list | None:
    if not isinstance(array, list) or not isinstance(start, int) or not isinstance(end, int):
        return None
    n = len(array)
    start, end = start + n if start < 0 else start, end + n if end < 0 else end
    return array[max(start, 0):max(end + 1, 0)]


def _sort(descending: bool):
    def apply(array: Any, nulls_last: Any = None) -> list | None:
        if not isinstance(array, list):
            return None
        present = [v for v in array if v is not None]
        try:
            ordered = sorted(present, key=lambda v: (type(v).__name__, v), reverse=descending)
        except TypeError:
            ordered = sorted(present, key=lambda v: hashable(v), reverse=descending)
        nulls = [None] * (len(array) - len(present))
        last = nulls_last if isinstance(nulls_last, bool) else not descending
        return ordered + nulls if last else nulls + ordered
    return apply


def _range(start: Any, stop: Any, step: Any = None) -> list | None:
    if start is None or stop is None:
        return None
    if step is None:
        step = 1 if not hasattr(start, "hour") else None
    try:
        out = []
        value = start
        while value <= stop and len(out) < MAX_ARRAY:
            out.append(value)
            value = value + step
            if step <= step * 0:  # a zero or negative step would never reach stop
                break
        return out
    except TypeError:
        return None


def _repeat(value: Any, count: Any) -> list | None:
    if not isinstance(count, int) or count < 0:
        return None
    return [value] * min(count, MAX_ARRAY)


def _zip(*arrays: Any) -> list | None:
    if not all(isinstance(a, list) for a in arrays):
        return None
    width = max((len(a) for a in arrays), default=0)
    return [[a[i] if i < len(a) else None for a in arrays] for i in range(width)]


def _array_sum(array: Any) -> float | None:
    if not isinstance(array, list):
        return None
    numbers = [v for v in array if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return float(sum(numbers)) if len(numbers) == len(array) else None


def _jaccard(a: Any, b: Any) -> float | None:
    if not isinstance(a, list) or not isinstance(b, list):
        return None
    x, y = {hashable(v) for v in a}, {hashable(v) for v in b}
    return len(x & y) / len(x | y) if x | y else 0.0


def _bag_remove_keys(bag: Any, keys: Any) -> dict | None:
    """The bag without ``keys``: a plain key at the top, or a JSONPath (``$.key2.prop1``,
    ``$['a b']``) for a nested one."""
    if not isinstance(bag, dict) or not isinstance(keys, list):
        return None
    out = copy.deepcopy(bag)
    for key in keys:
        text = to_kql_string(key)
        path = (path_steps(text) or []) if text.startswith("$") else [text]
        parent = _walk(out, path[:-1])
        if path and isinstance(parent, dict):
            parent.pop(path[-1], None)
    return out


def _shift(direction: int, rotate: bool = False):
    def apply(array: Any, count: Any, default: Any = None) -> list | None:
        if not isinstance(array, list) or not isinstance(count, int):
            return None
        n = len(array)
        if rotate:
            k = (count * direction) % n if n else 0
            return array[-k:] + array[:-k] if k else list(array)
        k = count * direction
        if k >= 0:
            return ([default] * min(k, n) + array)[:n]
        return (array[-k:] + [default] * min(-k, n))[:n]
    return apply


def _array_split(array: Any, indices: Any) -> list | None:
    if not isinstance(array, list):
        return None
    points = indices if isinstance(indices, list) else [indices]
    if not all(isinstance(p, int) and not isinstance(p, bool) for p in points):
        return None
    n = len(array)
    cuts = sorted({min(max(p + n if p < 0 else p, 0), n) for p in points})
    out, last = [], 0
    for c in cuts:
        out.append(array[last:c])
        last = c
    out.append(array[last:])
    return out


def _array_length(v: Any) -> int | None:
    return len(v) if isinstance(v, list) else None


_F = Function
_ARRAYS = rule("dynamic", DYNAMIC)
FUNCTIONS = [
    _F("parse_json", 1, 1, rule("dynamic"), parse_json),
    _F("parsejson", 1, 1, rule("dynamic"), parse_json),
    _F("todynamic", 1, 1, rule("dynamic"), parse_json),
    _F("toobject", 1, 1, rule("dynamic"), parse_json),
    _F("dynamic_to_json", 1, 1, rule("string"), to_kql_string),
    _F("array_length", 1, 1, rule("long", DYNAMIC), _array_length),
    _F("arraylength", 1, 1, rule("long", DYNAMIC), _array_length),
    _F("pack", 2, 128, rule("dynamic"), _pack),
    _F("bag_pack", 2, 128, rule("dynamic"), _pack),
    _F("pack_dictionary", 2, 128, rule("dynamic"), _pack),
    _F("pack_array", 1, 128, rule("dynamic"), lambda *values: list(values)),
    _F("bag_keys", 1, 1, rule("dynamic", DYNAMIC), lambda b: list(b) if isinstance(b, dict) else None),
    _F("bag_merge", 2, 64, _ARRAYS, _bag_merge),
    _F("bag_remove_keys", 2, 2, _ARRAYS, _bag_remove_keys),
    _F("bag_has_key", 2, 2, rule("bool", DYNAMIC, STR),
       lambda b, k: isinstance(b, dict) and to_kql_string(k) in b),
    _F("bag_set_key", 3, 3, rule("dynamic", DYNAMIC, STR, ANY),
       lambda b, k, v: {**b, to_kql_string(k): v} if isinstance(b, dict) else None),
    _F("set_union", 2, 64, _ARRAYS, _set_union),
    _F("set_intersect", 2, 64, _ARRAYS, _set_intersect),
    _F("set_difference", 2, 64, _ARRAYS, _set_difference),
    _F("set_has_element", 2, 2, rule("bool", DYNAMIC, ANY),
       lambda a, v: isinstance(a, list) and hashable(v) in {hashable(x) for x in a}),
    _F("array_index_of", 2, 5, rule("long", DYNAMIC, ANY, INTEGER), _array_index_of),
    _F("array_concat", 1, 64, _ARRAYS,
       lambda *arrays: [v for a in arrays for v in a] if all(isinstance(a, list) for a in arrays) else None),
    _F("array_slice", 3, 3, rule("dynamic", DYNAMIC, INTEGER), _array_slice),
    _F("array_reverse", 1, 1, _ARRAYS, lambda a: a[::-1] if isinstance(a, list) else None),
    _F("array_sort_asc", 1, 2, rule("dynamic", DYNAMIC, ANY), _sort(False)),
    _F("array_sort_desc", 1, 2, rule("dynamic", DYNAMIC, ANY), _sort(True)),
    _F("array_sum", 1, 1, rule("real", DYNAMIC), _array_sum),
    _F("array_iff", 3, 3, rule("dynamic", DYNAMIC, ANY),
       lambda c, a, b: [(a[i] if isinstance(a, list) and i < len(a) else a) if x is True else
                        (b[i] if isinstance(b, list) and i < len(b) else b) for i, x in enumerate(c)]
       if isinstance(c, list) else None),
    _F("zip", 2, 64, _ARRAYS, _zip),
    _F("array_shift_left", 2, 3, rule("dynamic", DYNAMIC, INTEGER, ANY), _shift(-1)),
    _F("array_shift_right", 2, 3, rule("dynamic", DYNAMIC, INTEGER, ANY), _shift(1)),
    _F("array_rotate_left", 2, 2, rule("dynamic", DYNAMIC, INTEGER), _shift(-1, rotate=True)),
    _F("array_rotate_right", 2, 2, rule("dynamic", DYNAMIC, INTEGER), _shift(1, rotate=True)),
    _F("array_split", 2, 2, rule("dynamic", DYNAMIC, ANY), _array_split),
    _F("range", 2, 3, rule("dynamic"), _range),
    _F("repeat", 2, 2, rule("dynamic", ANY, INTEGER), _repeat),
    _F("jaccard_index", 2, 2, rule("real", DYNAMIC), _jaccard),
]
