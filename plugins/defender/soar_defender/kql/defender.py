"""Defender's advanced-hunting functions: ``invoke FileProfile()``, ``invoke SeenBy()``,
``invoke DeviceFromIP()``, ``AssignedIPAddresses(device [, time])`` and
``InboundExternalNetworkEvents(device)``.

The simulator has no global file intelligence and no device-discovery data: ``FileProfile()``
adds the columns of Microsoft's reference with empty values (null, or '' for strings;
``ProfileAvailability`` is ``Missing`` for the rows it was asked to enrich), and ``SeenBy()`` an
empty ``SeenBy`` list. ``DeviceFromIP()`` and ``AssignedIPAddresses()`` read the tenant's
DeviceNetworkInfo reports (the latest one at or before the time asked, per device).
"""

from __future__ import annotations

import ipaddress
import json
from datetime import datetime, timedelta

from . import syntax as s
from .compiler import compile_expr
from .errors import did_you_mean, semantic_error
from .model import Column, Relation, null_of, to_kql_string
from .tabular import count_argument

FILE_PROFILE_COLUMNS = [
    ("SHA1", "string"), ("SHA256", "string"), ("MD5", "string"), ("FileSize", "long"),
    ("GlobalPrevalence", "long"), ("GlobalFirstSeen", "datetime"), ("GlobalLastSeen", "datetime"),
    ("Signer", "string"), ("Issuer", "string"), ("SignerHash", "string"), ("IsCertificateValid", "bool"),
    ("IsRootSignerMicrosoft", "bool"), ("SignatureState", "string"), ("IsExecutable", "bool"),
    ("ThreatName", "string"), ("Publisher", "string"), ("SoftwareName", "string"),
    ("ProfileAvailability", "string"),
]
_FILE_ID_COLUMNS = ("SHA1", "SHA256", "InitiatingProcessSHA1", "InitiatingProcessSHA256")
ASSIGNED_IP_COLUMNS = [("Timestamp", "datetime"), ("IPAddress", "string"), ("IPType", "string"),
                       ("NetworkAdapterType", "string"), ("ConnectedNetworks", "string")]


def file_profile(ev, call: s.Call, rel: Relation, env: dict) -> Relation:
    types = rel.types()
    id_column, limit = "SHA1", 100
    if call.args:
        first = call.args[0]
        if type(first) is s.Literal and first.type == "string":  # FileProfile("SHA1", 500)
            first = s.Name(first.value, first.pos)
        if type(first) is not s.Name or first.name not in types:
            name = getattr(first, "name", "")
            raise semantic_error("invoke", getattr(first, "pos", call.pos),
                                 f"FileProfile() takes a file hash column ({', '.join(_FILE_ID_COLUMNS)}), "
                                 f"and '{name}' is not a column here", hint=did_you_mean(name, types), name=name)
        id_column = first.name
    elif "SHA1" not in types:
        raise semantic_error("invoke", call.pos, "FileProfile() needs a SHA1 column, or the hash column to use "
                                                 "as its first argument", name="FileProfile")
    if len(call.args) > 1:
        limit = count_argument(ev, s.Operator("invoke", (), call.pos), call.args[1], env)
    added = [Column(n, k) for n, k in FILE_PROFILE_COLUMNS if n not in types]
    empty = {c.name: null_of(c.type) for c in added}
    rows = []
    for i, r in enumerate(rel.rows):
        row = {**r, **empty}
        if "ProfileAvailability" in empty and i < limit and r[id_column]:
            row["ProfileAvailability"] = "Missing"
        rows.append(row)
    return Relation(rel.columns + added, rows)


def _seen_by(ev, call: s.Call, rel: Relation, env: dict) -> Relation:
    rows = [{**r, "SeenBy": []} for r in rel.rows]
    return Relation([c for c in rel.columns if c.name != "SeenBy"] + [Column("SeenBy", "dynamic")], rows)


def _when(ev, call: s.Call, index: int, env: dict) -> datetime | None:
    if len(call.args) <= index:
        return None
    value = compile_expr(call.args[index], ev.scope(Relation([], []), env, "invoke"))
    if not value.const or not isinstance(value.value, (datetime, type(None))):
        raise semantic_error(None, call.pos, f"argument {index + 1} of {call.name}() must be a datetime",
                             name=call.name)
    return value.value


