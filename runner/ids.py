"""Identifier types for action inputs: declare the form an id has, and a value of another form is
refused before any API call.

Use one as the type of an input model's field (``device: DeviceId = Field(...)``): a value of the
wrong form is then an input error that names the step and the field — and, for a literal in the
playbook, a ``soar validate`` error — and an id that goes into an API URL path can carry nothing
but id characters. The API client escapes every ``{name}`` path segment anyway
(:mod:`runner.apis.paths`); these types are the first line, because some servers decode ``%2F``
back into ``/``.

- :data:`Guid` — a GUID ``8-4-4-4-12`` hex digits, given in lower case.
- :func:`id_type` — a new text id type from a regular expression (matched whole) and an example::

      DeviceId = ids.id_type("a device id: 40 hex characters", "[0-9a-fA-F]{40}",
                             "1e5bc9d7e413ddd7902c2932e418702b84d0cc07", lower=True)

- :func:`number_id` — a new integer id type (a non-negative 64-bit number, also given as digits).
- :func:`check` — applies one of them to a value outside a model (``check(Guid, value)``).

The JSON schema of each type (``soar actions show``, the playbook schema) carries its pattern.
A vendor's own id forms (its device, alert, incident ids) are declared with these in its plugin.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Callable

from pydantic import BeforeValidator, TypeAdapter, WithJsonSchema

from runner.errors import InvalidValue

__all__ = ["GUID_PATTERN", "Guid", "check", "id_type", "number_id"]

#: A GUID, ``8-4-4-4-12`` hex digits (either case), as a regular expression.
GUID_PATTERN = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_MAX_NUMBER = 2 ** 63


def _type(base: type, validate: Callable[[Any], Any], schema: dict) -> Any:
    return Annotated[base, BeforeValidator(validate), WithJsonSchema(schema)]


def id_type(what: str, pattern: str, example: str, *, lower: bool = False, digits_from_int: bool = False) -> Any:
    """A text id type: values must match ``pattern`` whole (a Python regular expression).

    ``what`` and ``example`` make the error: ``must be <what>, e.g. <example>``. ``lower``: the
    value is given on in lower case (matched before). ``digits_from_int``: a non-negative integer
    is accepted as its digits (for ids an API sends as numbers but takes as text). ``example``
    must match ``pattern`` (checked here, so a wrong declaration fails at import)."""
    rx = re.compile(pattern)
    if not rx.fullmatch(example):
        raise ValueError(f"id_type {what!r}: the example {example!r} does not match {pattern!r}")

    def validate(value: Any) -> str:
        if digits_from_int and type(value) is int and value >= 0:
            value = str(value)
        if not isinstance(value, str) or not rx.fullmatch(value):
            raise InvalidValue(f"must be {what}, e.g. {example}")
        return value.lower() if lower else str(value)

    return _type(str, validate, {"type": "string", "pattern": f"^{pattern}$"})


def number_id(what: str, example: int) -> Any:
    """An integer id type: a number from 0 to 2**63 - 1, given as an integer or as its digits
    (the form an API that sends the number as text uses). Error: ``must be <what>: a number, e.g.
    <example>``."""
    def validate(value: Any) -> int:
        if isinstance(value, str) and re.fullmatch(r"[0-9]{1,19}", value):
            value = int(value)
        if type(value) is not int or not 0 <= value < _MAX_NUMBER:
            raise InvalidValue(f"must be {what}: a number, e.g. {example}")
        return value

    return _type(int, validate, {"type": "integer", "minimum": 0})


Guid = id_type("a GUID", GUID_PATTERN, "5382f7ea-7557-4ab7-9782-d50480024a4e", lower=True)

_adapters: dict[int, TypeAdapter] = {}


def check(kind: Any, value: Any) -> Any:
    """``value`` validated (and normalised) as ``kind``, a type made by this module; a value of
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
