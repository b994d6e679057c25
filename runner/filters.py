"""The built-in expression filters and globals (documented in docs/playbooks.md#filters).

Plugins add filters through the ``soar_filters`` hook; :mod:`runner.expressions` installs these
first.
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


def f_alerts(incidents: Any) -> list:
    """All alerts of one incident or a list of incidents (XDR ``alerts`` or Graph ``alerts``)."""
    out = []
    for inc in _as_list(incidents):
        out.extend(inc.get("alerts") or [])
    return out


# Where a device's Defender for Endpoint machine id is: the normalized incidents of
# defender.list_incidents (``deviceId``), a raw XDR incident (``mdatpDeviceId``), a raw Graph
# deviceEvidence (``mdeDeviceId``), an MDE machine (``id``).
DEVICE_ID_KEYS = ("deviceId", "mdatpDeviceId", "mdeDeviceId", "id")


def f_devices(value: Any) -> list:
    """Unique devices (by machine id: ``deviceId``, else ``mdatpDeviceId``, ``mdeDeviceId``,
    ``id``) of incidents or alerts, in first-seen order. A device with none of them is dropped,
    and a step warning names the field (a run that acts on nothing must not look like success)."""
    seen: dict[str, Any] = {}
    dropped = 0
    for obj in _as_list(value):
        alerts = obj.get("alerts") if isinstance(obj, Mapping) and "alerts" in obj else [obj]
        for alert in alerts or []:
            for dev in (alert.get("devices") or []) if isinstance(alert, Mapping) else []:
                key = next((dev.get(k) for k in DEVICE_ID_KEYS if isinstance(dev, Mapping) and dev.get(k)), None)
                if not key:
                    dropped += 1
                elif key not in seen:
                    seen[key] = dev
    if dropped:
        from runner.notes import warn

        fields = "'deviceId' (XDR 'mdatpDeviceId', Graph 'mdeDeviceId', MDE 'id')"
        warn(f"devices: no device has {fields}: {dropped} device(s) dropped, none left to act on" if not seen
             else f"devices: {dropped} device(s) dropped for lack of {fields}")
    return list(seen.values())


def f_entities(value: Any, entity_type: str | None = None) -> list:
    """Entities of incidents or alerts, optionally of one ``entityType`` (``File``, ``Ip``...)."""
    out = []
    for obj in _as_list(value):
        alerts = obj.get("alerts") if isinstance(obj, Mapping) and "alerts" in obj else [obj]
        for alert in alerts or []:
            for ent in (alert.get("entities") or []) if isinstance(alert, Mapping) else []:
                if entity_type is None or str(ent.get("entityType", "")).lower() == entity_type.lower():
                    out.append(ent)
    return out


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
    """Current UTC time, ISO 8601 with ``Z`` (the format Defender uses)."""
    return _iso(_dt.datetime.now(_dt.timezone.utc))


def g_ago(duration: Any) -> str:
    """UTC time ``duration`` ago (``'24h'``, ``'30m'``), ISO 8601 with ``Z``."""
    from runner.durations import parse_duration

    return _iso(_dt.datetime.now(_dt.timezone.utc) - _dt.timedelta(seconds=parse_duration(duration)))


def _iso(t: _dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


BUILTIN_FILTERS: dict[str, Callable] = {
    "alerts": f_alerts, "devices": f_devices, "entities": f_entities, "flatten": f_flatten,
    "unique_by": f_unique_by, "to_json": f_to_json, "from_json": f_from_json,
    "defang": f_defang, "regex_search": f_regex_search,
}
BUILTIN_GLOBALS: dict[str, Callable] = {"now": g_now, "ago": g_ago}
