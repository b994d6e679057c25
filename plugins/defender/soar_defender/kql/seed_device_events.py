"""Background DeviceEvents: the everyday security-control and telemetry events of Windows devices.

Each Windows device gets, over the last 30 days, weekly antivirus scans, PowerShell commands,
DNS answers, named-pipe opens and links opened from Outlook or Teams (a few of each, more with a
larger ``events_per_device``), and now and then an attack surface reduction rule audit or block,
a network-protection or SmartScreen verdict, a scheduled-task update, a service install, a USB
device, an LDAP search, a WMI-started process, an audit-policy change or a firewall block.
Servers also see local-group changes and the odd new local account. AdditionalFields is the
JSON the service gives each ActionType (the keys published hunting queries read).

What is left out on purpose: the attack story owns this table's ``AntivirusDetection`` and
``ScheduledTaskCreated`` rows and its ``PowerShellCommand`` that runs ``Invoke-WebRequest``, so
hunts for those find the story alone; no background row names a story or known-bad indicator.
"""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta

from .identities import user_sid
from .seed_common import PROCS, Proc, Writer, account, initiating, is_server, is_windows, moment, netbios

__all__ = ["ASR_RULES", "write_device_events"]

#: ASR rule → (GUID, the process it acts on, the process that triggers it).
ASR_RULES = {
    "AsrOfficeChildProcess": ("d4f940ab-401b-4efc-aadc-ad5f3c50688a", "EXCEL.EXE",
                              Proc("cmd.exe", r"C:\Windows\System32",
                                   r'cmd.exe /c "\\fileserver\finance\refresh-rates.bat"')),
    "AsrLsassCredentialTheft": ("9e6c4e1f-7d60-472f-ba1a-a39ef669e4b2", "svchost.exe",
                                Proc("lsass.exe", r"C:\Windows\System32", "lsass.exe")),
    "AsrPsexecWmiChildProcess": ("d1e49aac-8f56-4280-b9ba-993a6d77406c", "WmiPrvSE.exe",
                                 Proc("CcmEval.exe", r"C:\Windows\CCM", r"C:\Windows\CCM\CcmEval.exe")),
    "AsrUntrustedExecutable": ("01443614-cd74-433a-b99e-2ecdc07bfc25", "explorer.exe",
                               Proc("PDFConverterSetup.exe", r"C:\Users\Public\Downloads", "PDFConverterSetup.exe",
                                    "")),
}
_COMMANDS = ("Get-Service", "Get-ItemProperty", "Import-Module", "Get-CimInstance", "Test-NetConnection",
             "Get-MpComputerStatus", "Get-ChildItem", "Get-Process", "Start-Sleep", "Get-WinEvent")
_SERVER_COMMANDS = ("Get-ScheduledTask", "Get-WindowsFeature", "Restart-Service", "Set-MpPreference")
_PIPES = ("\\Device\\NamedPipe\\mojo.{pid}.{n}.{r}", "\\Device\\NamedPipe\\PSHost.{r}.{pid}.DefaultAppDomain.powershell",
          "\\Device\\NamedPipe\\lsass", "\\Device\\NamedPipe\\srvsvc", "\\Device\\NamedPipe\\wkssvc")
_SMARTSCREEN = [("http://free-pdf-converter.example/download/setup", "Untrusted"),
                ("http://login-check.example/account/verify", "Phishing"),
                ("http://cdn.adware-offers.example/install", "Malicious"),
                ("https://filesharing-blocked.example/share", "CustomPolicy")]
_NETWORK_BLOCKS = [("ads.tracker-net.example", "CustomBlockList"), ("secure-login-update.example", "Phishing"),
                   ("dl.cracked-tools.example", "Malicious")]
