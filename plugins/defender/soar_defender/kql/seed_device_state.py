"""Background device state: registry changes, DLL loads, network adapters and file signers.

* DeviceRegistryEvents (Windows): ordinary software keeping its footholds: the Security Health
  and OneDrive / Edge Run values, services that Edge and Chrome updaters (re)create, Office's
  server cache of SharePoint sites, Defender and Windows Update bookkeeping.
* DeviceImageLoadEvents (Windows): everyday DLL loads of the programs the process events show
  (PowerShell loading System.Management.Automation and amsi.dll, Edge msedge.dll, Outlook ...).
* DeviceNetworkInfo (every device): its adapters as the MDE machine lists them (MAC, addresses),
  plus a Wi-Fi adapter on laptops, reported a day and an hour ago, with the JSON-text columns
  the service gives (IPAddresses, ConnectedNetworks, DnsAddresses, DefaultGateways).
* DeviceFileCertificateInfo (Windows): one row per signed program or DLL seen on the device (the
  ordinary ones of DeviceProcessEvents and of the DLL loads above), when it was first seen, with
  its signer and issuer. Unsigned files (the planted known-bad files, the story's) have none.
"""

from __future__ import annotations

import hashlib
import random
from datetime import datetime, timedelta
from typing import Mapping

from .identities import user_sid
from .seed_common import PROCS, Proc, Writer, benign_hashes, initiating, is_server, is_windows, moment, netbios

__all__ = ["write_device_state"]

_RUN = r"SOFTWARE\Microsoft\Windows\CurrentVersion\Run"
_TIWORKER = Proc("TiWorker.exe", r"C:\Windows\WinSxS\amd64_microsoft-windows-servicingstack_31bf3856ad364e35",
                 "C:\\Windows\\winsxs\\TiWorker.exe -Embedding", system=True)
_DOTNET = r"C:\Windows\Microsoft.NET\Framework64\v4.0.30319"
#: program → the DLLs it loads: (file name, folder).
_DLLS = {
    "powershell.exe": [("System.Management.Automation.ni.dll",
                        r"C:\Windows\assembly\NativeImages_v4.0.30319_64\System.Manaa57fc8cc#\9c3f2a51e0d4b7e6"),
                       ("amsi.dll", r"C:\Windows\System32"), ("clrjit.dll", _DOTNET)],
    "msedge.exe": [("msedge.dll", r"C:\Program Files (x86)\Microsoft\Edge\Application\131.0.2903.70")],
    "chrome.exe": [("chrome.dll", r"C:\Program Files\Google\Chrome\Application\131.0.6778.86")],
    "OUTLOOK.EXE": [("OLMAPI32.DLL", r"C:\Program Files\Microsoft Office\root\Office16")],
    "explorer.exe": [("windows.storage.dll", r"C:\Windows\System32")],
    "svchost.exe": [("wuaueng.dll", r"C:\Windows\System32"), ("samlib.dll", r"C:\Windows\System32")],
    "ms-teams.exe": [("WebView2Loader.dll", r"C:\Program Files\WindowsApps\MSTeams")],
}
_SERVER_DLL_PROCS = ("powershell.exe", "svchost.exe", "msedge.exe")
_SIGNERS = {  # signer → (issuer, CRL, root signer is Microsoft)
    "Microsoft Windows": ("Microsoft Windows Production PCA 2011",
                          "http://www.microsoft.com/pkiops/crl/MicWinProPCA2011_2011-10-19.crl", True),
    "Microsoft Corporation": ("Microsoft Code Signing PCA 2011",
                              "http://www.microsoft.com/pkiops/crl/MicCodSigPCA2011_2011-07-08.crl", True),
    "Google LLC": ("DigiCert Trusted G4 Code Signing RSA4096 SHA384 2021 CA1",
                   "http://crl3.digicert.com/DigiCertTrustedG4CodeSigningRSA4096SHA3842021CA1.crl", False),
}


