"""Seed data for the simulated hunting tables, consistent with the simulator's tenant.

:func:`generate_tables` turns the tenant's MDE machines and alerts into realistic rows for the
tables in :data:`SCHEMAS` (tables with nothing to seed stay empty). The same inputs and seed
always give the same rows. Besides background noise (device activity here, users and sign-ins in
:mod:`.identities`, and in the ``seed_*`` modules: vulnerability management (:mod:`.seed_tvm`),
DeviceEvents (:mod:`.seed_device_events`), registry, DLL loads, adapters and signers
(:mod:`.seed_device_state`), directory queries and changes (:mod:`.seed_identity_events`), links,
clicks and removed mail (:mod:`.seed_mail_activity`)) it holds the attack story of :mod:`.story`
(a phishing chain on the device of the alert that carries it) and planted known-bad files that
hunting playbooks can find:

* ``invoice_viewer.exe`` (:data:`KNOWN_BAD_SHA256`) arrives by a phishing mail, is written to
  Downloads and run on the two riskiest devices, and calls home to :data:`KNOWN_BAD_IP` /
  :data:`KNOWN_BAD_URL`;
* ``mssecsvc.exe`` (:data:`KNOWN_BAD_SHA256_2`), a credential dumper, runs on the riskiest device;
* the riskiest device also sees a burst of failed network logons from :data:`KNOWN_BAD_LOGON_IP`.

:func:`known_bad_hosts` says which devices those are. Every alert's evidence (file hashes, IPs,
URLs) also shows up as events on the alert's machine.
"""

from __future__ import annotations

import hashlib
import json
import random
import uuid
from datetime import datetime, timedelta
from typing import Any, Iterable, Mapping

from .identities import USERS as _USERS
from .identities import object_id, people, user_sid, write_identities
from .model import UTC, Table, parse_datetime
from .schemas import MDE_TABLES, SCHEMAS
from .seed_device_events import write_device_events
from .seed_device_state import write_device_state
from .seed_identity_events import write_identity_events
from .seed_intrusion import write_intrusion
from .seed_mail_activity import write_mail_activity
from .seed_tvm import write_tvm
from .story import Victim, file_hashes, find_alert, write_story

__all__ = ["KNOWN_BAD_FILES", "KNOWN_BAD_IP", "KNOWN_BAD_LOGON_IP", "KNOWN_BAD_MD5", "KNOWN_BAD_SHA1",
           "KNOWN_BAD_SHA256", "KNOWN_BAD_SHA256_2", "KNOWN_BAD_URL", "MDE_TABLES", "SCHEMAS",
           "generate_tables", "known_bad_hosts"]

