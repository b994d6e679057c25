"""What the run store hands back (frozen records of plain values), run ids, and safe JSON."""

from __future__ import annotations

import json
import math
import os
import threading
import time
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from typing import Any

from runner.errors import StoreError
from runner.jsoncodec import dumps_text
from runner.secrets import MASK, Secret, contains_secret, mask, redact, redact_json

from .tables import NO_ITEM


@dataclass(frozen=True)
class RunRecord:
    """One playbook run, exactly as stored: enough for any process to resume it."""

    id: str
    parent_id: str | None
    playbook_name: str
    playbook_path: str | None
    playbook_text: str
    tenant: str | None
    inputs: Any
    trigger: Any
    dry_run: bool
    status: str
    outputs: Any
    error: Any
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime
    origin: Any = None  # how the run was started (runner.cli.origin), None for runs before it was kept
    rerun_of: str | None = None
    cancel_requested_at: datetime | None = None
    cancel_requested_by: str | None = None


@dataclass(frozen=True)
class StepRecord:
    """One attempt of one step (or of one foreach item of a step). ``item`` is None outside a foreach.

    ``output_redacted`` is true when the real output held a secret: the stored output is masked, so
    a resumed run must run that (read) step again to get the value back.
    """

    run_id: str
    step_id: str
    item: int | None
    attempt: int
    action: str
    effect: str
    status: str
    inputs: Any
    output: Any
    output_redacted: bool
    error: Any
    started_at: datetime | None
    finished_at: datetime | None
    # the API calls the attempt made: {"total": n, "calls": [{api, tenant, method, path, status,
    # ms, throttled, waited_s}, ...]} (the first ones when there were many); None: it made none
    calls: Any = None


@dataclass(frozen=True)
class ApprovalRecord:
    """An approval gate on a step. ``status``: pending | approved | denied | expired | cancelled.

    ``plan`` is what approving lets the step do: ``{"action", "effect", "items": [{"item", "name",
    "effect", "inputs"}], "skipped", "errors"}`` with the inputs resolved and masked (None for
    gates recorded before it was kept)."""

    run_id: str
    step_id: str
    item: int | None
    status: str
    message: str
    approvers: list[str]
    requested_at: datetime
    expires_at: datetime | None
    decided_at: datetime | None
    decided_by: str | None
    reason: str | None
    tenant: str | None = None
    playbook: str | None = None
    step_name: str | None = None
    plan: Any = None

    def as_doc(self) -> dict:
        """As JSON data (times in ISO 8601): ``soar approvals list --json``, ``GET /approvals``."""
        def when(value: datetime | None) -> str | None:
            return value.isoformat() if value is not None else None

        return {"run_id": self.run_id, "step": self.step_id, "step_name": self.step_name, "item": self.item,
                "status": self.status, "tenant": self.tenant, "playbook": self.playbook,
                "message": self.message, "approvers": list(self.approvers),
                "requested_at": when(self.requested_at), "expires_at": when(self.expires_at),
                "decided_at": when(self.decided_at), "decided_by": self.decided_by, "reason": self.reason,
                "plan": self.plan}


@dataclass(frozen=True)
class EventRecord:
    """One audit-trail entry. ``run_id`` is None for events not tied to a run."""

    id: int
    run_id: str | None
    ts: datetime
    kind: str
    step_id: str | None
    data: Any
    actor: str | None


def run_record(row) -> RunRecord:
    m = row._mapping
    return RunRecord(
        id=m["id"], parent_id=m["parent_id"], playbook_name=m["playbook_name"],
        playbook_path=m["playbook_path"], playbook_text=m["playbook_text"], tenant=m["tenant"],
        inputs=m["inputs"], trigger=m["trigger"], dry_run=bool(m["dry_run"]), status=m["status"],
        outputs=m["outputs"], error=m["error"], created_at=m["created_at"],
        started_at=m["started_at"], finished_at=m["finished_at"], updated_at=m["updated_at"],
        origin=m["origin"], rerun_of=m["rerun_of"], cancel_requested_at=m["cancel_requested_at"],
        cancel_requested_by=m["cancel_requested_by"],
    )


def step_record(m) -> StepRecord:
    """From a row mapping, or from a dict of already-decoded values (a buffered row)."""
    return StepRecord(
        run_id=m["run_id"], step_id=m["step_id"], item=None if m["item"] == NO_ITEM else m["item"],
        attempt=m["attempt"], action=m["action"], effect=m["effect"], status=m["status"],
        inputs=m["inputs"], output=m["output"], output_redacted=bool(m["output_redacted"]),
        error=m["error"], started_at=m["started_at"], finished_at=m["finished_at"], calls=m["calls"],
    )


def approval_record(row, *, now: datetime | None = None) -> ApprovalRecord:
    """A pending approval whose ``expires_at`` has passed reads as ``expired``."""
    m = row._mapping
    status = m["status"]
    if status == "pending" and now is not None and m["expires_at"] is not None and m["expires_at"] <= now:
        status = "expired"
    return ApprovalRecord(
        run_id=m["run_id"], step_id=m["step_id"], item=None if m["item"] == NO_ITEM else m["item"],
        status=status, message=m["message"], approvers=list(m["approvers"] or []),
        requested_at=m["requested_at"], expires_at=m["expires_at"], decided_at=m["decided_at"],
        decided_by=m["decided_by"], reason=m["reason"], tenant=m["tenant"], playbook=m["playbook"],
        step_name=m["step_name"], plan=m["plan"],
    )


