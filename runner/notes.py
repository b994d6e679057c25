"""Step warnings: what a step wants its run's reader to know without failing it.

A filter or an action that drops data it needed (every device lacks its machine id, say)
calls :func:`warn`; the engine collects the warnings of each step (:func:`collecting`) and
keeps them with the step's result (``soar run``, ``soar run --json``, the demo summary), and logs
each on ``soar.warnings`` with the step's run, tenant and step (:func:`runner.logfmt.with_step`).
Outside a collecting step, :func:`warn` logs the warning only.

The collector travels in a context variable; an expression that is moved off the event loop
runs in a copy of the context (:func:`runner.expr_limits.render_async`), which shares the same
collector, and an evaluation that is started again repeats its warnings, so they are kept once.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from typing import Iterator

from runner.logfmt import with_step

log = logging.getLogger("soar.warnings")

_sink: contextvars.ContextVar[dict[str, None] | None] = contextvars.ContextVar("soar_step_warnings", default=None)
MAX_WARNINGS = 20  # per step: a foreach over 10,000 items must not carry 10,000 copies


def warn(message: str) -> None:
    """Record a warning for the step being run (and log it)."""
    sink = _sink.get()
    if sink is None:
        log.warning("%s", message, extra=with_step())
        return
    if message not in sink and len(sink) < MAX_WARNINGS:
        sink[message] = None
        log.warning("%s", message, extra=with_step())  # names the run, tenant and step


@contextlib.contextmanager
def collecting(into: dict[str, None] | None = None) -> Iterator[dict[str, None]]:
    """Collect :func:`warn` calls made inside the block (in this context) into ``into``."""
    sink = {} if into is None else into
    token = _sink.set(sink)
    try:
        yield sink
    finally:
        _sink.reset(token)
