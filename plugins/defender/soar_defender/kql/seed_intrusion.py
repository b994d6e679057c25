"""The second intrusion of every simulated tenant: a hands-on-keyboard red-team exercise.

Where the attack story (:mod:`.story`) is one phishing chain around one alert, this is an
operator working through a network for three days (docs/simulator.md, "The red-team exercise"):
a macro workbook on a workstation (the *beachhead*, another device and user than the story's),
discovery, persistence, credential theft, lateral movement to the domain controller and a file
server with an administrator's stolen credentials, exfiltration, and ransomware on the file
server shortly before ``now``. No alert belongs to it: it is there to be hunted.

:func:`write_intrusion` writes it after the story and the background, so their rows keep their
ReportIds; :func:`plan_intrusion` says where it happens. The indicators are the ``INTRUSION_*``
constants (re-exported from :mod:`.seed_intrusion_kit`) and the same in every tenant; devices,
users and times are the tenant's. The tenant's story owns the only ``AntivirusDetection`` and
``ScheduledTaskCreated`` DeviceEvents rows, so this exercise's scheduled task shows in
DeviceProcessEvents (``schtasks /create``), the registry and the task file, not as such a row.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Collection

from .identities import Person
from .seed_common import Writer, is_server, is_windows
from .seed_identity_events import domain_controller
from .seed_intrusion_beachhead import write_beachhead
from .seed_intrusion_kit import (INTRUSION_BACKDOOR_ACCOUNT, INTRUSION_BACKDOOR_LOCAL_ACCOUNT, INTRUSION_C2_DOMAIN,
                                 INTRUSION_C2_IP, INTRUSION_CRADLE, INTRUSION_ENCRYPTOR, INTRUSION_EXFIL_DOMAIN,
                                 INTRUSION_EXFIL_IP, INTRUSION_IMPLANT, INTRUSION_LURE, INTRUSION_LURE_URL,
                                 INTRUSION_NOTE, INTRUSION_POWERSHELL, INTRUSION_RANSOM_EXTENSION, INTRUSION_RUN_VALUE,
                                 INTRUSION_SCT_URL, INTRUSION_SERVICE, INTRUSION_TASK, INTRUSION_TECHNIQUES,
                                 INTRUSION_TOOL_DIR, INTRUSION_WMI_NAME, SPAN_HOURS, STEPS, Host, Plan, Who)
from .seed_intrusion_spread import SHARES, write_spread

__all__ = ["INTRUSION_BACKDOOR_ACCOUNT", "INTRUSION_BACKDOOR_LOCAL_ACCOUNT", "INTRUSION_C2_DOMAIN", "INTRUSION_C2_IP",
           "INTRUSION_CRADLE", "INTRUSION_ENCRYPTOR", "INTRUSION_EXFIL_DOMAIN", "INTRUSION_EXFIL_IP",
           "INTRUSION_IMPLANT", "INTRUSION_LURE", "INTRUSION_LURE_URL", "INTRUSION_NOTE", "INTRUSION_POWERSHELL",
           "INTRUSION_RANSOM_EXTENSION", "INTRUSION_RUN_VALUE", "INTRUSION_SCT_URL", "INTRUSION_SERVICE",
           "INTRUSION_TASK", "INTRUSION_TECHNIQUES", "INTRUSION_TOOL_DIR", "INTRUSION_WMI_NAME", "SHARES",
           "SPAN_HOURS", "STEPS", "Plan", "plan_intrusion", "write_intrusion"]


def plan_intrusion(w: Writer, devs: list[dict], users: list[Person], seed: int, now: datetime, *,
                   avoid_devices: Collection[str] = (), avoid_users: Collection[str] = ()) -> Plan | None:
    """Where and when the exercise happens, or None when the tenant lacks a Windows workstation
    (outside ``avoid_devices``, with a user outside ``avoid_users``) or a Windows server.

    The beachhead is a workstation drawn with the seed, its user the first of its users not
    avoided; the domain controller is the tenant's (its first Windows server, as the directory
    data has it); the file server another Windows server outside ``avoid_devices`` if there is
    one, else the domain controller; the administrator whose credentials are stolen the first
    of ``users`` who is neither. The exercise starts :data:`SPAN_HOURS` before ``now``."""
    servers = [d for d in devs if is_windows(d) and is_server(d)]
    workstations = [d for d in devs if is_windows(d) and not is_server(d) and d["id"] not in avoid_devices
                    and any(u not in avoid_users for u in d["users"])]
    if not servers or not workstations:
        return None
    rng = random.Random(f"{seed}:intrusion")
    beachhead = rng.choice(workstations)
    user = next(u for u in beachhead["users"] if u not in avoid_users)
    dc = domain_controller(devs)
    others = [d for d in servers if d is not dc and d["id"] not in avoid_devices]
    fs = rng.choice(others) if others else dc
    admin = next((p.name for p in users if p.name not in (user, *avoid_users)), "itadmin")
    domain = beachhead["domain"]

    def host(d: dict) -> Host:
        return Host(w, d, random.Random(f"{seed}:intrusion:{d['id']}"))

    dc_host = host(dc)
    return Plan(start=(now - timedelta(hours=SPAN_HOURS)).replace(microsecond=0), user=Who.domain_user(user, domain),
                admin=Who.domain_user(admin, domain), domain=domain, beachhead=host(beachhead), dc=dc_host,
                fs=dc_host if fs is dc else host(fs), devices=devs)


def write_intrusion(w: Writer, devs: list[dict], users: list[Person], seed: int, now: datetime, *,
                    avoid_devices: Collection[str] = (), avoid_users: Collection[str] = ()) -> Plan | None:
    """The exercise's rows (see :func:`plan_intrusion` for the arguments); its plan, or None."""
    plan = plan_intrusion(w, devs, users, seed, now, avoid_devices=avoid_devices, avoid_users=avoid_users)
    if plan is not None:
        write_spread(plan, write_beachhead(plan))
    return plan
