"""Identifier types for action inputs: the form each id of the Microsoft security APIs has.

Use them as the type of an input model's field (``machine_id: MachineId = Field(...)``): a value
of the wrong form is then an input error that names the step and the field, raised before any
API call — and an id that goes into an API URL path can carry nothing but id characters.
The API client escapes every ``{name}`` path segment anyway (:mod:`runner.apis.paths`); these
types are the first line, because some servers decode ``%2F`` back into ``/``.

Strict where Microsoft documents the form, tolerant-but-safe where it does not:

- :data:`MachineId` — a Defender for Endpoint machine (device) id: 40 hex characters (a SHA-1),
  given in lower case.
- :data:`MachineActionId`, :data:`Guid` — a GUID ``8-4-4-4-12`` hex digits, given in lower case.
- :data:`IncidentId` — a Defender XDR ``incidentId`` (an integer) or a Graph incident ``id`` (the
  same number as text): an integer.
- :data:`IndicatorId` — a Defender for Endpoint custom indicator id (digits, e.g. ``"995"``): text.
- :data:`AlertId` — an alert id. Defender for Endpoint's are ``da``/``ed`` + digits + ``_`` + a
  signed number (``da637472900382838869_1364969609``); alerts of other sources seen through the
  same APIs have other prefixes and GUID-like tails (``faf8edc936-85f8-a603-b800-08d8525cf099``,
  ``caD76232A5-...``). Accepted: 1–128 letters, digits, ``_`` and ``-``, starting with a letter or
  digit.
- :data:`ComputerName` — a device's DNS name or host name (``ws-001.contoso.com``).

:func:`check` applies one of them to a value outside a model (``check(MachineId, value)``).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Callable

from pydantic import BeforeValidator, TypeAdapter, WithJsonSchema

from runner.errors import InvalidValue

__all__ = ["AlertId", "ComputerName", "Guid", "IncidentId", "IndicatorId", "MachineActionId", "MachineId",
           "check"]

_GUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"


def _text_id(what: str, pattern: str, example: str, *, lower: bool = False,
             digits_from_int: bool = False) -> tuple[Callable[[Any], str], dict]:
    rx = re.compile(pattern)

    def validate(value: Any) -> str:
        if digits_from_int and type(value) is int and value >= 0:
            value = str(value)
        if not isinstance(value, str) or not rx.fullmatch(value):
            raise InvalidValue(f"must be {what}, e.g. {example}")
        return str(value).lower() if lower else str(value)

    return validate, {"type": "string", "pattern": f"^{pattern}$"}


def _incident(value: Any) -> int:
    if isinstance(value, str) and re.fullmatch(r"[0-9]{1,19}", value):
        value = int(value)
    if type(value) is not int or not 0 <= value < 2 ** 63:
        raise InvalidValue("must be an incident id: a number, e.g. 1126093")
    return value


def _type(base: type, validate: Callable[[Any], Any], schema: dict) -> Any:
    return Annotated[base, BeforeValidator(validate), WithJsonSchema(schema)]


MachineId = _type(str, *_text_id("a machine id: 40 hex characters", "[0-9a-fA-F]{40}",
                                 "1e5bc9d7e413ddd7902c2932e418702b84d0cc07", lower=True))
Guid = _type(str, *_text_id("a GUID", _GUID, "5382f7ea-7557-4ab7-9782-d50480024a4e", lower=True))
MachineActionId = _type(str, *_text_id("a machine action id (a GUID)", _GUID,
                                       "5382f7ea-7557-4ab7-9782-d50480024a4e", lower=True))
IndicatorId = _type(str, *_text_id("an indicator id: digits", "[0-9]{1,19}", "995", digits_from_int=True))
AlertId = _type(str, *_text_id("an alert id: letters, digits, _ and - (up to 128)",
                               "[A-Za-z0-9][A-Za-z0-9_-]{0,127}", "da637472900382838869_1364969609"))
ComputerName = _type(str, *_text_id("a computer DNS name or host name", rf"{_LABEL}(?:\.{_LABEL})*",
                                    "ws-001.contoso.com", lower=True))
IncidentId = _type(int, _incident, {"type": "integer", "minimum": 0})

_adapters: dict[int, TypeAdapter] = {}


def check(kind: Any, value: Any) -> Any:
    """``value`` validated (and normalised) as ``kind``, one of this module's types; a value of
    the wrong form raises :class:`~runner.errors.InvalidValue`."""
    adapter = _adapters.get(id(kind))
    if adapter is None:
        adapter = _adapters[id(kind)] = TypeAdapter(kind)
    try:
        return adapter.validate_python(value)
    except ValueError as exc:  # a pydantic ValidationError: the validator's own message
        errs = getattr(exc, "errors", None)
        cause = errs()[0].get("ctx", {}).get("error") if errs else None
        raise (cause if isinstance(cause, InvalidValue) else InvalidValue(str(exc))) from None
