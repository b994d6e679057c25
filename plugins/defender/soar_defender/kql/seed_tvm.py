"""Background vulnerability-management data: what software each device runs, which of its versions
are vulnerable, and how the device's Defender settings assess.

* DeviceTvmSoftwareInventory: the device's OS and a plausible software list for its platform
  (:data:`CATALOG`), each at a version drawn per device (newest most often), with
  EndOfSupportStatus from the product's end-of-support date.
* DeviceTvmSoftwareVulnerabilities: one row per device, installed product and CVE whose fixed
  version is newer than the installed one. DeviceTvmSoftwareVulnerabilitiesKB: one row per CVE of
  the products the tenant has (so it joins on CveId, and is empty without devices).
* DeviceTvmSecureConfigurationAssessment: the Defender health settings (``scid-…``) of the
  device's platform, mostly compliant. DeviceTvmSecureConfigurationAssessmentKB: one row per
  setting the tenant has.

CVE ids, scores, publication dates and fixed versions follow the public advisories closely
enough for hunting; they are seed data, not a vulnerability feed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Mapping

from .model import UTC
from .seed_common import Writer, is_server

__all__ = ["CATALOG", "severity", "write_tvm"]


@dataclass(frozen=True)
class Cve:
    id: str
    cvss: float
    exploit: bool
    published: str
    fixed: str  # the first version that is not vulnerable
    description: str
    update: str = ""  # RecommendedSecurityUpdate
    update_id: str = ""


@dataclass(frozen=True)
class Software:
    vendor: str
    name: str
    versions: tuple[str, ...]  # newest first
    cves: tuple[Cve, ...] = ()
    eos: str = ""  # the product's end-of-support date
    old_eos: str = ""  # end of support of its oldest listed version ("EOS Version")
    share: float = 1.0  # the share of the platform's devices that have it
    os: bool = False

    def cpe(self) -> str:
        return f"cpe:2.3:{'o' if self.os else 'a'}:{self.vendor}:{self.name}:-:*:*:*:*:*:*:*"


def _win(name: str, versions: tuple[str, ...], aug: tuple[str, str], jun: tuple[str, str], eos: str) -> Software:
    """A Windows release with the August 2024 TCP/IP and June 2024 kernel fixes (fixed build, KB)."""
    return Software("microsoft", name, versions, (
        Cve("CVE-2024-38063", 9.8, True, "2024-08-13", aug[0], "Windows TCP/IP remote code execution vulnerability "
            "(IPv6 packets)", "August 2024 Security Updates", aug[1]),
        Cve("CVE-2024-30088", 7.0, True, "2024-06-11", jun[0], "Windows kernel elevation of privilege vulnerability",
            "June 2024 Security Updates", jun[1])), eos=eos, os=True)


_CHROMIUM = ("CVE-2024-7971", 8.8, True, "2024-08-21", "Type confusion in V8 allows remote code execution through a "
             "crafted HTML page")
_WEBP = ("CVE-2023-4863", 8.8, True, "2023-09-12", "Heap buffer overflow in libwebp allows out-of-bounds memory "
         "writes through a crafted HTML page")


def _chromium(vendor: str, name: str, versions: tuple[str, ...], fixes: tuple[str, str], share: float) -> Software:
    v8, webp = fixes
    return Software(vendor, name, versions, (
        Cve(*_CHROMIUM[:4], v8, _CHROMIUM[4], f"Update {name} to {v8} or later"),
        Cve(*_WEBP[:4], webp, _WEBP[4], f"Update {name} to {webp} or later")),
        old_eos="2023-09-12", share=share)


_7ZIP = Software("7-zip", "7-zip", ("24.09", "23.01", "19.00"), (
    Cve("CVE-2024-11477", 7.8, False, "2024-11-22", "24.07", "Zstandard decompression integer underflow allows "
        "remote code execution", "Update 7-Zip to 24.07 or later"),
    Cve("CVE-2025-0411", 7.0, True, "2025-01-25", "24.09", "Mark-of-the-Web bypass when extracting nested archives",
        "Update 7-Zip to 24.09 or later")), share=0.6)
_JRE = Software("oracle", "jre", ("8.0.4310.10", "8.0.3610.9"), (
    Cve("CVE-2023-21930", 7.4, False, "2023-04-18", "8.0.3710", "Oracle Java SE JSSE vulnerability allows "
        "unauthenticated access to critical data", "Update Java SE 8 to update 371 or later"),
    Cve("CVE-2024-20918", 7.4, False, "2024-01-16", "8.0.4010", "Oracle Java SE Hotspot vulnerability allows "
        "unauthorized data access", "Update Java SE 8 to update 401 or later")), share=0.3)
_NPP = Software("notepad++", "notepad++", ("8.6.9", "8.5.4"), (
    Cve("CVE-2023-40031", 7.8, True, "2023-08-25", "8.5.7", "Heap buffer overflow in the UTF-16 to UTF-8 "
        "conversion when opening a crafted file", "Update Notepad++ to 8.5.7 or later"),), share=0.4)
_DOTNET = Software("microsoft", ".net_framework", ("4.8.9037.0",))
_VCREDIST = Software("microsoft", "visual_c++_2015-2022_redistributable", ("14.40.33810.0", "14.38.33135.0"))
_EDGE = _chromium("microsoft", "edge", ("131.0.2903.70", "127.0.2651.105", "114.0.1823.82"),
                  ("128.0.2739.42", "116.0.1938.76"), 1.0)

#: The software each platform's devices draw from: platform → products (the OS first).
CATALOG: dict[str, tuple[Software, ...]] = {
    "Windows10": (_win("windows_10", ("10.0.19045.5131", "10.0.19045.4529", "10.0.19045.4291"),
                       ("10.0.19045.4780", "5041580"), ("10.0.19045.4529", "5039211"), "2025-10-14"),),
    "Windows11": (_win("windows_11", ("10.0.22631.4460", "10.0.22631.3880", "10.0.22631.3593"),
                       ("10.0.22631.4037", "5041585"), ("10.0.22631.3737", "5039212"), ""),),
    "WindowsServer2019": (_win("windows_server_2019", ("10.0.17763.6532", "10.0.17763.6054", "10.0.17763.5820"),
                               ("10.0.17763.6189", "5041578"), ("10.0.17763.5936", "5039217"), "2029-01-09"),),
    "WindowsServer2022": (_win("windows_server_2022", ("10.0.20348.2849", "10.0.20348.2582", "10.0.20348.2461"),
                               ("10.0.20348.2655", "5041160"), ("10.0.20348.2527", "5039227"), "2031-10-14"),),
    "workstation": (
        _EDGE,
        _chromium("google", "chrome", ("131.0.6778.86", "127.0.6533.120", "114.0.5735.199"),
                  ("128.0.6613.84", "116.0.5845.187"), 0.8),
        Software("microsoft", "office", ("16.0.18129.20116", "16.0.16827.20166"), (
            Cve("CVE-2024-21413", 9.8, True, "2024-02-13", "16.0.17231.20236", "Microsoft Outlook remote code "
                "execution vulnerability (Moniker Link)", "February 2024 Security Updates"),)),
        Software("microsoft", "teams", ("24295.605.3225.8804",)),
        Software("microsoft", "onedrive", ("24.211.1020.0003",)),
        _7ZIP, _JRE, _NPP,
        Software("mozilla", "firefox", ("133.0", "130.0.1"), (
            Cve("CVE-2024-9680", 9.8, True, "2024-10-09", "131.0.2", "Use-after-free in Animation timelines",
                "Update Firefox to 131.0.2 or later"),), share=0.25),
        _DOTNET, _VCREDIST),
    "server": (
        _EDGE, _DOTNET, _VCREDIST, _7ZIP, _NPP, _JRE,
        Software("simon_tatham", "putty", ("0.81", "0.78"), (
            Cve("CVE-2024-31497", 5.9, True, "2024-04-15", "0.81", "Biased ECDSA nonces allow NIST P-521 private "
                "key recovery", "Update PuTTY to 0.81 or later"),), share=0.4)),
    "Linux": (
        Software("canonical", "ubuntu_linux", ("22.04",), eos="2027-04-30", os=True),
        Software("openbsd", "openssh", ("9.8p1", "8.9p1"), (
            Cve("CVE-2024-6387", 8.1, True, "2024-07-01", "9.8p1", "Signal handler race condition in sshd "
                "(regreSSHion) allows unauthenticated remote code execution", "Update OpenSSH to 9.8p1 or later"),)),
        Software("openssl", "openssl", ("3.0.13", "3.0.2"), (
            Cve("CVE-2023-0286", 7.4, False, "2023-02-08", "3.0.8", "X.400 address type confusion in X.509 "
                "GeneralName processing", "Update OpenSSL to 3.0.8 or later"),)),
        Software("sudo_project", "sudo", ("1.9.15p5", "1.9.9"), (
            Cve("CVE-2023-22809", 7.8, True, "2023-01-18", "1.9.12p2", "sudoedit mishandles extra arguments, "
                "allowing privilege escalation", "Update sudo to 1.9.12p2 or later"),)),
        Software("python", "python", ("3.10.12",)),
        Software("python", "python", ("2.7.18",), eos="2020-01-01", share=0.3)),
    "macOS": (
        Software("apple", "macos", ("15.1.1", "14.7.1"), os=True),
        _EDGE,
        _chromium("google", "chrome", ("131.0.6778.86", "127.0.6533.120", "114.0.5735.199"),
                  ("128.0.6613.84", "116.0.5845.187"), 0.7),
        Software("microsoft", "office", ("16.91",)),
        Software("zoom", "zoom", ("6.2.11", "5.16.2"), (
            Cve("CVE-2024-24691", 9.6, False, "2024-02-14", "5.16.5", "Improper input validation in Zoom "
                "clients allows network privilege escalation", "Update Zoom to 5.16.5 or later"),), share=0.6)),
}


def severity(cvss: float) -> str:
    """VulnerabilitySeverityLevel for a CVSS score."""
    return "Critical" if cvss >= 9 else "High" if cvss >= 7 else "Medium" if cvss >= 4 else "Low"


def _version_key(version: str) -> tuple[int, ...]:
    """'8.9p1' → (8, 9, 1); '10.0.19045.4529' → (10, 0, 19045, 4529)."""
    parts, digits = [], ""
    for ch in version + ".":
        if ch.isdigit():
            digits += ch
        elif digits:
            parts.append(int(digits))
            digits = ""
    return tuple(parts)


def _date(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _software(d: dict) -> list[Software]:
    platform = d["os"]
    os_entries = CATALOG.get(platform, ())
    if platform.startswith("Windows"):
        return [*os_entries, *CATALOG["server" if is_server(d) else "workstation"]]
    return list(os_entries)


def _support(s: Software, version: str, now: datetime) -> tuple[str, datetime | None]:
    """EndOfSupportStatus and EndOfSupportDate of ``s`` at ``version``."""
    if s.eos:
        end = _date(s.eos)
        status = "EOS Software" if end <= now else "Upcoming EOS Software" if end - now < timedelta(days=365) else ""
        return status, end
    if s.old_eos and len(s.versions) > 1 and version == s.versions[-1]:
        return "EOS Version", _date(s.old_eos)
    return "", None


def _pick(s: Software, rng: random.Random, os_version: str) -> str:
    """The installed version: the newest on most devices, older ones on fewer. An OS takes the
    version the machine reports (``os_version``), at a patch level drawn the same way."""
    versions = s.versions
    if s.os and os_version:
        versions = tuple(v for v in s.versions if v.startswith(os_version) or v in os_version) or (
            os_version.rsplit(" ", 1)[-1],)
    weights = [6, 3, 1][:len(versions)]
    return rng.choices(versions, weights=weights)[0]


def write_tvm(w: Writer, devs: list[dict], machines: Mapping[str, Mapping], seed: int, now: datetime) -> None:
    """The four DeviceTvm* tables and their two KB tables for ``devs`` (``machines``: the MDE machine
    dicts by device id, for OS version and architecture)."""
    cves: dict[str, tuple[Cve, list[str]]] = {}
    configs: dict[str, tuple] = {}
    for d in devs:
        rng = random.Random(f"{seed}:tvm:{d['id']}")
        machine = machines.get(d["id"], {})
        device = {"OSPlatform": d["os"], "OSArchitecture": str(machine.get("osProcessor") or "x64"),
                  "OSVersion": str(machine.get("osVersion") or "")}
        scan = now - timedelta(hours=rng.randrange(2, 20), minutes=rng.randrange(60))
        for s in _software(d):
            if rng.random() >= s.share:
                continue
            version = _pick(s, rng, device["OSVersion"])
            status, end = _support(s, version, now)
            w.add_known("DeviceTvmSoftwareInventory", scan, d, **device, SoftwareVendor=s.vendor, SoftwareName=s.name,
                        SoftwareVersion=version, EndOfSupportStatus=status, EndOfSupportDate=end,
                        ProductCodeCpe=s.cpe())
            for cve in s.cves:
                cves.setdefault(cve.id, (cve, []))
                if f"{s.vendor}:{s.name}" not in cves[cve.id][1]:
                    cves[cve.id][1].append(f"{s.vendor}:{s.name}")
                if _version_key(version) < _version_key(cve.fixed):
                    w.add_known("DeviceTvmSoftwareVulnerabilities", scan, d, **device, SoftwareVendor=s.vendor,
                                SoftwareName=s.name, SoftwareVersion=version, CveId=cve.id,
                                VulnerabilitySeverityLevel=severity(cve.cvss), RecommendedSecurityUpdate=cve.update,
                                RecommendedSecurityUpdateId=cve.update_id, CveTags=[])
        for config in _CONFIGS.get(_family(d), ()):
            configs.setdefault(config.id, config)
            compliant = _compliant(config, d, rng)
            w.add_known("DeviceTvmSecureConfigurationAssessment", scan, d, OSPlatform=d["os"],
                        ConfigurationId=config.id, ConfigurationCategory="Security controls",
                        ConfigurationSubcategory=config.subcategory, ConfigurationImpact=config.impact,
                        IsCompliant=compliant, IsApplicable=True, IsExpectedUserImpact=False,
                        Context=_context(config, compliant, now, rng))
    for cve, affected in sorted(cves.values(), key=lambda c: c[0].id):
        published = _date(cve.published)
        w.add_known("DeviceTvmSoftwareVulnerabilitiesKB", now, CveId=cve.id, CvssScore=f"{cve.cvss:.1f}",
                    IsExploitAvailable=cve.exploit, VulnerabilitySeverityLevel=severity(cve.cvss),
                    PublishedDate=published, LastModifiedTime=published + timedelta(days=14),
                    VulnerabilityDescription=cve.description, AffectedSoftware=affected)
    for config in sorted(configs.values(), key=lambda c: int(c.id.split("-")[1])):
        w.add_known("DeviceTvmSecureConfigurationAssessmentKB", now, ConfigurationId=config.id,
                    ConfigurationImpact=config.impact, ConfigurationName=config.name,
                    ConfigurationDescription=config.description, RiskDescription=config.risk,
                    ConfigurationCategory="Security controls", ConfigurationSubcategory=config.subcategory,
                    ConfigurationBenchmarks=[], Tags=[config.subcategory],
                    RemediationOptions=config.remediation)


# ---- secure configuration --------------------------------------------------------------------

@dataclass(frozen=True)
class Config:
    id: str
    name: str
    subcategory: str
    impact: float
    description: str
    risk: str
    remediation: str
    off: float = 0.0  # the share of devices where it is not compliant
    servers_off: float | None = None  # the share on servers, if different


def _av(scid: str, name: str, what: str, off: float = 0.0, impact: float = 8.0, **kw) -> Config:
    return Config(scid, name, "Antivirus", impact, f"{what} helps protect the device against malware.",
                  f"Without {what.lower()}, malware can run on the device undetected.",
                  f"{name} with Intune, Group Policy or the Defender configuration profile.", off, **kw)


def _edr(scid: str, name: str, off: float = 0.0) -> Config:
    return Config(scid, name, "EDR", 9.0, "The Defender for Endpoint sensor reports the device's activity.",
                  "Without sensor data, attacks on the device go unseen.",
                  "Check the Sense service and the device's connection to the Defender service URLs.", off)


_WINDOWS = (
    _edr("scid-2000", "Turn on Microsoft Defender for Endpoint sensor"),
    _edr("scid-2001", "Fix Microsoft Defender for Endpoint sensor data collection"),
    _edr("scid-2002", "Fix Microsoft Defender for Endpoint impaired communications", off=0.04),
    _av("scid-2003", "Turn on Tamper Protection", "Tamper protection", off=0.1),
    _av("scid-2010", "Turn on Microsoft Defender Antivirus", "Microsoft Defender Antivirus", impact=10.0,
        servers_off=0.2),
    _av("scid-2011", "Update Microsoft Defender Antivirus definitions", "Up-to-date security intelligence", off=0.1),
    _av("scid-2012", "Turn on real-time protection", "Real-time protection", impact=10.0),
    _av("scid-2013", "Turn on PUA protection in block mode", "Potentially unwanted application protection",
        off=0.3, impact=5.0),
    _av("scid-2014", "Fix Microsoft Defender Antivirus reporting", "Antivirus reporting", impact=6.0),
    _av("scid-2016", "Turn on cloud-delivered protection", "Cloud-delivered protection", off=0.05),
    _av("scid-91", "Turn on Microsoft Defender Antivirus behavior monitoring", "Behavior monitoring"),
    Config("scid-96", "Turn on network protection", "Network protection", 7.0,
           "Network protection blocks connections to malicious and low-reputation hosts.",
           "Without network protection, IP, URL and domain indicators do not block anything on the device.",
           "Set network protection to block mode with Intune or Group Policy.", off=0.15, servers_off=0.7),
)
_MAC = (_edr("scid-5001", "Fix Microsoft Defender for Endpoint sensor data collection"),
        _edr("scid-5002", "Fix Microsoft Defender for Endpoint impaired communications"),
        _av("scid-5090", "Turn on real-time protection", "Real-time protection", impact=10.0),
        _av("scid-5091", "Turn on PUA protection in block mode", "Potentially unwanted application protection",
            off=0.4, impact=5.0),
        _av("scid-5094", "Turn on cloud-delivered protection", "Cloud-delivered protection"),
        _av("scid-5095", "Update Microsoft Defender Antivirus definitions", "Up-to-date security intelligence",
            off=0.1))
_LINUX = (_edr("scid-6001", "Fix Microsoft Defender for Endpoint sensor data collection"),
          _edr("scid-6002", "Fix Microsoft Defender for Endpoint impaired communications"),
          _av("scid-6090", "Turn on real-time protection", "Real-time protection", impact=10.0, off=0.2),
          _av("scid-6091", "Turn on PUA protection in block mode", "Potentially unwanted application protection",
              off=0.5, impact=5.0),
          _av("scid-6094", "Turn on cloud-delivered protection", "Cloud-delivered protection"),
          _av("scid-6095", "Update Microsoft Defender Antivirus definitions", "Up-to-date security intelligence",
              off=0.1))
_CONFIGS = {"Windows": _WINDOWS, "macOS": _MAC, "Linux": _LINUX}
_SIGNATURES = ("scid-2011", "scid-5095", "scid-6095")


def _family(d: dict) -> str:
    return "Windows" if d["os"].startswith("Windows") else d["os"]


def _compliant(config: Config, d: dict, rng: random.Random) -> bool:
    off = config.servers_off if config.servers_off is not None and is_server(d) else config.off
    return rng.random() >= off


def _context(config: Config, compliant: bool, now: datetime, rng: random.Random) -> list | None:
    """The antivirus mode's Context ([["0"]] active, [["1"]] passive) and the signature settings'
    ([[signature version, engine, last update, platform]])."""
    if config.id == "scid-2010":
        return [["0" if compliant else "1"]]
    if config.id not in _SIGNATURES:
        return None
    updated = now - (timedelta(hours=rng.randrange(1, 20)) if compliant else timedelta(days=rng.randrange(8, 40)))
    build = 421 - (now - updated).days // 2
    return [[f"1.{build}.{rng.randrange(100, 999)}.0", "1.1.24090.11", updated.strftime("%Y-%m-%dT%H:%M:%SZ"),
             "4.18.24090.11"]]
