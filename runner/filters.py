"""The built-in expression filters and globals (documented in docs/playbooks.md#filters): generic
ones only, about lists, JSON, text and time.

Filters about one vendor's data (its incidents, alerts, devices) belong to that vendor's plugin,
registered through the ``register_filters`` hook; :mod:`runner.expressions` installs these first.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from typing import Any, Callable, Mapping

from runner.secrets import MASK, Secret


def _as_list(value: Any) -> list:
    if value is None:
        return []
    if isinstance(value, Mapping):
        return [value]
    return list(value)


def f_flatten(value: Any) -> list:
    out = []
    for v in _as_list(value):
        if isinstance(v, (list, tuple)):
            out.extend(v)
        else:
            out.append(v)
    return out


def f_unique_by(value: Any, key: str) -> list:
    seen, out = set(), []
    for v in _as_list(value):
        k = v.get(key) if isinstance(v, Mapping) else v
        k = json.dumps(k, sort_keys=True, default=str) if isinstance(k, (dict, list)) else k
        if k not in seen:
            seen.add(k)
            out.append(v)
    return out


def f_to_json(value: Any, indent: int | None = None) -> str:
    return json.dumps(value, indent=indent, default=lambda o: MASK if isinstance(o, Secret) else str(o))


def f_from_json(value: str) -> Any:
    return json.loads(value)


def f_defang(value: Any) -> str:
    """Make a URL, domain or IP unclickable for reports: ``http`` → ``hxxp``, ``.`` → ``[.]``."""
    text = str(value)
    text = re.sub(r"^http", "hxxp", text, flags=re.I)
    return text.replace("://", "[://]").replace(".", "[.]")


def f_regex_search(value: Any, pattern: str) -> str | None:
    """The first match of ``pattern`` in ``value``, or ``None``. Matched by the ``regex`` module
    within the expression's time limit (a catastrophic pattern is an "expression limit" error)."""
    from runner.expr_limits import regex_search

    m = regex_search(pattern, str(value))
    return m.group(0) if m else None


def g_now() -> str:
    """Current UTC time, ISO 8601 with ``Z`` (the form most APIs take)."""
    return _iso(_dt.datetime.now(_dt.timezone.utc))


def g_ago(duration: Any) -> str:
    """UTC time ``duration`` ago (``'24h'``, ``'30m'``), ISO 8601 with ``Z``."""
    from runner.durations import parse_duration

    return _iso(_dt.datetime.now(_dt.timezone.utc) - _dt.timedelta(seconds=parse_duration(duration)))


def _iso(t: _dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


BUILTIN_FILTERS: dict[str, Callable] = {
    "flatten": f_flatten, "unique_by": f_unique_by, "to_json": f_to_json, "from_json": f_from_json,
    "defang": f_defang, "regex_search": f_regex_search,
}
BUILTIN_GLOBALS: dict[str, Callable] = {"now": g_now, "ago": g_ago}