def _latest_reports(ev, env: dict, at: datetime | None) -> list[dict]:
    """Each network adapter's latest DeviceNetworkInfo report at or before ``at``."""
    if "DeviceNetworkInfo" not in ev.tables:
        return []
    latest: dict = {}
    for r in ev.source(s.TableRef("DeviceNetworkInfo", (1, 1)), env).rows:
        stamp = r.get("Timestamp")
        if at is not None and (stamp is None or stamp > at):
            continue
        key = (r.get("DeviceId"), r.get("NetworkAdapterName") or r.get("MacAddress"))
        if key not in latest or (stamp or datetime.min) > (latest[key].get("Timestamp") or datetime.min):
            latest[key] = r
    return list(latest.values())


def _addresses(report: dict) -> list[str]:
    value = report.get("IPAddresses")
    try:
        items = json.loads(value) if isinstance(value, str) else value
    except ValueError:
        return []
    out = []
    for item in items if isinstance(items, list) else []:
        address = item.get("IPAddress") if isinstance(item, dict) else item
        if isinstance(address, str) and address:
            out.append(address)
    return out


def _ip_type(address: str) -> str:
    try:
        return "Private" if ipaddress.ip_address(address).is_private else "Public"
    except ValueError:
        return ""


def _device_from_ip(ev, call: s.Call, rel: Relation, env: dict) -> Relation:
    """``invoke DeviceFromIP()``: each row's ``IP`` with the devices that held it."""
    if "IP" not in rel.types():
        raise semantic_error("invoke", call.pos, "DeviceFromIP() reads the column 'IP' (project IP = LocalIP "
                                                 "first)", hint=did_you_mean("IP", rel.types()), name="DeviceFromIP")
    owners: dict[str, list[str]] = {}
    for report in _latest_reports(ev, env, _when(ev, call, 1, env)):
        for address in _addresses(report):
            ids = owners.setdefault(address, [])
            if report.get("DeviceId") not in ids:
                ids.append(report.get("DeviceId"))
    rows = [{"IP": r["IP"], "DeviceId": d} for r in rel.rows for d in owners.get(to_kql_string(r["IP"]), [])]
    return Relation([Column("IP", "string"), Column("DeviceId", "string")], rows)


def assigned_ip_addresses(ev, call: s.Call, env: dict) -> Relation:
    """``AssignedIPAddresses(DeviceId or DeviceName [, time])``: the device's latest addresses."""
    if not call.args:
        raise semantic_error(None, call.pos, "AssignedIPAddresses() needs a device id or name",
                             name="AssignedIPAddresses")
    device = compile_expr(call.args[0], ev.scope(Relation([], []), env, "AssignedIPAddresses"))
    wanted = to_kql_string(device.value).lower() if device.const else ""
    rows = []
    for report in _latest_reports(ev, env, _when(ev, call, 1, env)):
        name = to_kql_string(report.get("DeviceName")).lower()
        if wanted not in (to_kql_string(report.get("DeviceId")).lower(), name, name.split(".")[0]):
            continue
        for address in _addresses(report):
            rows.append({"Timestamp": report.get("Timestamp"), "IPAddress": address, "IPType": _ip_type(address),
                         "NetworkAdapterType": to_kql_string(report.get("NetworkAdapterType")),
                         "ConnectedNetworks": to_kql_string(report.get("ConnectedNetworks"))})
    return Relation([Column(n, k) for n, k in ASSIGNED_IP_COLUMNS], rows)


INBOUND_DAYS = 7


def inbound_external_network_events(ev, call: s.Call, env: dict) -> Relation:
    """``InboundExternalNetworkEvents(DeviceId)``: the device's DeviceNetworkEvents of the last
    7 days that came in from a public IP address (the internet-facing devices page's function)."""
    if len(call.args) != 1:
        raise semantic_error(None, call.pos, "InboundExternalNetworkEvents() takes one device id",
                             name="InboundExternalNetworkEvents")
    device = compile_expr(call.args[0], ev.scope(Relation([], []), env, "InboundExternalNetworkEvents"))
    if not device.const:
        raise semantic_error(None, call.pos, "the device id of InboundExternalNetworkEvents() must be a constant",
                             name="InboundExternalNetworkEvents")
    if "DeviceNetworkEvents" not in ev.tables:
        return Relation([], [])
    events = ev.source(s.TableRef("DeviceNetworkEvents", call.pos), env)
    wanted, since = to_kql_string(device.value), ev.now - timedelta(days=INBOUND_DAYS)
    rows = [r for r in events.rows if r.get("DeviceId") == wanted and r.get("RemoteIPType") == "Public"
            and r.get("ActionType") == "InboundConnectionAccepted" and (r.get("Timestamp") or since) > since]
    return Relation(list(events.columns), rows)


#: The functions called with 'invoke' (after a table).
INVOKED = {"FileProfile": file_profile, "SeenBy": _seen_by, "DeviceFromIP": _device_from_ip}