_TASKS = [(r"\Microsoft\Windows\UpdateOrchestrator\Schedule Scan", r"%systemroot%\system32\usoclient.exe StartScan"),
          (r"\MicrosoftEdgeUpdateTaskMachineCore",
           r'"C:\Program Files (x86)\Microsoft\EdgeUpdate\MicrosoftEdgeUpdate.exe" /c'),
          (r"\GoogleUpdateTaskMachineUA", r'"C:\Program Files (x86)\Google\Update\GoogleUpdate.exe" /ua'),
          (r"\OneDrive Standalone Update Task-{sid}",
           r"%localappdata%\Microsoft\OneDrive\OneDriveStandaloneUpdater.exe")]
_SERVICES = [("edgeupdate", r"C:\Program Files (x86)\Microsoft\EdgeUpdate\MicrosoftEdgeUpdate.exe", "msiexec.exe"),
             ("GoogleChromeElevationService",
              r"C:\Program Files\Google\Chrome\Application\131.0.6778.86\elevation_service.exe", "msiexec.exe"),
             ("Sense", r"C:\Program Files\Windows Defender Advanced Threat Protection\MsSense.exe", "msiexec.exe"),
             ("CcmExec", r"C:\Windows\CCM\CcmExec.exe", "CcmExec.exe")]
_USB = [("SanDisk", "Ultra USB 3.0", "USB\\VID_0781&PID_5581", "USB Mass Storage Device"),
        ("Kingston", "DataTraveler 3.0", "USB\\VID_0951&PID_1666", "USB Mass Storage Device"),
        ("HP", "LaserJet Pro M404", "USB\\VID_03F0&PID_0F2A", "USB Printing Support"),
        ("Logitech", "USB Receiver", "USB\\VID_046D&PID_C52B", "USB Input Device")]


