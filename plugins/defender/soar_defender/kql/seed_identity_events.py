"""Background Defender for Identity activity: the queries and directory changes a domain controller sees.

The tenant's domain controller is its first Windows server (or ``dc01.<domain>`` when it has
none). Every Windows device queries it:

* IdentityQueryEvents: ``LDAP query`` (the user's and the computer's own objects, group
  policies, a group), ``DNS query`` (the domain's SRV records, Microsoft 365 hosts) and
  ``SAMR query`` (a user) from each Windows device, in the signed-in user's name, over the last
  30 days; the first server also inventories the domain's servers by LDAP now and then. ``Query``
  has the service's ``Search Scope: …, Base Object:…, Search Filter: …`` form.
* IdentityDirectoryEvents: self-service password changes, group memberships an administrator
  (the tenant's first user) changes, a service account set to never expire its password, a new
  computer's Kerberos encryption types, a group policy edit and SYSVOL script copies, with the
  AdditionalFields keys the service uses (``TO.GROUP``, ``ACTOR.ACCOUNT``, ``TARGET_OBJECT.USER``,
  ``FROM …`` / ``TO …`` …).

Nothing here looks like reconnaissance (no Kerberoasting or AS-REP roasting filters, no
BloodHound-style sweeps), so hunts for those come back empty.
"""

from __future__ import annotations

import random
import uuid
from datetime import datetime
from typing import Sequence

from .identities import Person, display_name, user_sid
from .seed_common import Writer, is_server, is_windows, moment

__all__ = ["domain_controller", "write_identity_events"]

_GROUPS = ("Finance-Share-RW", "VPN-Users", "Project-Apollo", "Printers-Floor2")


def domain_controller(devs: Sequence[dict]) -> dict:
    """The device that answers the tenant's directory queries: its first Windows server."""
    found = next((d for d in devs if is_windows(d) and is_server(d)), None)
    if found is not None:
        return found
    domain = devs[0]["domain"] if devs else "contoso.com"
    return {"name": f"dc01.{domain}", "ip": "10.0.0.10", "domain": domain}


def _who(p: Person) -> dict:
    return {"AccountName": p.name, "AccountDomain": p.upn.split("@")[1], "AccountUpn": p.upn,
            "AccountSid": user_sid(p.name), "AccountObjectId": p.object_id, "AccountDisplayName": display_name(p.name)}


