"""Expression filters for Defender data (``register_filters``): ``alerts``, ``devices`` and
``entities`` of incidents and alerts, in every shape this plugin's actions and poll sources give
(the normalized incidents of ``defender.list_incidents``) and the raw XDR, Graph and MDE ones.

    ${{ steps.incidents.output | devices }}
    ${{ steps.incidents.output | entities('Ip') }}
"""

from __future__ import annotations

from typing import Any, Callable, Mapping


def _as_list(value: Any) -> list:
    if value is None:
        return []
    if isinstance(value, Mapping):
        return [value]
    return list(value)


def _alerts_of(obj: Any) -> list:
    """An incident's alerts, or the object itself when it is an alert."""
    alerts = obj.get("alerts") if isinstance(obj, Mapping) and "alerts" in obj else [obj]
    return [a for a in alerts or [] if isinstance(a, Mapping)]


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
        for alert in _alerts_of(obj):
            for dev in alert.get("devices") or []:
                key = next((dev.get(k) for k in DEVICE_ID_KEYS if isinstance(dev, Mapping) and dev.get(k)), None)
                if not key:
                    dropped += 1
                elif key not in seen:
                    seen[key] = dev
    if dropped:
        from runner.plugin import warn

        fields = "'deviceId' (XDR 'mdatpDeviceId', Graph 'mdeDeviceId', MDE 'id')"
        warn(f"devices: no device has {fields}: {dropped} device(s) dropped, none left to act on" if not seen
             else f"devices: {dropped} device(s) dropped for lack of {fields}")
    return list(seen.values())


def f_entities(value: Any, entity_type: str | None = None) -> list:
    """Entities of incidents or alerts, optionally of one ``entityType`` (``File``, ``Ip``...)."""
    out = []
    for obj in _as_list(value):
        for alert in _alerts_of(obj):
            for ent in alert.get("entities") or []:
                if entity_type is None or str(ent.get("entityType", "")).lower() == entity_type.lower():
                    out.append(ent)
    return out


FILTERS: dict[str, Callable] = {"alerts": f_alerts, "devices": f_devices, "entities": f_entities}