def write_device_events(w: Writer, devs: list[dict], seed: int, now: datetime, events_per_device: int) -> None:
    """DeviceEvents for every Windows device of ``devs``."""
    for d in devs:
        if is_windows(d):
            _device(w, d, random.Random(f"{seed}:device-events:{d['id']}"), now, max(1, events_per_device // 10))


def _device(w: Writer, d: dict, rng: random.Random, now: datetime, k: int) -> None:
    server = is_server(d)

    def add(action: str, at: datetime, proc: Proc | str, fields: dict | None = None, **columns) -> None:
        w.add_known("DeviceEvents", at, d, ActionType=action, AdditionalFields=fields,
                    **initiating(d, proc, at, rng), **columns)

    missed = 2 if rng.random() < 0.1 else 0  # a device that has not scanned for two weeks
    for week in range(missed, 4):  # the weekly scan
        at = now - timedelta(days=7 * week + rng.randrange(7), hours=rng.randrange(24))
        add("AntivirusScanCompleted", at, "MsMpEng.exe", {"ScanTypeIndex": "Full" if server else "Quick"})
    for _ in range(k):
        command = rng.choice(_SERVER_COMMANDS + _COMMANDS if server else _COMMANDS)
        add("PowerShellCommand", moment(rng, now), "powershell.exe", {"Command": command}, **account(d))
        host = rng.choice(["login.microsoftonline.com", "teams.microsoft.com", "outlook.office365.com",
                           f"{netbios(d)}.sharepoint.com", "www.google.com", "winatp-gw-eus.microsoft.com"])
        answer = f"[{{\"DnsQueryType\":\"A\",\"DnsQueryResult\":\"{_address(host)}\"}}]"
        add("DnsQueryResponse", moment(rng, now), "svchost.exe", {"DnsQueryString": host, "DnsQueryResult": answer},
            RemoteUrl=host)
        _pipe(add, d, moment(rng, now), rng)
        if not server:
            site = rng.choice([f"https://{netbios(d)}.sharepoint.com/sites/intranet/SitePages/News.aspx",
                               "https://github.com/notifications", f"https://{netbios(d)}-my.sharepoint.com/personal",
                               "https://learn.microsoft.com/en-us/defender-xdr/"])
            add("BrowserLaunchedToOpenUrl", moment(rng, now), rng.choice(["OUTLOOK.EXE", "ms-teams.exe"]),
                RemoteUrl=site)
    _occasional(add, d, rng, now, server)


def _address(host: str) -> str:
    h = sum(map(ord, host))
    return f"{20 + h % 30}.{h % 250}.{h * 7 % 250}.{h * 13 % 250 + 1}"


def _pipe(add, d: dict, at: datetime, rng: random.Random) -> None:
    proc = rng.choice(["msedge.exe", "chrome.exe", "powershell.exe", "svchost.exe"])
    pid, r = rng.randrange(1000, 30000), rng.getrandbits(32)
    name = {"msedge.exe": _PIPES[0], "chrome.exe": _PIPES[0], "powershell.exe": _PIPES[1]}.get(proc) or rng.choice(
        _PIPES[2:])
    add("NamedPipeEvent", at, proc, {"PipeName": name.format(pid=pid, n=rng.randrange(100), r=r),
                                     "FileOperation": rng.choice(["File opened", "File created"]),
                                     "NamedPipeEnd": "Client" if proc == "svchost.exe" else "Server",
                                     "DesiredAccess": 1180063, "ShareMode": 3})


def _occasional(add, d: dict, rng: random.Random, now: datetime, server: bool) -> None:
    """The events a device sees a few times a month at most (each with its own chance)."""
    for rule, (guid, trigger, target) in ASR_RULES.items():
        applies = (rule == "AsrPsexecWmiChildProcess") == server or rule == "AsrLsassCredentialTheft"
        if applies and rng.random() < 0.4:
            blocked = rng.random() < 0.3
            add(f"{rule}{'Blocked' if blocked else 'Audited'}", moment(rng, now), trigger,
                {"IsAudit": not blocked, "RuleId": guid}, FileName=target.file, FolderPath=target.path,
                ProcessCommandLine=target.command, **target.hashes)
    if not server and rng.random() < 0.3:
        url, experience = rng.choice(_SMARTSCREEN)
        at = moment(rng, now)
        add("SmartScreenUrlWarning", at, "msedge.exe", {"Experience": experience}, RemoteUrl=url)
        if experience == "Untrusted" and rng.random() < 0.5:
            add("SmartScreenUserOverride", at + timedelta(seconds=rng.randrange(5, 60)), "msedge.exe", {},
                RemoteUrl=url)
    if not server and rng.random() < 0.15:
        add("SmartScreenAppWarning", moment(rng, now), "explorer.exe", {"Experience": "Untrusted"},
            FileName="PDFConverterSetup.exe", FolderPath=rf"C:\Users\{d['users'][0]}\Downloads\PDFConverterSetup.exe")
    if rng.random() < 0.3:
        host, category = rng.choice(_NETWORK_BLOCKS)
        audit = server and rng.random() < 0.5
        add(f"ExploitGuardNetworkProtection{'Audited' if audit else 'Blocked'}", moment(rng, now),
            rng.choice(["chrome.exe", "msedge.exe"]), {"ResponseCategory": category, "DisplayName": host,
                                                         "IsAudit": audit}, RemoteUrl=host)
    if not server and rng.random() < 0.15:
        user = d["users"][0]
        add("ControlledFolderAccessViolationAudited", moment(rng, now),
            Proc("python.exe", rf"C:\Users\{user}\AppData\Local\Programs\Python\Python312",
                 "python.exe sync_notes.py", "Python Software Foundation"), {"IsAudit": True},
            FileName="notes.txt", FolderPath=rf"C:\Users\{user}\Documents\notes.txt")
    if rng.random() < 0.15:
        add("ExploitGuardChildProcessAudited", moment(rng, now), "WINWORD.EXE", {"IsAudit": True},
            FileName="splwow64.exe", FolderPath=r"C:\Windows\splwow64.exe")
    if rng.random() < 0.5:
        name, command = rng.choice(_TASKS)
        sid = user_sid(d["users"][0])
        task = f"<Actions><Exec><Command>{command}</Command></Exec></Actions>"
        add(rng.choice(["ScheduledTaskUpdated", "ScheduledTaskUpdated", "ScheduledTaskDeleted"]), moment(rng, now),
            "svchost.exe", {"TaskName": name.format(sid=sid), "TaskContent": task, "SubjectUserName": "SYSTEM",
                            "SubjectDomainName": "NT AUTHORITY"})
    if rng.random() < (0.4 if server else 0.2):
        service, image, installer = rng.choice(_SERVICES)
        add("ServiceInstalled", moment(rng, now), installer, {"ServiceName": service, "ServiceAccount": "LocalSystem",
                                                              "ServiceStartType": 2, "ServiceType": 16},
            FileName=image.rsplit("\\", 1)[1], FolderPath=image)
    if not server and rng.random() < 0.35:
        _usb(add, d, rng, moment(rng, now))
    if rng.random() < 0.3:
        name = rng.choice(d["users"])
        add("LdapSearch", moment(rng, now), "svchost.exe",
            {"AttributeList": '["objectSid","memberOf","userAccountControl"]', "ScopeOfSearch": "SubTree",
             "SearchFilter": f"(&(objectCategory=person)(objectClass=user)(sAMAccountName={name}))",
             "DistinguishedName": ",".join(f"DC={p}" for p in d["domain"].split("."))})
    if server and rng.random() < 0.4:
        msi = rf"C:\Windows\ccmcache\{rng.randrange(10, 99)}\AgentInstall.msi"
        add("ProcessCreatedUsingWmiQuery", moment(rng, now), "WmiPrvSE.exe", FileName="msiexec.exe",
            FolderPath=r"C:\Windows\System32\msiexec.exe", ProcessCommandLine=f'msiexec.exe /i "{msi}" /qn',
            **PROCS["msiexec.exe"].hashes)
    if rng.random() < 0.2:
        add("AuditPolicyModification", moment(rng, now), "svchost.exe",
            {"AuditPolicyChanges": "%%8449, %%8451", "CategoryId": "%%8274",
             "SubcategoryGuid": "{0cce921d-69ae-11d9-bed3-505054503030}", "SubcategoryId": "%%12801"})
    if not server and rng.random() < 0.3:
        add("FirewallInboundConnectionBlocked", moment(rng, now), "svchost.exe",
            RemoteIP=f"10.{rng.randrange(200)}.{rng.randrange(250)}.{rng.randrange(2, 250)}",
            RemotePort=rng.randrange(49152, 65535), LocalIP=d["ip"], LocalPort=rng.choice([445, 5355, 3389]))
    if server and rng.random() < 0.3:
        member = rng.choice(d["users"])
        add("UserAccountAddedToLocalGroup", moment(rng, now), "services.exe",
            {"GroupName": "Administrators", "GroupDomainName": "BUILTIN", "GroupSid": "S-1-5-32-544"},
            AccountName=member, AccountDomain=netbios(d), AccountSid=user_sid(member))
    if server and rng.random() < 0.1:
        add("UserAccountCreated", moment(rng, now), "services.exe", {}, AccountName="svc_backup",
            AccountDomain=d["name"].split(".")[0].upper(), AccountSid=f"S-1-5-21-{rng.getrandbits(30)}-1001")


def _usb(add, d: dict, rng: random.Random, at: datetime) -> None:
    vendor, product, device_id, description = rng.choice(_USB)
    serial = f"{rng.getrandbits(48):012X}"
    instance = f"{device_id}\\{serial}"
    add("PnpDeviceConnected", at, "svchost.exe",
        {"ClassName": "USB", "DeviceDescription": description, "DeviceId": instance,
         "VendorIds": f"{device_id}&REV_0100", "ClassId": "{36fc9e60-c465-11cf-8056-444553540000}"})
    if description == "USB Mass Storage Device":
        add("UsbDriveMounted", at + timedelta(seconds=3), "svchost.exe",
            {"DriveLetter": "E:", "BusType": 7, "ProductName": product, "ProductRevision": "1.00",
             "SerialNumber": serial, "Manufacturer": vendor, "Volume": f"\\\\?\\Volume{{{uuid.UUID(int=rng.getrandbits(128))}}}",
             "LoggedOnUsers": f"{netbios(d).upper()}\\{d['users'][0]}"})