def write_identity_events(w: Writer, devs: list[dict], users: list[Person], seed: int, now: datetime,
                          events_per_device: int) -> None:
    """IdentityQueryEvents and IdentityDirectoryEvents for ``devs`` and ``users``."""
    windows = [d for d in devs if is_windows(d)]
    if not windows:
        return
    dc = domain_controller(devs)
    to_dc = {"Application": "Active Directory", "DestinationDeviceName": dc["name"], "DestinationIPAddress": dc["ip"]}
    by_name = {p.name: p for p in users if p.device is not None}
    k = max(1, events_per_device // 10)
    for d in windows:
        rng = random.Random(f"{seed}:identity-queries:{d['id']}")
        person = by_name.get(d["users"][0])
        who = _who(person) if person else {}
        source = {"DeviceName": d["name"], "IPAddress": d["ip"], "Port": 0, **to_dc, **who}
        base = ",".join(f"DC={part}" for part in d["domain"].split("."))
        host = d["name"].split(".")[0].upper()
        ldap = [("User", f"(&(objectCategory=person)(objectClass=user)(sAMAccountName={d['users'][0]}))",
                 d["users"][0]),
                ("Computer", f"(&(objectCategory=computer)(name={host}))", host),
                ("AllGroupPolicies", "(objectClass=groupPolicyContainer)", "")]
        group = rng.choice(_GROUPS)
        ldap.append(("Group", f"(&(objectClass=group)(cn={group}))", group))
        if d is dc:
            ldap.append(("AllComputers", "(&(objectCategory=computer)(operatingSystem=Windows Server*))", ""))
        for _ in range(k):
            query_type, search, target = rng.choice(ldap)
            w.add_known("IdentityQueryEvents", moment(rng, now), ActionType="LDAP query", QueryType=query_type,
                        QueryTarget=target, Query=f"Search Scope: WholeSubtree, Base Object:{base}, Search Filter: "
                                                   f"{search}", Protocol="Ldap", DestinationPort=389, **source)
        for name in (f"_ldap._tcp.dc._msdcs.{d['domain']}", "login.microsoftonline.com")[:1 + k // 3]:
            w.add_known("IdentityQueryEvents", moment(rng, now), ActionType="DNS query",
                        QueryType="SRV" if name.startswith("_") else "A", QueryTarget=name, Query=name,
                        Protocol="Dns", DestinationPort=53, **source)
        if rng.random() < 0.5 and person:
            w.add_known("IdentityQueryEvents", moment(rng, now), ActionType="SAMR query", QueryType="QueryUser",
                        QueryTarget=display_name(person.name), Query="QueryUser", Protocol="Samr",
                        DestinationPort=445, TargetAccountUpn=person.upn,
                        TargetAccountDisplayName=display_name(person.name), **source)
    _directory(w, windows, users, dc, to_dc, random.Random(f"{seed}:identity-directory"), now)


def _directory(w: Writer, windows: list[dict], users: list[Person], dc: dict, to_dc: dict, rng: random.Random,
               now: datetime) -> None:
    if not users:
        return
    admin = users[0]
    actor = {**_who(admin), **to_dc, "DeviceName": (admin.device or windows[0])["name"],
             "IPAddress": (admin.device or windows[0])["ip"]}

    def target(p: Person) -> dict:
        return {"TargetAccountUpn": p.upn, "TargetAccountDisplayName": display_name(p.name)}

    for p in users:
        if p.device is not None and rng.random() < 0.4:
            w.add_known("IdentityDirectoryEvents", moment(rng, now), ActionType="Account Password changed",
                        Protocol="Kerberos", **_who(p), **to_dc, **target(p), DeviceName=p.device["name"],
                        IPAddress=p.device["ip"],
                        AdditionalFields={"TARGET_OBJECT.USER": display_name(p.name), "ACTOR.ACCOUNT": p.name})
    for p in rng.sample(users, min(2, len(users))):
        group = rng.choice(_GROUPS)
        w.add_known("IdentityDirectoryEvents", moment(rng, now), ActionType="Group Membership changed", **actor,
                    **target(p), AdditionalFields={"TO.GROUP": group, "ACTOR.ACCOUNT": admin.name,
                                                   "TARGET_OBJECT.USER": display_name(p.name),
                                                   "TARGET_OBJECT.GROUP": group})
    domain = admin.upn.split("@")[1]
    w.add_known("IdentityDirectoryEvents", moment(rng, now), ActionType="Account Password Never Expires changed",
                **actor, TargetAccountUpn=f"svc_sql@{domain}", TargetAccountDisplayName="svc_sql",
                AdditionalFields={"FROM Account Password Never Expires": False, "TO Account Password Never Expires": True,
                                  "TARGET_OBJECT.USER": "svc_sql", "ACTOR.ACCOUNT": admin.name})
    joined = rng.choice(windows)
    w.add_known("IdentityDirectoryEvents", moment(rng, now), ActionType="Account Supported Encryption Types changed",
                **actor, TargetDeviceName=joined["name"],
                AdditionalFields={"FROM AccountSupportedEncryptionTypes": "N/A",
                                  "TO AccountSupportedEncryptionTypes": "AES128_CTS_HMAC_SHA1_96, AES256_CTS_HMAC_SHA1_96",
                                  "TARGET_OBJECT.DEVICE": joined["name"].split(".")[0].upper(),
                                  "ACTOR.DEVICE": actor["DeviceName"].split(".")[0].upper()})
    w.add_known("IdentityDirectoryEvents", moment(rng, now), ActionType="Group Policy settings were changed", **actor,
                AdditionalFields={"GroupPolicyName": "Workstation Baseline",
                                  "GroupPolicyId": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                                  "DomainName": domain, "ACTOR.ACCOUNT": admin.name})
    for d in rng.sample(windows, min(2, len(windows))):
        w.add_known("IdentityDirectoryEvents", moment(rng, now), ActionType="SMB file copy", Protocol="Smb",
                    DeviceName=d["name"], IPAddress=d["ip"], **to_dc, AccountName=d["users"][0],
                    AccountDomain=domain, AccountSid=user_sid(d["users"][0]),
                    AdditionalFields={"Count": 1, "FileName": "map-drives.bat", "Method": "Read",
                                      "FilePath": rf"\\{dc['name']}\SYSVOL\{domain}\scripts\map-drives.bat"})
