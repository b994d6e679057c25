"""Seeded identities for the hunting tables: IdentityInfo, Entra ID sign-ins, cloud app activity.

Each user of a simulated tenant (those its alerts name, and the users of its devices) gets one
IdentityInfo row, a few interactive sign-ins from :data:`HOME_COUNTRY` over the last 14 days
(AADSignInEventsBeta / EntraIdSignInEvents, IdentityLogonEvents) and a few Exchange and
SharePoint activities from the same address (CloudAppEvents). Against that background the attack
story's sign-in from abroad (soar_defender.kql.story) stands out. Rows go only to the tables
the schemas define.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Iterable, Mapping, Protocol

HOME_COUNTRY, HOME_CITY = "US", "Seattle"

#: The pool of user names the seed data draws device users from; a user's SID follows its place.
USERS = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory", "oscar"]
_SURNAMES = ["Lopez", "Smith", "Nguyen", "Okafor", "Berg", "Rossi", "Kim", "Novak", "Petrov", "Dubois",
             "Walsh", "Haddad"]
_DEPARTMENTS = [("Finance", "Accountant"), ("Engineering", "Software Engineer"), ("Sales", "Account Manager"),
                ("HR", "HR Specialist"), ("IT", "Systems Administrator"), ("Legal", "Counsel")]
_APPS = [("Office 365 Exchange Online", "00000002-0000-0ff1-ce00-000000000000"),
         ("Microsoft Teams", "1fec8e78-bce4-4aaf-ab1b-5451cc387264"),
         ("Office 365 SharePoint Online", "00000003-0000-0ff1-ce00-000000000000"),
         ("OfficeHome", "4765445b-32c6-49b0-83e6-1d93765276ca")]
_ACTIVITY = [("MailItemsAccessed", "Microsoft Exchange Online", 20893, "Access", "Mailbox"),
             ("FileAccessed", "Microsoft SharePoint Online", 20892, "Access", "File"),
             ("FileDownloaded", "Microsoft OneDrive for Business", 15600, "Download", "File")]
_HOME_AGENT = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
               "Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0")


class Writer(Protocol):
    def add_known(self, table: str, when: datetime, device: dict | None = None, **columns: Any) -> None:
        """Add a row to ``table`` with the columns SCHEMAS gives it; nothing if SCHEMAS has no such table."""


def _digest(text: str) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest(), 16)


def user_sid(name: str) -> str:
    """The on-premises SID the seed data gives user ``name``."""
    n = USERS.index(name) if name in USERS else 2000 + _digest(name) % 5000
    return f"S-1-5-21-1004336348-1177238915-682003330-{1100 + n}"


def display_name(name: str) -> str:
    return f"{name.capitalize()} {_SURNAMES[_digest(name) % len(_SURNAMES)]}"


@dataclass(frozen=True)
class Person:
    name: str
    upn: str
    object_id: str
    device: dict | None  # a device the user works on (the seed data's device dict), if any

    @property
    def home_ip(self) -> str:
        if self.device is not None:
            return self.device["public_ip"]
        h = _digest(self.upn)
        return f"198.18.{h % 250}.{h // 250 % 250 + 1}"


def people(alerts: Iterable[Mapping], devices: Iterable[dict]) -> list[Person]:
    """The tenant's users: those the alerts' User evidence names (with their Entra object id),
    then the devices' users, once each by UPN, in that order."""
    found: dict[str, Person] = {}
    for alert in alerts:
        for ev in alert.get("evidence") or []:
            if ev.get("entityType") == "User" and ev.get("accountName") and ev.get("userPrincipalName"):
                upn = str(ev["userPrincipalName"]).lower()
                found.setdefault(upn, Person(str(ev["accountName"]), upn, str(ev.get("aadUserId") or object_id(upn)),
                                             None))
    for d in devices:
        for user in d["users"]:
            upn = f"{user}@{d['domain']}".lower()
            known = found.get(upn)
            if known is None:
                found[upn] = Person(user, upn, object_id(upn), d)
            elif known.device is None:
                found[upn] = Person(known.name, upn, known.object_id, d)
    return list(found.values())


def object_id(upn: str) -> str:
    """The Entra object id the seed data gives ``upn`` when no alert names one."""
    return str(uuid.UUID(hashlib.sha256(f"entra-user:{upn}".encode()).hexdigest()[:32]))