def event_record(row) -> EventRecord:
    m = row._mapping
    return EventRecord(id=m["id"], run_id=m["run_id"], ts=m["ts"], kind=m["kind"],
                       step_id=m["step_id"], data=m["data"], actor=m["actor"])


# ---- run ids ----------------------------------------------------------------------------------

_B32 = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case (easier to type)
_id_lock = threading.Lock()
_last = [0, 0]  # ms, random part of the last id made by this process


def new_run_id() -> str:
    """``r-`` + a ULID (48-bit ms time, 80 random bits): unique, and sorts by creation time.

    Ids made in the same millisecond by this process increase (the random part is incremented),
    so they sort in creation order too.
    """
    with _id_lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last[0]:
            ms, rand = _last[0], (_last[1] + 1) & ((1 << 80) - 1)
        else:
            rand = int.from_bytes(os.urandom(10), "big")
        _last[0], _last[1] = ms, rand
    n = (ms << 80) | rand
    return "r-" + "".join(_B32[(n >> shift) & 31] for shift in range(125, -1, -5))


# ---- JSON ----------------------------------------------------------------------------------
#
# A value is stored as JSON text made in one pass: the encoder writes a Secret as its masked text
# (``***``), then one text-level redaction masks every known secret value, plain or JSON-escaped
# (:func:`runner.secrets.redact_json`), wherever it appears: in values, in keys, or in the str()
# of an object JSON cannot encode.


def _fallback(value: Any) -> Any:
    # values that json cannot encode: show them as a person would read them, still masked
    if isinstance(value, Secret):
        return str(value)  # *** (or the masked text of a composite such as "Bearer ***")
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    dump = getattr(value, "model_dump", None)  # pydantic models (their Secret fields dump as ***)
    if callable(dump):
        return dump(mode="json")
    return str(value)


def _storable(value: Any) -> Any:
    # NaN/Infinity are not JSON, and PostgreSQL refuses NUL in text: null and U+FFFD instead
    # (text is redacted first: a known value holding a NUL would not be found after)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Secret):
        return str(value)
    if isinstance(value, str):
        return redact(value).replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {_storable(k): _storable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_storable(v) for v in value]
    return value


try:  # the C encoder, made once: json.dumps() builds a new one per call, 3x slower on small values
    from json.encoder import c_make_encoder, encode_basestring

    _c_encoder = c_make_encoder(None, _fallback, encode_basestring, None, ":", ",", False, False, False)

    def _encode(value: Any) -> str:
        return "".join(_c_encoder(value, 0))
except (ImportError, TypeError):  # no _json accelerator (or a different signature)
    _encode = json.JSONEncoder(default=_fallback, allow_nan=False, separators=(",", ":"),
                               ensure_ascii=False, check_circular=False).encode


def _json_text(value: Any) -> str:
    """JSON text of ``value`` with Secrets written as ``***``; known values not yet redacted."""
    text = dumps_text(value, _fallback)  # orjson, about 5x the stdlib encoder on a step row
    if text is not None and "\\u0000" not in text:
        return text
    try:
        try:
            text = _encode(value)
            if "\\u0000" in text:
                text = _encode(_storable(value))
        except ValueError:
            text = _encode(_storable(value))
    except RecursionError:
        raise StoreError("cannot store a value as JSON: it contains itself (circular reference) "
                         "or is nested too deeply",
                         hint="give the store plain data (dicts, lists, strings, numbers, booleans, null)"
                         ) from None
    except (ValueError, TypeError) as exc:  # exotic keys
        raise StoreError(
            f"cannot store a value as JSON: {exc}",
            hint="give the store plain data (dicts, lists, strings, numbers, booleans, null)",
        ) from None
    return text


def _redacted(text: str) -> str:
    safe = redact_json(text)
    if safe is not text and safe != text:
        try:
            json.loads(safe)
        except ValueError:  # the secret straddled JSON syntax: store nothing of it
            return json.dumps(MASK)
    return safe


def encode(masked: Any) -> str | None:
    """Serialise a value for a JSON column (None stays SQL NULL), secrets masked.

    NaN/Infinity (not JSON) are stored as null, NUL characters (refused by PostgreSQL) as U+FFFD,
    the same on every backend.
    """
    return None if masked is None else _redacted(_json_text(masked))


def masked(value: Any) -> Any:
    """:func:`runner.secrets.mask`, with a circular structure reported as a StoreError."""
    try:
        return mask(value)
    except RecursionError:
        raise StoreError("cannot store a value as JSON: it contains itself (circular reference)",
                         hint="give the store plain data (dicts, lists, strings, numbers, booleans, null)"
                         ) from None


def to_json(value: Any) -> str | None:
    """Serialise ``value`` for a JSON column with every secret masked (see :func:`encode`).

    The store does this when it is called, not when a buffered row is written, so an unstorable
    value fails at the call that brought it and a buffered row cannot change afterwards.
    """
    return None if value is None else _redacted(_json_text(value))


def to_json_flagged(value: Any) -> tuple[str | None, bool]:
    """:func:`to_json`, and whether masking hid something: a :class:`~runner.secrets.Secret`
    (as :func:`~runner.secrets.contains_secret` finds it) or a known secret value in text."""
    if value is None:
        return None, False
    text = _json_text(value)
    safe = _redacted(text)
    return safe, safe is not text or (MASK in text and contains_secret(value))