KNOWN_BAD_SHA256 = "9e45d75dc2a03dd2bda120c11e48e635de3394fb1ae9a1cbcfe0159ce61b4f5f"
KNOWN_BAD_SHA1 = "231361754be44242d1da41ac00175736e9ba7997"
KNOWN_BAD_MD5 = "d3fda539490bfb12081151ae7d308c6a"
KNOWN_BAD_SHA256_2 = "d998da9bb72ee4cfefebba77b13c442b3d5b918f4a284efcf2e10432d0981faa"
KNOWN_BAD_IP = "203.0.113.66"
KNOWN_BAD_URL = "update-check.badcdn.example"
KNOWN_BAD_LOGON_IP = "198.51.100.23"
KNOWN_BAD_FILES = (
    {"FileName": "invoice_viewer.exe", "SHA256": KNOWN_BAD_SHA256, "SHA1": KNOWN_BAD_SHA1,
     "MD5": KNOWN_BAD_MD5, "FileSize": 482_304, "ThreatFamily": "Qakbot", "hosts": 2,
     "CommandLine": '"invoice_viewer.exe" /silent /update'},
    {"FileName": "mssecsvc.exe", "SHA256": KNOWN_BAD_SHA256_2,
     "SHA1": "0ca6ee8fd5cadca3ab731bd1e0f6e5471f7a1b82", "MD5": "249c9bad98fdf549c2330c97ce2e9a41",
     "FileSize": 1_305_088, "ThreatFamily": "Mimikatz", "hosts": 1,
     "CommandLine": '"mssecsvc.exe" privilege::debug sekurlsa::logonpasswords exit'},
)
_RISK = {"High": 3, "Medium": 2, "Low": 1}
_WINDOWS = [  # file name, folder, parent, command line, company
    ("explorer.exe", r"C:\Windows", "userinit.exe", "explorer.exe", "Microsoft Corporation"),
    ("svchost.exe", r"C:\Windows\System32", "services.exe", "svchost.exe -k netsvcs -p -s Schedule", "Microsoft Corporation"),
    ("chrome.exe", r"C:\Program Files\Google\Chrome\Application", "explorer.exe",
     '"chrome.exe" --type=renderer --lang=en-US', "Google LLC"),
    ("msedge.exe", r"C:\Program Files (x86)\Microsoft\Edge\Application", "explorer.exe",
     '"msedge.exe" --single-argument https://contoso.sharepoint.com/', "Microsoft Corporation"),
    ("ms-teams.exe", r"C:\Program Files\WindowsApps\MSTeams", "explorer.exe", '"ms-teams.exe"', "Microsoft Corporation"),
    ("OUTLOOK.EXE", r"C:\Program Files\Microsoft Office\root\Office16", "explorer.exe", '"OUTLOOK.EXE"', "Microsoft Corporation"),
    ("powershell.exe", r"C:\Windows\System32\WindowsPowerShell\v1.0", "explorer.exe",
     "powershell.exe -NoProfile -Command Get-Service | Where-Object Status -eq Running", "Microsoft Corporation"),
    ("cmd.exe", r"C:\Windows\System32", "explorer.exe", "cmd.exe /c ipconfig /all", "Microsoft Corporation"),
    ("conhost.exe", r"C:\Windows\System32", "cmd.exe", r"\??\C:\Windows\system32\conhost.exe 0xffffffff -ForceV1", "Microsoft Corporation"),
    ("OneDrive.exe", r"C:\Program Files\Microsoft OneDrive", "explorer.exe", '"OneDrive.exe" /background', "Microsoft Corporation"),
    ("notepad.exe", r"C:\Windows\System32", "explorer.exe", r'notepad.exe C:\Users\Public\notes.txt', "Microsoft Corporation"),
]
_UNIX = [
    ("bash", "/usr/bin", "sshd", "bash -l", ""), ("sshd", "/usr/sbin", "systemd", "sshd: /usr/sbin/sshd -D", ""),
    ("python3", "/usr/bin", "bash", "python3 /opt/app/worker.py --queue default", ""),
    ("curl", "/usr/bin", "bash", "curl -s https://packages.microsoft.com/config/ubuntu/22.04/prod.list", ""),
    ("cron", "/usr/sbin", "systemd", "/usr/sbin/cron -f", ""), ("apt", "/usr/bin", "bash", "apt list --upgradable", ""),
]
_REMOTES = [("20.190.151.6", "login.microsoftonline.com"), ("52.113.194.132", "teams.microsoft.com"),
            ("13.107.42.14", "contoso.sharepoint.com"), ("142.250.74.36", "www.google.com"),
            ("52.96.165.18", "outlook.office365.com"), ("20.42.65.92", "winatp-gw-eus.microsoft.com")]
_SEVERITY = {"unspecified": "Informational", "informational": "Informational", "low": "Low",
             "medium": "Medium", "high": "High"}
_DETECTION = {"WindowsDefenderAv": "Antivirus", "WindowsDefenderAtp": "EDR", "CustomDetection": "Custom detection",
              "AutomatedInvestigation": "Automated investigation", "WindowsDefenderSmartScreen": "SmartScreen",
              "CustomerTI": "Custom TI"}