def write_identities(w: Writer, users: list[Person], rng: Any, now: datetime, *, at_risk: str = "") -> None:
    """IdentityInfo, home sign-ins and cloud app activity for ``users``; ``at_risk``: the UPN whose
    Entra ID user risk is Medium (the story's victim)."""
    for p in users:
        h = _digest(p.upn)
        department, title = _DEPARTMENTS[h % len(_DEPARTMENTS)]
        risky = p.upn == at_risk
        given, surname = display_name(p.name).split(" ", 1)
        w.add_known("IdentityInfo", now - timedelta(hours=6, minutes=h % 60), AccountObjectId=p.object_id,
                    AccountUpn=p.upn, OnPremSid=user_sid(p.name), AccountDisplayName=display_name(p.name),
                    AccountName=p.name, AccountDomain=p.upn.split("@")[1], Type="User", GivenName=given,
                    Surname=surname, Department=department, JobTitle=title, EmailAddress=p.upn, City=HOME_CITY,
                    Country=HOME_COUNTRY, IsAccountEnabled=True,
                    CreatedDateTime=now - timedelta(days=200 + h % 900), RiskLevel="Medium" if risky else "",
                    RiskLevelDetails="unfamiliarFeatures" if risky else "", RiskStatus="AtRisk" if risky else "None",
                    TenantMembershipType="Member", IdentityEnvironment="Hybrid",
                    SourceProviders=["ActiveDirectory", "EntraID"], ChangeSource="System-UserPersistence")
        who = {"AccountUpn": p.upn, "AccountObjectId": p.object_id, "AccountDisplayName": display_name(p.name),
               "IPAddress": p.home_ip}
        for i in range(4):
            app, app_id = _APPS[(h + i) % len(_APPS)]
            when = now - timedelta(seconds=rng.randrange(14 * 86400))
            signin(w, when, rng, {**who, "Application": app, "ApplicationId": app_id}, country=HOME_COUNTRY,
                   city=HOME_CITY, risk=1, user_agent=_HOME_AGENT, device=p.device)
            if i < 2:
                w.add_known("IdentityLogonEvents", when, ActionType="LogonSuccess", Application="Office 365",
                            LogonType="Login:login", Protocol="", AccountName=p.name,
                            AccountDomain=p.upn.split("@")[1], AccountUpn=p.upn, AccountObjectId=p.object_id,
                            AccountDisplayName=display_name(p.name), IPAddress=p.home_ip, Location=HOME_COUNTRY,
                            ISP="Contoso Fiber", OSPlatform=(p.device or {}).get("os", ""),
                            DeviceName=(p.device or {}).get("name", ""), DeviceType="Desktop", AdditionalFields={})
        for action, app, app_id, activity, kind in _ACTIVITY:
            w.add_known("CloudAppEvents", now - timedelta(seconds=rng.randrange(14 * 86400)), ActionType=action,
                        Application=app, ApplicationId=app_id, AccountObjectId=p.object_id, AccountId=p.object_id,
                        AccountDisplayName=display_name(p.name), IsAdminOperation=False, IPAddress=p.home_ip,
                        IsAnonymousProxy=False, CountryCode=HOME_COUNTRY, City=HOME_CITY, ISP="Contoso Fiber",
                        UserAgent=_HOME_AGENT, ActivityType=activity, ObjectType=kind, AccountType="Regular",
                        ActivityObjects=[], RawEventData={"Operation": action, "UserId": p.upn,
                                                          "ClientIP": p.home_ip}, UncommonForUser=[])


def signin(w: Writer, when: datetime, rng: Any, who: Mapping, *, country: str, city: str, risk: int,
           user_agent: str, device: Mapping | None = None) -> None:
    """One interactive Entra ID sign-in, in whichever of the two sign-in tables the schemas have.
    ``risk``: RiskLevelAggregated (1 none, 10 low, 50 medium, 100 high)."""
    correlation = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    common = {**who, "LogonType": '["interactiveUser"]', "ErrorCode": 0, "CorrelationId": correlation,
              "SessionId": str(uuid.UUID(int=rng.getrandbits(128), version=4)), "IsExternalUser": 0,
              "IsGuestUser": False, "ResourceDisplayName": who.get("Application", ""),
              "AuthenticationRequirement": "singleFactorAuthentication", "TokenIssuerType": 0,
              "RiskLevelAggregated": risk, "RiskState": 4 if risk >= 50 else 0, "UserAgent": user_agent,
              "ClientAppUsed": "Browser", "Browser": user_agent.rsplit(" ", 1)[-1], "ConditionalAccessStatus": 2,
              "Country": country, "City": city, "RequestId": correlation, "DeviceName": (device or {}).get("name", ""),
              "OSPlatform": (device or {}).get("os", ""), "IsManaged": 1 if device else 0,
              "DeviceTrustType": "ServerAd" if device else ""}
    aad_device = (device or {}).get("aad_id") or ""
    w.add_known("AADSignInEventsBeta", when, **common, AadDeviceId=aad_device)
    w.add_known("EntraIdSignInEvents", when, **common, EntraIdDeviceId=aad_device)
