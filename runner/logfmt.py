"""soar's log lines: the fields a line carries, and the two ways they are written (``--log-format``).

A line may carry **fields** — who and what it is about: the run, tenant and step of an action's
line, the playbook, event and status of a ``soar serve`` line, the method, host and status of an
API call. They travel on the log record as one dict (attribute :data:`FIELDS`; pass them with
``extra=fields(...)``) so a formatter can write them as data.

**The step being run.** While the engine runs a step (and each foreach item), a context variable
(:data:`STEP`) holds its run, tenant, step (and item) as fields; the engine sets it once per step
and per item. A line logged meanwhile is about that step: :func:`with_step` adds them to a line's
own fields (API calls on ``soar.http``, step warnings on ``soar.warnings``), ``ctx.log`` carries
them, and either formatter writes them for any other line logged inside a step that names no
run, tenant or step of its own (a 429 wait, a token request).

``text`` (the default, for people): ``LEVEL logger run=… tenant=… step=…: message``. Only the
fields that say *where* (:data:`CONTEXT`) are written before the message; the message already
says the rest in words. Values are quoted when they hold spaces, ``=``, quotes or control
characters, so a value from outside (a tenant name, a step id) cannot forge a line.

``json`` (for log shippers): one JSON object per line — ``ts`` (UTC, ISO 8601), ``level``,
``logger``, ``message``, every field, and ``exc`` for a traceback.

Secrets: the handler's redacting filter (``runner.cli.common.RedactingFilter``) masks known
secret values in the message, the traceback and every text field before either formatter runs;
the JSON formatter masks the finished line once more, as JSON text.
"""

from __future__ import annotations

import contextvars
import json
import logging
import time
from typing import Any, Mapping

FIELDS = "soar_fields"                  # the LogRecord attribute holding a line's fields
PLAYBOOK_LINE = "soar_playbook_line"    # set (extra=) on what a playbook asked to log: shown without -v
CONTEXT = ("run", "tenant", "step", "item")  # written before the message in text lines
FORMATS = ("text", "json")
_BASE = ("ts", "level", "logger", "message", "exc")  # JSON keys a field may not take
_PLAIN = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~:/@+,*#$")


# the fields of the step being run (run, tenant, step, item), set by runner.engine.steps
STEP: contextvars.ContextVar[dict | None] = contextvars.ContextVar("soar_step_fields", default=None)


def fields(**values: Any) -> dict:
    """``extra=`` for a log call: the fields given (``None`` values left out)."""
    return {FIELDS: {k: v for k, v in values.items() if v is not None}}


def with_step(**values: Any) -> dict:
    """``extra=`` for a line about the step being run, if any: its run, tenant, step and item
    (:data:`STEP`), then the fields given (``None`` values left out)."""
    own = {k: v for k, v in values.items() if v is not None}
    step = STEP.get()
    return {FIELDS: {**step, **own} if step else own}


def _with_context(record: logging.LogRecord) -> Mapping[str, Any] | None:
    """The line's fields; inside a step, the step's run, tenant and step (and item) for a line
    that names none of them itself."""
    found = getattr(record, FIELDS, None)
    if found and ("run" in found or "step" in found):
        return found
    step = STEP.get()
    if step is None:
        return found
    return {**step, **found} if found else step


def fields_of(record: logging.LogRecord) -> Mapping[str, Any] | None:
    return getattr(record, FIELDS, None)


class StepLog(logging.LoggerAdapter):
    """The logger an action gets (``ctx.log``): every line carries the run, tenant and step (and
    the foreach item). A call's own ``extra=`` is kept; its fields are added to the step's."""

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        extra = kwargs.get("extra")
        if extra is None:
            kwargs["extra"] = {FIELDS: self.extra}
        else:
            own = extra.get(FIELDS)
            kwargs["extra"] = {**extra, FIELDS: {**self.extra, **own} if own else self.extra}
        return msg, kwargs


def shown(value: Any) -> str:
    """``value`` as one token of a text line: as it is when plain, else JSON-quoted (so a value
    from outside — a tenant name, a request path — cannot break or forge a line)."""
    if isinstance(value, (list, tuple)):
        value = ",".join(str(v) for v in value)
    text = str(value)
    if text and all(c in _PLAIN for c in text):
        return text
    return json.dumps(text, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """``LEVEL logger k=v …: message`` (the context fields only; see the module doc)."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        found = _with_context(record)
        if found:
            where = " ".join(f"{k}={shown(found[k])}" for k in CONTEXT if k in found)
            if where:
                return f"{record.levelname} {record.name} {where}: {record.message}"
        return f"{record.levelname} {record.name}: {record.message}"


def _utc(created: float) -> str:
    seconds = int(created)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{int((created - seconds) * 1000):03d}Z"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts``, ``level``, ``logger``, ``message``, the fields, ``exc``."""

    def format(self, record: logging.LogRecord) -> str:
        from runner.secrets import redact_json

        doc: dict[str, Any] = {"ts": _utc(record.created), "level": record.levelname, "logger": record.name,
                               "message": record.getMessage()}
        found = _with_context(record)
        if found:
            for key, value in found.items():
                doc[f"field_{key}" if key in _BASE else key] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            doc["exc"] = record.exc_text
        return redact_json(json.dumps(doc, ensure_ascii=False, default=str))