def write_device_state(w: Writer, devs: list[dict], machines: Mapping[str, Mapping], seed: int, now: datetime,
                       events_per_device: int) -> None:
    """DeviceRegistryEvents, DeviceImageLoadEvents, DeviceNetworkInfo and DeviceFileCertificateInfo
    for ``devs`` (``machines``: the MDE machine dicts by device id, for their adapters). Reads the
    DeviceProcessEvents already written, so call it after them."""
    k = max(1, events_per_device // 10)
    dns = _dns_server(devs)
    signed: dict[str, dict[str, tuple[datetime, str, str, str]]] = {}  # device id → SHA1 → first seen, file ...
    for d in devs:
        rng = random.Random(f"{seed}:device-state:{d['id']}")
        _adapters(w, d, machines.get(d["id"], {}), dns, now)
        if is_windows(d):
            _registry(w, d, rng, now, k)
            for at, file, folder, company in _image_loads(w, d, rng, now, k):
                _seen(signed, d["id"], at, file, folder, company)
    by_id = {d["id"]: d for d in devs}
    for row in w.rows["DeviceProcessEvents"]:
        d = by_id.get(row.get("DeviceId"))
        if d is not None and is_windows(d) and row.get("SHA1") == benign_hashes(row["FileName"])["SHA1"]:
            folder = row.get("FolderPath", "").rsplit("\\", 1)[0]
            _seen(signed, d["id"], row["Timestamp"], row["FileName"], folder, row.get("ProcessVersionInfoCompanyName", ""))
    for device_id, files in signed.items():
        for sha1, (at, file, folder, company) in sorted(files.items(), key=lambda f: (f[1][0], f[0])):
            _certificate(w, by_id[device_id], at, sha1, folder, company, now)


def _dns_server(devs: list[dict]) -> str:
    """The tenant's DNS server: its first Windows server (a domain controller), else 10.0.0.10."""
    return next((d["ip"] for d in devs if is_windows(d) and is_server(d)), "10.0.0.10")


def _seen(signed: dict, device_id: str, at: datetime, file: str, folder: str, company: str) -> None:
    if company not in ("Microsoft Corporation", "Google LLC"):
        return
    sha1 = benign_hashes(file)["SHA1"]
    known = signed.setdefault(device_id, {}).get(sha1)
    if known is None or at < known[0]:
        signed[device_id][sha1] = (at, file, folder, company)


def _registry(w: Writer, d: dict, rng: random.Random, now: datetime, k: int) -> None:
    user = d["users"][0]
    hkcu = rf"HKEY_CURRENT_USER\{user_sid(user)}"

    def add(action: str, key: str, proc: Proc | str, name: str = "", data: str = "", kind: str = "String") -> None:
        at = moment(rng, now)
        w.add_known("DeviceRegistryEvents", at, d, ActionType=action, RegistryKey=key, RegistryValueName=name,
                    RegistryValueData=data, RegistryValueType=kind if name else "", **initiating(d, proc, at, rng))

    if rng.random() < 0.5:
        add("RegistryValueSet", rf"HKEY_LOCAL_MACHINE\{_RUN}", _TIWORKER, "SecurityHealth",
            r"%windir%\system32\SecurityHealthSystray.exe", "ExpandString")
    if not is_server(d):
        add("RegistryValueSet", rf"{hkcu}\{_RUN}", "OneDrive.exe", "OneDrive",
            r'"C:\Program Files\Microsoft OneDrive\OneDrive.exe" /background')
        if rng.random() < 0.5:
            add("RegistryValueSet", rf"{hkcu}\{_RUN}", "msedge.exe",
                f"MicrosoftEdgeAutoLaunch_{rng.getrandbits(128):032X}",
                r'"C:\Program Files (x86)\Microsoft\Edge\Application\msedge.exe" --no-startup-window --win-session-start')
        site = f"https://{netbios(d)}.sharepoint.com/sites/{rng.choice(['intranet', 'finance', 'projects', 'hr'])}/"
        for _ in range(k):
            add("RegistryValueSet", rf"{hkcu}\SOFTWARE\Microsoft\Office\16.0\Common\Internet\Server Cache\{site}",
                rng.choice(["WINWORD.EXE", "EXCEL.EXE"]), "Type", "1", "Dword")
    services = [("edgeupdate", r'"C:\Program Files (x86)\Microsoft\EdgeUpdate\MicrosoftEdgeUpdate.exe" /svc',
                 "MicrosoftEdgeUpdate.exe")]
    if not is_server(d):
        services.append(("GoogleChromeElevationService",
                         r'"C:\Program Files\Google\Chrome\Application\131.0.6778.86\elevation_service.exe"',
                         "GoogleUpdate.exe"))
    for name, image, installer in services:
        if rng.random() < 0.6:
            key = rf"HKEY_LOCAL_MACHINE\SYSTEM\ControlSet001\Services\{name}"
            add("RegistryKeyCreated", key, installer)
            add("RegistryValueSet", key, installer, "ImagePath", image, "ExpandString")
    for _ in range(k):
        if rng.random() < 0.5:
            add("RegistryValueSet", r"HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows Defender\Signature Updates",
                "MpCmdRun.exe", "AVSignatureVersion", f"1.421.{rng.randrange(100, 999)}.0")
    add("RegistryValueSet",
        r"HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows\CurrentVersion\WindowsUpdate\Auto Update\Results\Install",
        "svchost.exe", "LastSuccessTime", (now - timedelta(days=rng.randrange(1, 20))).strftime("%Y-%m-%d %H:%M:%S"))


def _image_loads(w: Writer, d: dict, rng: random.Random, now: datetime, k: int) -> list[tuple]:
    procs = list(_SERVER_DLL_PROCS) if is_server(d) else list(_DLLS)
    loaded = []
    for _ in range(2 * k):
        proc = rng.choice(procs)
        file, folder = rng.choice(_DLLS[proc])
        company = PROCS[proc].company
        at = moment(rng, now)
        w.add_known("DeviceImageLoadEvents", at, d, ActionType="ImageLoaded", FileName=file,
                    FolderPath=f"{folder}\\{file}", FileSize=rng.randrange(80_000, 9_000_000),
                    **benign_hashes(file), **initiating(d, proc, at, rng))
        loaded.append((at, file, folder, company))
    return loaded


def _certificate(w: Writer, d: dict, at: datetime, sha1: str, folder: str, company: str, now: datetime) -> None:
    signer = "Microsoft Windows" if company == "Microsoft Corporation" and folder.lower().startswith(
        r"c:\windows") else company
    issuer, crl, microsoft_root = _SIGNERS[signer]
    digest = hashlib.sha1(signer.encode()).hexdigest()
    w.add_known("DeviceFileCertificateInfo", at, d, SHA1=sha1, IsSigned=True, SignatureType="Embedded",
                Signer=signer, SignerHash=digest, Issuer=issuer, IssuerHash=hashlib.sha1(issuer.encode()).hexdigest(),
                CertificateSerialNumber=("330000" if microsoft_root else "0") + digest[:26].upper(),
                CrlDistributionPointUrls=f'["{crl}"]', CertificateCreationTime=now - timedelta(days=200),
                CertificateExpirationTime=now + timedelta(days=165), CertificateCountersignatureTime=at,
                IsTrusted=True, IsRootSignerMicrosoft=microsoft_root)


def _adapters(w: Writer, d: dict, machine: Mapping, dns: str, now: datetime) -> None:
    """Two reports (a day and an hour old) of each of the device's adapters."""
    adapters: dict[str, list[str]] = {}
    for address in machine.get("ipAddresses") or []:
        mac = address.get("macAddress")
        if mac and address.get("type") != "SoftwareLoopback":
            adapters.setdefault(str(mac), []).append(str(address.get("ipAddress") or ""))
    if not adapters:
        adapters[hashlib.sha1(d["id"].encode()).hexdigest()[:12].upper()] = [d["ip"]]
    windows, platform = is_windows(d), d["os"]
    name = "Ethernet" if windows else "en0" if platform == "macOS" else "eth0"
    vendor = "Microsoft" if windows and is_server(d) else "Intel Corporation"
    reports = []
    for i, (mac, addresses) in enumerate(sorted(adapters.items())):
        v4 = next((a for a in addresses if "." in a), d["ip"])
        gateway = v4.rsplit(".", 1)[0] + ".1"
        ips = [{"IPAddress": a, "SubnetPrefix": 64 if ":" in a else 24,
                "AddressType": "LinkLocal" if a.startswith("fe80") else "Private" if a.startswith("10.") else "Public"}
               for a in addresses]
        network = {"Name": d["domain"], "Description": d["domain"], "IsConnectedToInternet": True,
                   "Category": "Domain" if windows else "Private"}
        reports.append({"NetworkAdapterName": name if i == 0 else f"{name} {i + 1}", "MacAddress": mac,
                        "NetworkAdapterType": "Ethernet", "NetworkAdapterStatus": "Up", "IPAddresses": ips,
                        "ConnectedNetworks": [network], "DnsAddresses": [dns], "DefaultGateways": [gateway],
                        "IPv4Dhcp": gateway.rsplit(".", 1)[0] + ".5", "NetworkAdapterVendor": vendor,
                        "NetworkAdapterDnsSuffix": d["domain"]})
    if d["name"].startswith("lt-") and platform in ("Windows10", "Windows11", "macOS"):
        mac = hashlib.sha1(f"wifi:{d['id']}".encode()).hexdigest()[:12].upper()
        reports.append({"NetworkAdapterName": "Wi-Fi" if windows else "en1", "MacAddress": mac,
                        "NetworkAdapterType": "Wireless80211", "NetworkAdapterStatus": "Down", "IPAddresses": [],
                        "ConnectedNetworks": [], "DnsAddresses": [], "DefaultGateways": [],
                        "NetworkAdapterVendor": "Intel Corporation"})
    for age in (timedelta(days=1), timedelta(hours=1)):
        for report in reports:
            w.add_known("DeviceNetworkInfo", now - age, d, OnboardingStatus="Onboarded", TunnelType="", **report)