def _device(d: Mapping) -> dict:
    device_id = str(d.get("deviceId") or d.get("id") or "")
    name = str(d.get("computerDnsName") or d.get("deviceName") or device_id)
    digest = int(hashlib.sha256(device_id.encode()).hexdigest(), 16)
    domain = name.split(".", 1)[1] if "." in name else "contoso.com"
    return {"id": device_id, "name": name, "os": str(d.get("osPlatform") or "Windows11"),
            "risk": str(d.get("riskScore") or "None"), "domain": domain,
            "ip": str(d.get("lastIpAddress") or f"10.{digest % 200}.{digest // 200 % 250}.{digest // 50000 % 250 + 2}"),
            "public_ip": str(d.get("lastExternalIpAddress") or f"198.18.{digest % 250}.{digest // 250 % 250 + 1}"),
            "users": [_USERS[digest % len(_USERS)], _USERS[digest // 7 % len(_USERS)]],
            "aad_id": str(d.get("aadDeviceId") or "")}


def known_bad_hosts(devices: Iterable[Mapping]) -> dict[str, list[str]]:
    """SHA256 of each known-bad file → the device ids it ran on: the riskiest devices, Windows
    ones first (the files are .exe), ties in the order given."""
    ranked = sorted((_device(d) for d in devices),
                    key=lambda d: (not d["os"].startswith("Windows"), -_RISK.get(d["risk"], 0)))
    return {f["SHA256"]: [d["id"] for d in ranked[:f["hosts"]]] for f in KNOWN_BAD_FILES}


_COLUMNS = {name: frozenset(c.name for c in columns) for name, columns in SCHEMAS.items()}


class _Writer:
    """Collects rows per table, stamping device columns and a per-table ReportId."""

    def __init__(self) -> None:
        self.rows: dict[str, list[dict]] = {t: [] for t in SCHEMAS}

    def add_known(self, table: str, when: datetime, device: dict | None = None, **columns: Any) -> None:
        """:meth:`add` with only the columns SCHEMAS gives ``table``; nothing if it has no such table."""
        keep = _COLUMNS.get(table)
        if keep is not None:
            self.add(table, when, device, **{k: v for k, v in columns.items() if k in keep})

    def add(self, table: str, when: datetime, device: dict | None = None, **columns: Any) -> dict:
        row = {"Timestamp": when, "ReportId": len(self.rows[table]) + 1, **columns}
        if device is not None:
            row.update(DeviceId=device["id"], DeviceName=device["name"])
        if table == "EmailEvents":
            row["ReportId"] = str(row["ReportId"])
        self.rows[table].append(row)
        return row


def _process(w: _Writer, d: dict, when: datetime, rng: random.Random, *, file: str, folder: str,
             command: str, parent: str, user: str, hashes: dict, company: str = "", size: int = 0) -> None:
    windows = d["os"].startswith("Windows")
    sep = "\\" if windows else "/"
    w.add("DeviceProcessEvents", when, d, ActionType="ProcessCreated", FileName=file,
          FolderPath=f"{folder}{sep}{file}", FileSize=size or rng.randrange(50_000, 4_000_000),
          ProcessVersionInfoCompanyName=company, ProcessVersionInfoOriginalFileName=file,
          ProcessId=rng.randrange(1000, 30000), ProcessCommandLine=command, ProcessCreationTime=when,
          ProcessIntegrityLevel="Medium", ProcessTokenElevation="TokenElevationTypeLimited",
          AccountDomain=d["domain"].split(".")[0], AccountName=user, AccountUpn=f"{user}@{d['domain']}",
          AccountSid=user_sid(user),
          LogonId=rng.randrange(100_000, 999_999), InitiatingProcessFileName=parent,
          InitiatingProcessAccountName=user, InitiatingProcessAccountDomain=d["domain"].split(".")[0],
          InitiatingProcessCommandLine=parent, InitiatingProcessId=rng.randrange(500, 30000),
          InitiatingProcessCreationTime=when - timedelta(minutes=rng.randrange(1, 600)),
          InitiatingProcessIntegrityLevel="Medium", **hashes,
          **{f"InitiatingProcess{k}": v for k, v in file_hashes(f"benign:{parent}").items()})


def _connect(w: _Writer, d: dict, when: datetime, rng: random.Random, ip: str, url: str, process: str,
             hashes: dict, port: int = 443) -> None:
    w.add("DeviceNetworkEvents", when, d, ActionType="ConnectionSuccess", RemoteIP=ip, RemotePort=port,
          RemoteUrl=url, LocalIP=d["ip"], LocalPort=rng.randrange(49152, 65535), Protocol="Tcp",
          LocalIPType="Private", RemoteIPType="Public", InitiatingProcessFileName=process,
          InitiatingProcessId=rng.randrange(1000, 30000), InitiatingProcessAccountName=d["users"][0],
          **{f"InitiatingProcess{k}": v for k, v in hashes.items()})


def generate_tables(devices: list[dict], alerts: list[dict], *, seed: int, now: datetime,
                    events_per_device: int = 50) -> dict[str, Table]:
    """Rows for every table in :data:`SCHEMAS`, consistent with ``devices`` and ``alerts``.

    ``devices`` are MDE machine dicts (deviceId or id, computerDnsName, osPlatform, riskScore,
    lastIpAddress); ``alerts`` are MDE alert dicts (id or alertId, title, severity, category,
    machineId, alertCreationTime, detectionSource, evidence: [{sha1, sha256, fileName, filePath,
    ipAddress, url, accountName, domainName, entityType}]). Per device: two DeviceInfo reports,
    ``events_per_device`` process and network events, a fifth as many logons, half as many file
    events and a tenth as many mails; the ``seed_*`` modules add the other background tables
    after the story, so its rows keep their place. Same arguments → same rows.
    """
    now = now if now.tzinfo else now.replace(tzinfo=UTC)
    w = _Writer()
    devs = [_device(d) for d in devices]
    by_id = {d["id"]: d for d in devs}
    bad_hosts = known_bad_hosts(devices)
    victim = _victim(find_alert(alerts, by_id), by_id, now)
    if victim is not None:  # the story's user works on the story's device
        d = victim.device
        d["users"] = [victim.name] + [u for u in d["users"] if u != victim.name][:1]
    for d in devs:
        rng = random.Random(f"{seed}:{d['id']}")
        _background(w, d, rng, now, events_per_device)
    for f in KNOWN_BAD_FILES:
        for i, device_id in enumerate(bad_hosts[f["SHA256"]]):
            _plant(w, by_id[device_id], f, random.Random(f"{seed}:{f['SHA256']}:{i}"), now - timedelta(days=2, hours=i * 3))
    for alert in alerts:
        _alert(w, alert, by_id, random.Random(f"{seed}:alert:{alert.get('id') or alert.get('alertId')}"), now,
               events=victim is None or alert is not victim.alert)
    _mail(w, devs, bad_hosts, random.Random(f"{seed}:mail"), now, events_per_device)
    users = people(alerts, devs)
    write_identities(w, users, random.Random(f"{seed}:identities"), now, at_risk=victim.upn if victim else "")
    if victim is not None:
        write_story(w, victim, random.Random(f"{seed}:story:{victim.alert.get('id')}"),
                    {**_alert_columns(victim.alert), "Categories": json.dumps([victim.alert.get("category") or ""])})
    machines = {d["id"]: machine for d, machine in zip(devs, devices)}  # background, after the story's rows
    write_tvm(w, devs, machines, seed, now)
    write_device_events(w, devs, seed, now, events_per_device)
    write_device_state(w, devs, machines, seed, now, events_per_device)
    write_identity_events(w, devs, users, seed, now, events_per_device)
    write_mail_activity(w, users, devs, seed, now)
    write_intrusion(w, devs, users, seed, now, avoid_users={victim.name} if victim else set(),  # last: a second attack
                    avoid_devices={victim.device["id"] if victim else "", *(i for ids in bad_hosts.values() for i in ids)})
    return {name: Table(name, SCHEMAS[name], w.rows[name]) for name in SCHEMAS}


def _victim(alert: Mapping | None, by_id: dict, now: datetime) -> Victim | None:
    """The story's user and device, from the alert that carries the story."""
    user = next((ev for ev in (alert or {}).get("evidence") or [] if ev.get("entityType") == "User"), None)
    if alert is None or user is None or not user.get("accountName"):
        return None
    device = by_id[alert["machineId"]]
    name = str(user["accountName"])
    upn = str(user.get("userPrincipalName") or f"{name}@{device['domain']}").lower()
    return Victim(name, upn, str(user.get("aadUserId") or object_id(upn)), device, alert, _when(alert, now))


def _when(alert: Mapping, now: datetime) -> datetime:
    created = alert.get("alertCreationTime") or alert.get("firstEventTime")
    when = created if isinstance(created, datetime) else (parse_datetime(created) if isinstance(created, str) else None)
    return (when or now - timedelta(days=1)).astimezone(UTC)


def _background(w: _Writer, d: dict, rng: random.Random, now: datetime, n: int) -> None:
    windows = d["os"].startswith("Windows")
    build = {"Windows11": 22631, "Windows10": 19045, "WindowsServer2019": 17763, "WindowsServer2022": 20348}
    for age in (timedelta(days=1), timedelta(hours=1)):
        w.add("DeviceInfo", now - age, d, ClientVersion="10.8760.22621.1000", PublicIP=d["public_ip"],
              OSArchitecture="64-bit", OSPlatform=d["os"], OSBuild=build.get(d["os"]), OSVersion="10.0" if windows else "",
              IsAzureADJoined=windows, JoinType="Hybrid Azure AD Join" if windows else "",
              LoggedOnUsers=json.dumps([{"UserName": u, "DomainName": d["domain"].split(".")[0].upper()} for u in d["users"]]),
              MachineGroup="UnassignedGroup", OnboardingStatus="Onboarded", DeviceCategory="Endpoint",
              DeviceType="Workstation" if "Server" not in d["os"] else "Server", SensorHealthState="Active",
              ExposureLevel=d["risk"] if d["risk"] in ("High", "Medium") else "Low", AssetValue="Normal",
              IsInternetFacing=False, IsExcluded=False, DeviceManualTags="[]", DeviceDynamicTags="[]")

    def when() -> datetime:
        return now - timedelta(seconds=rng.randrange(14 * 86400), milliseconds=rng.randrange(1000))
    catalog = _WINDOWS if windows else _UNIX
    for _ in range(n):
        file, folder, parent, command, company = rng.choice(catalog)
        _process(w, d, when(), rng, file=file, folder=folder, command=command, parent=parent,
                 user=rng.choice(d["users"]), hashes=file_hashes(f"benign:{file}"), company=company)
    for _ in range(n):
        ip, url = rng.choice(_REMOTES)
        process = rng.choice(["msedge.exe", "ms-teams.exe", "OUTLOOK.EXE", "svchost.exe"] if windows else ["curl", "python3"])
        _connect(w, d, when(), rng, ip, url, process, file_hashes(f"benign:{process}"))
    for _ in range(max(1, n // 5)):
        user = rng.choice(d["users"])
        kind = rng.choice(["Interactive", "RemoteInteractive", "Network", "Unlock"])
        w.add("DeviceLogonEvents", when(), d, ActionType="LogonSuccess", LogonType=kind,
              AccountDomain=d["domain"].split(".")[0], AccountName=user, Protocol="Kerberos" if kind == "Network" else "Negotiate",
              IsLocalAdmin=user == d["users"][0], LogonId=rng.randrange(100_000, 999_999),
              RemoteIP="" if kind in ("Interactive", "Unlock") else f"10.0.{rng.randrange(250)}.{rng.randrange(2, 250)}",
              InitiatingProcessFileName="lsass.exe" if windows else "sshd")
    for _ in range(max(1, n // 2)):
        user = rng.choice(d["users"])
        doc = f"{rng.choice(['Q3 report', 'budget', 'minutes', 'roadmap', 'invoice'])}-{rng.randrange(100)}." \
              f"{rng.choice(['docx', 'xlsx', 'pdf', 'pptx'])}"
        folder = rf"C:\Users\{user}\Documents" if windows else f"/home/{user}"
        w.add("DeviceFileEvents", when(), d, ActionType=rng.choice(["FileCreated", "FileModified"]), FileName=doc,
              FolderPath=f"{folder}{chr(92) if windows else '/'}{doc}", FileSize=rng.randrange(10_000, 5_000_000),
              InitiatingProcessFileName="explorer.exe" if windows else "bash", InitiatingProcessAccountName=user,
              **file_hashes(f"doc:{d['id']}:{doc}"))


def _plant(w: _Writer, d: dict, f: dict, rng: random.Random, at: datetime) -> None:
    """A known-bad file: downloaded, written to disk, run, and (the dropper) calling home."""
    user = d["users"][0]
    folder = rf"C:\Users\{user}\Downloads"
    hashes = {k: f[k] for k in ("SHA256", "SHA1", "MD5")}
    w.add("DeviceFileEvents", at - timedelta(minutes=5), d, ActionType="FileCreated", FileName=f["FileName"],
          FolderPath=rf"{folder}\{f['FileName']}", FileSize=f["FileSize"], FileOriginUrl=f"https://{KNOWN_BAD_URL}/dl",
          FileOriginIP=KNOWN_BAD_IP, InitiatingProcessFileName="msedge.exe", InitiatingProcessAccountName=user, **hashes)
    _process(w, d, at, rng, file=f["FileName"], folder=folder, command=f["CommandLine"], parent="explorer.exe",
             user=user, hashes=hashes, size=f["FileSize"])
    if f["SHA256"] == KNOWN_BAD_SHA256:
        for i in range(3):
            _connect(w, d, at + timedelta(minutes=1 + 10 * i), rng, KNOWN_BAD_IP, KNOWN_BAD_URL, f["FileName"],
                     {k: f[k] for k in ("SHA256", "SHA1", "MD5")})
    else:
        for i in range(20):  # password spraying against the device the dumper ran on
            w.add("DeviceLogonEvents", at - timedelta(hours=2, seconds=-15 * i), d, ActionType="LogonFailed",
                  LogonType="Network", AccountDomain=d["domain"].split(".")[0], AccountName="administrator",
                  Protocol="NTLM", FailureReason="InvalidUserNameOrPassword", RemoteIP=KNOWN_BAD_LOGON_IP,
                  RemoteIPType="Public", RemotePort=rng.randrange(49152, 65535), IsLocalAdmin=False,
                  InitiatingProcessFileName="lsass.exe")


def _alert_columns(alert: Mapping) -> dict:
    """The columns AlertInfo and AlertEvidence rows of ``alert`` share."""
    return {"AlertId": str(alert.get("id") or alert.get("alertId") or ""), "Title": str(alert.get("title") or ""),
            "ServiceSource": "Microsoft Defender for Endpoint",
            "DetectionSource": _DETECTION.get(str(alert.get("detectionSource")), str(alert.get("detectionSource") or "EDR")),
            "AttackTechniques": json.dumps(alert.get("mitreTechniques") or []),
            "Severity": _SEVERITY.get(str(alert.get("severity") or "").lower(), "Medium")}


def _account_entity(account: Mapping) -> str:
    """A User evidence row's AdditionalFields: its account entity, as Microsoft's own hunting
    example reads it (``parse_json(AdditionalFields).Account.Sid`` / ``.IsDomainJoined``)."""
    return json.dumps({"Type": "account", "Account": {
        "Name": account["AccountName"], "NTDomain": account["AccountDomain"].split(".")[0].upper(),
        "Sid": account["AccountSid"], "AadUserId": account["AccountObjectId"],
        "UPNSuffix": account["AccountUpn"].partition("@")[2], "IsDomainJoined": bool(account["AccountSid"])}})


def _file_entity(name: str, folder: str, hashes: Mapping) -> str:
    """A File evidence row's AdditionalFields: its file entity (name, directory, hashes)."""
    return json.dumps({"Type": "file", "Name": name, "Directory": folder,
                       "FileHashes": [{"Algorithm": a, "Value": hashes[a]} for a in ("SHA1", "SHA256", "MD5")
                                      if hashes.get(a)]})


def _alert(w: _Writer, alert: Mapping, by_id: dict, rng: random.Random, now: datetime, *, events: bool = True) -> None:
    """AlertInfo and AlertEvidence rows for ``alert``; with ``events``, its evidence as device events
    on its machine too (the story writes its own)."""
    when = _when(alert, now)
    common = _alert_columns(alert)
    w.add("AlertInfo", when, Category=str(alert.get("category") or ""), **common)
    evidence_common = {**common, "Categories": json.dumps([alert.get("category") or ""])}
    device = by_id.get(str(alert.get("machineId") or ""))
    machine = {"DeviceId": str(alert.get("machineId") or ""),
               "DeviceName": str(alert.get("computerDnsName") or (device or {}).get("name", ""))}
    if machine["DeviceId"]:
        w.add("AlertEvidence", when, EntityType="Machine", EvidenceRole="Impacted", **machine, **evidence_common)
    for ev in alert.get("evidence") or []:
        sha1, name, ip, url = (ev.get(k) for k in ("sha1", "fileName", "ipAddress", "url"))
        if sha1 or name:
            hashes = {"SHA1": sha1 or "", "SHA256": ev.get("sha256") or "", "MD5": ev.get("md5") or ""}
            path = ev.get("filePath") or r"C:\Users\Public"
            command = ev.get("processCommandLine") or name or ""
            kind = "Process" if ev.get("entityType") == "Process" else "File"
            w.add("AlertEvidence", when, EntityType=kind, EvidenceRole="Impacted", FileName=name or "",
                  FolderPath=path, ProcessCommandLine=command if kind == "Process" else "", **hashes,
                  AdditionalFields=_file_entity(name or "", path, hashes) if kind == "File" else "",
                  **machine, **evidence_common)
            if device is not None and events:
                _process(w, device, when - timedelta(minutes=2), rng, file=name or "unknown.exe", folder=path,
                         command=command, parent="explorer.exe", user=device["users"][0], hashes=hashes)
                w.add("DeviceFileEvents", when - timedelta(minutes=3), device, ActionType="FileCreated",
                      FileName=name or "", FolderPath=f"{path}\\{name or ''}", **hashes)
        if ip or url:
            w.add("AlertEvidence", when, EntityType="Url" if url else "Ip", EvidenceRole="Related",
                  RemoteIP=ip or "", RemoteUrl=url or "", **machine, **evidence_common)
            if device is not None and events:
                _connect(w, device, when - timedelta(minutes=1), rng, ip or "", url or "", "powershell.exe",
                         file_hashes("benign:powershell.exe"))
        if ev.get("accountName"):
            account = {"AccountName": ev["accountName"], "AccountDomain": ev.get("domainName") or "",
                       "AccountUpn": ev.get("userPrincipalName") or "", "AccountObjectId": ev.get("aadUserId") or "",
                       "AccountSid": ev.get("userSid") or ""}
            w.add("AlertEvidence", when, EntityType="User", EvidenceRole="Impacted", **account,
                  AdditionalFields=_account_entity(account), **machine, **evidence_common)


def _mail(w: _Writer, devs: list[dict], bad_hosts: dict, rng: random.Random, now: datetime, n: int) -> None:
    phished = {d["id"] for d in devs if d["id"] in bad_hosts[KNOWN_BAD_SHA256]}
    for d in devs:
        for i in range(max(1, n // 10)):
            user = d["users"][i % 2]
            sender = rng.choice(["it-news@contoso.com", "hr@contoso.com", "noreply@github.com", "events@fabrikam.com"])
            _email(w, now - timedelta(seconds=rng.randrange(14 * 86400)), rng, sender, f"{user}@{d['domain']}",
                   rng.choice(["Weekly update", "Benefits enrolment", "Your build passed", "Meeting notes"]))
        if d["id"] in phished:
            _email(w, now - timedelta(days=2, minutes=20), rng, "billing@invoices-portal.example",
                   f"{d['users'][0]}@{d['domain']}", "Overdue invoice #4471 - action required",
                   ThreatTypes="Malware", ThreatNames="Qakbot", DetectionMethods='{"Malware":["File detonation"]}',
                   AttachmentCount=1, DeliveryAction="Delivered", DeliveryLocation="Inbox/folder")
    if devs:
        _email(w, now - timedelta(days=3), rng, "security@micros0ft-support.example", f"{devs[0]['users'][1]}@{devs[0]['domain']}",
               "Your password expires today", ThreatTypes="Phish", DetectionMethods='{"Phish":["URL detonation reputation"]}',
               DeliveryAction="Blocked", DeliveryLocation="Quarantine", UrlCount=1)


def _email(w: _Writer, when: datetime, rng: random.Random, sender: str, recipient: str, subject: str, **extra: Any) -> None:
    message_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    sender_domain = sender.split("@")[1]
    w.add("EmailEvents", when, NetworkMessageId=message_id, InternetMessageId=f"<{message_id[:13]}@{sender_domain}>",
          SenderMailFromAddress=sender, SenderFromAddress=sender, SenderMailFromDomain=sender_domain,
          SenderFromDomain=sender_domain, SenderIPv4=f"192.0.2.{rng.randrange(2, 250)}", RecipientEmailAddress=recipient,
          Subject=subject, EmailDirection="Inbound", **{"DeliveryAction": "Delivered", "DeliveryLocation": "Inbox/folder",
                                                        "AttachmentCount": 0, "UrlCount": rng.randrange(0, 3),
                                                        "ThreatTypes": "", **extra})
