"""Durations as SOC engineers write them: ``500ms``, ``2s``, ``10m``, ``1h30m``, ``1d``, or a number of seconds."""

from __future__ import annotations

import functools
import re
from typing import Any

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_FULL = re.compile(r"^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w))+$")


def parse_duration(value: object) -> float:
    """Seconds as a float. Raises ``ValueError`` with a message fit for the user."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration; write e.g. 500ms, 2s, 10m, 1h")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    if isinstance(value, str):
        text = value.strip().replace(" ", "")
        if _FULL.match(text):
            return sum(float(n) * _UNITS[u] for n, u in _PART.findall(text))
    raise ValueError(f"{value!r} is not a duration; write e.g. 500ms, 2s, 10m, 1h")


def format_duration(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s".replace(".0s", "s")
    if seconds < 3600:
        return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"
    return f"{int(seconds // 3600)}h{int(seconds % 3600 // 60):02d}m"


@functools.lru_cache(maxsize=512)
def _duration_text(text: str) -> float:
    # big playbooks repeat the same few durations ("5m", "2s") thousands of times
    return parse_duration(text)


def duration_seconds(value: Any) -> float:
    """The validator of :data:`Duration` (tools recognise a ``Duration`` field by it)."""
    return _duration_text(value) if isinstance(value, str) else parse_duration(value)


def __getattr__(name: str) -> Any:
    """``Duration``: the one pydantic field type for durations (playbooks and soar.yaml), a float
    of seconds. Built on first use, so :func:`parse_duration` alone does not import pydantic."""
    if name != "Duration":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from typing import Annotated

    from pydantic import BeforeValidator

    duration = globals()["Duration"] = Annotated[float, BeforeValidator(duration_seconds)]
    return duration
