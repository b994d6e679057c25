"""The forms of the Microsoft security APIs' ids, as input types (built with ``runner.plugin.ids``).

Strict where Microsoft documents the form, tolerant-but-safe where it does not:

- :data:`MachineId` — a Defender for Endpoint machine (device) id: 40 hex characters (a SHA-1),
  given in lower case.
- :data:`MachineActionId` — a GUID ``8-4-4-4-12`` hex digits, given in lower case.
- :data:`IncidentId` — a Defender XDR ``incidentId`` (an integer) or a Graph incident ``id`` (the
  same number as text): an integer.
- :data:`IndicatorId` — a Defender for Endpoint custom indicator id (digits, e.g. ``"995"``): text.
- :data:`AlertId` — an alert id. Defender for Endpoint's are ``da``/``ed`` + digits + ``_`` + a
  signed number (``da637472900382838869_1364969609``); alerts of other sources seen through the
  same APIs have other prefixes and GUID-like tails (``faf8edc936-85f8-a603-b800-08d8525cf099``,
  ``caD76232A5-...``). Accepted: 1–128 letters, digits, ``_`` and ``-``, starting with a letter or
  digit.
- :data:`ComputerName` — a device's DNS name or host name (``ws-001.contoso.com``).

``ids.check(MachineId, value)`` applies one of them to a value outside a model.
"""

from __future__ import annotations

from runner.plugin import ids

__all__ = ["AlertId", "ComputerName", "IncidentId", "IndicatorId", "MachineActionId", "MachineId", "check"]

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"

check = ids.check

MachineId = ids.id_type("a machine id: 40 hex characters", "[0-9a-fA-F]{40}",
                        "1e5bc9d7e413ddd7902c2932e418702b84d0cc07", lower=True)
MachineActionId = ids.id_type("a machine action id (a GUID)", ids.GUID_PATTERN,
                              "5382f7ea-7557-4ab7-9782-d50480024a4e", lower=True)
IndicatorId = ids.id_type("an indicator id: digits", "[0-9]{1,19}", "995", digits_from_int=True)
AlertId = ids.id_type("an alert id: letters, digits, _ and - (up to 128)", "[A-Za-z0-9][A-Za-z0-9_-]{0,127}",
                      "da637472900382838869_1364969609")
ComputerName = ids.id_type("a computer DNS name or host name", rf"{_LABEL}(?:\.{_LABEL})*", "ws-001.contoso.com",
                           lower=True)
IncidentId = ids.number_id("an incident id", 1126093)
