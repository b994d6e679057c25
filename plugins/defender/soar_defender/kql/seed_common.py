"""What the background seed modules share: the writer, time draws inside the hunting window, and
the columns that describe an ordinary process (the InitiatingProcess* columns of an event).

The background modules (:mod:`.seed_tvm`, :mod:`.seed_device_events`, :mod:`.seed_device_state`,
:mod:`.seed_identity_events`, :mod:`.seed_mail_activity`) add rows through the same writer as
:mod:`.tables`. Device dicts are the seed data's (``id``, ``name``, ``os``, ``domain``, ``ip``,
``users``, ...); the modules that need more of a device (its adapters, its OS version) also get
the MDE machine dicts, by device id. A process's hashes are
``file_hashes("benign:<file name>")``, as in the process and network events of :mod:`.tables`, so
the same binary has the same hashes in every table.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import lru_cache
from datetime import datetime, timedelta
from typing import Any, Protocol

from .identities import object_id, user_sid
from .story import file_hashes

#: Background rows lie within this many days before ``now`` (the hunting service's lookback).
WINDOW_DAYS = 30
SYSTEM_SID = "S-1-5-18"


@lru_cache(maxsize=None)
def benign_hashes(file: str) -> dict[str, str]:
    """The hashes of an ordinary (signed, well-known) file called ``file``; do not change the dict."""
    return file_hashes(f"benign:{file}")


class Writer(Protocol):
    rows: dict[str, list[dict]]

    def add_known(self, table: str, when: datetime, device: dict | None = None, **columns: Any) -> None:
        """Add a row to ``table`` with the columns SCHEMAS gives it; nothing if SCHEMAS has no such table."""


def moment(rng: random.Random, now: datetime, days: float = WINDOW_DAYS) -> datetime:
    """A time in the ``days`` before ``now``, to the millisecond."""
    return now - timedelta(seconds=rng.randrange(int(days * 86400)), milliseconds=rng.randrange(1000))


def is_windows(d: dict) -> bool:
    return d["os"].startswith("Windows")


def is_server(d: dict) -> bool:
    return "Server" in d["os"] or d["os"] == "Linux"


def upn(d: dict, user: str) -> str:
    return f"{user}@{d['domain']}".lower()


def netbios(d: dict) -> str:
    """The device's domain as Windows names it (``contoso``)."""
    return d["domain"].split(".")[0]


@dataclass(frozen=True)
class Proc:
    """An ordinary program: its image file, folder, usual command line and publisher."""

    file: str
    folder: str
    command: str = ""
    company: str = "Microsoft Corporation"
    system: bool = False  # runs as SYSTEM rather than as the signed-in user

    @property
    def path(self) -> str:
        return f"{self.folder}\\{self.file}"

    @property
    def hashes(self) -> dict[str, str]:
        return benign_hashes(self.file)


_SYS32 = r"C:\Windows\System32"
_OFFICE = r"C:\Program Files\Microsoft Office\root\Office16"
PROCS = {p.file: p for p in [
    Proc("explorer.exe", r"C:\Windows", "explorer.exe"),
    Proc("svchost.exe", _SYS32, "svchost.exe -k netsvcs -p -s Schedule", system=True),
    Proc("services.exe", _SYS32, "services.exe", system=True),
    Proc("lsass.exe", _SYS32, "lsass.exe", system=True),
    Proc("WmiPrvSE.exe", rf"{_SYS32}\wbem", r"C:\Windows\system32\wbem\wmiprvse.exe -Embedding", system=True),
    Proc("msiexec.exe", _SYS32, r"C:\Windows\system32\msiexec.exe /V", system=True),
    Proc("powershell.exe", rf"{_SYS32}\WindowsPowerShell\v1.0", "powershell.exe -NoProfile -ExecutionPolicy Bypass"),
    Proc("msedge.exe", r"C:\Program Files (x86)\Microsoft\Edge\Application", '"msedge.exe"'),
    Proc("chrome.exe", r"C:\Program Files\Google\Chrome\Application", '"chrome.exe"', "Google LLC"),
    Proc("OUTLOOK.EXE", _OFFICE, '"OUTLOOK.EXE"'),
    Proc("WINWORD.EXE", _OFFICE, '"WINWORD.EXE" /n'),
    Proc("EXCEL.EXE", _OFFICE, '"EXCEL.EXE"'),
    Proc("ms-teams.exe", r"C:\Program Files\WindowsApps\MSTeams", '"ms-teams.exe"'),
    Proc("OneDrive.exe", r"C:\Program Files\Microsoft OneDrive", '"OneDrive.exe" /background'),
    Proc("MsMpEng.exe", r"C:\ProgramData\Microsoft\Windows Defender\Platform\4.18.24090.11-0", '"MsMpEng.exe"',
         system=True),
    Proc("MpCmdRun.exe", r"C:\ProgramData\Microsoft\Windows Defender\Platform\4.18.24090.11-0",
         '"MpCmdRun.exe" -SignatureUpdate', system=True),
    Proc("MicrosoftEdgeUpdate.exe", r"C:\Program Files (x86)\Microsoft\EdgeUpdate",
         '"MicrosoftEdgeUpdate.exe" /ua /installsource scheduler', system=True),
    Proc("GoogleUpdate.exe", r"C:\Program Files (x86)\Google\Update", '"GoogleUpdate.exe" /ua /installsource scheduler',
         "Google LLC", system=True),
    Proc("CcmExec.exe", r"C:\Windows\CCM", r'"C:\Windows\CCM\CcmExec.exe"', system=True),
]}


def initiating(d: dict, proc: Proc | str, at: datetime, rng: random.Random, user: str | None = None) -> dict:
    """The InitiatingProcess* columns for ``proc`` (a :class:`Proc` or a name in :data:`PROCS`)
    running on ``d`` at ``at``: as SYSTEM if the program runs so, else as ``user`` (by default the
    device's first user)."""
    p = PROCS[proc] if isinstance(proc, str) else proc
    if p.system:
        account = {"AccountName": "system", "AccountDomain": "nt authority", "AccountSid": SYSTEM_SID,
                   "AccountUpn": "", "AccountObjectId": ""}
        integrity, elevation = "System", "TokenElevationTypeDefault"
    else:
        name = user or d["users"][0]
        account = {"AccountName": name, "AccountDomain": netbios(d), "AccountSid": user_sid(name),
                   "AccountUpn": upn(d, name), "AccountObjectId": object_id(upn(d, name))}
        integrity, elevation = "Medium", "TokenElevationTypeLimited"
    return {**{f"InitiatingProcess{k}": v for k, v in p.hashes.items()},
            **{f"InitiatingProcess{k}": v for k, v in account.items()},
            "InitiatingProcessFileName": p.file, "InitiatingProcessFolderPath": p.path,
            "InitiatingProcessCommandLine": p.command or p.file, "InitiatingProcessId": rng.randrange(600, 30000),
            "InitiatingProcessCreationTime": at - timedelta(seconds=rng.randrange(5, 36000)),
            "InitiatingProcessIntegrityLevel": integrity, "InitiatingProcessTokenElevation": elevation,
            "InitiatingProcessVersionInfoCompanyName": p.company,
            "InitiatingProcessVersionInfoOriginalFileName": p.file}


def account(d: dict, user: str | None = None) -> dict:
    """AccountName / AccountDomain / AccountSid of ``user`` (by default the device's first user)."""
    name = user or d["users"][0]
    return {"AccountName": name, "AccountDomain": netbios(d), "AccountSid": user_sid(name)}
