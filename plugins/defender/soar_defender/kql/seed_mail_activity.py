"""Background mail activity: the links in ordinary mail, the clicks on them, and mail removed after delivery.

* EmailUrlInfo: one row per link of each ordinary delivered mail already in EmailEvents (its
  ``UrlCount`` of them: SharePoint news, GitHub runs, event sign-ups), plus the link of each
  mail below.
* UrlClickEvents: about a third of those links are clicked (``ClickAllowed``, not a
  click-through, no threat), some minutes after delivery, from the user's usual address.
* A few phishing and spam mails (one per five devices) from rare outside domains: delivered to a
  user's Inbox clean (EmailEvents, with an ``EmailClusterId``), then removed. EmailPostDeliveryEvents
  records a ``Phish ZAP`` (moved to quarantine; now and then the ZAP fails with ``Error``) or an
  administrator's ``Manual remediation`` (soft delete). Some were clicked first: Safe Links blocked
  the click (``ClickBlocked``, ``Phish``, not clicked through).

The mails that carry threats at delivery (the attack story's, the planted ones) get no rows
here, and no row names their senders, domains or links.
"""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta
from typing import Mapping

from .identities import Person
from .seed_common import Writer

__all__ = ["write_mail_activity"]

_PHISH = [("docs-share-secure.example", "Shared document: Q4 salary review", "https://docs-share-secure.example/d/",
           "Phish"),
          ("m365-login-verify.example", "Action needed: verify your mailbox", "https://m365-login-verify.example/auth/",
           "Phish"),
          ("parcel-tracking-update.example", "Your parcel could not be delivered",
           "https://parcel-tracking-update.example/track/", "Phish"),
          ("promo-deals.example", "Exclusive offer ends tonight", "https://promo-deals.example/offer/", "Spam")]


def _links(sender: str, rng: random.Random) -> str:
    """A link the ordinary mail of ``sender`` carries."""
    domain = sender.split("@")[1]
    if domain == "github.com":
        return f"https://github.com/{rng.choice(['contoso', 'fabrikam'])}/app/actions/runs/{rng.randrange(10**9, 10**10)}"
    if sender.startswith("events@"):
        return f"https://events.{domain}/register?id={rng.randrange(1000, 9999)}"
    site = "hr" if sender.startswith("hr@") else "news"
    return f"https://{domain.split('.')[0]}.sharepoint.com/sites/{site}/SitePages/{rng.randrange(100, 999)}.aspx"


def _domain(url: str) -> str:
    return url.split("/")[2]


def write_mail_activity(w: Writer, users: list[Person], devs: list[dict], seed: int, now: datetime) -> None:
    """EmailUrlInfo and UrlClickEvents for the ordinary mail in EmailEvents, then the removed
    phishing and spam mails (EmailEvents, EmailUrlInfo, EmailPostDeliveryEvents, UrlClickEvents)."""
    rng = random.Random(f"{seed}:mail-activity")
    home = {p.upn: p.home_ip for p in users}
    for mail in list(w.rows["EmailEvents"]):
        if mail.get("ThreatTypes") or mail.get("DeliveryAction") != "Delivered":
            continue
        for _ in range(mail.get("UrlCount") or 0):
            url = _links(mail["SenderFromAddress"], rng)
            w.add_known("EmailUrlInfo", mail["Timestamp"], NetworkMessageId=mail["NetworkMessageId"], Url=url,
                        UrlDomain=_domain(url), UrlLocation="Body")
            clicked = mail["Timestamp"] + timedelta(minutes=rng.randrange(2, 240))
            if rng.random() < 0.35 and clicked <= now:
                _click(w, clicked, rng, "ClickAllowed", url, mail, home, "")
    recipients = [p for p in users if p.device is not None]
    for i in range(max(1, len(devs) // 5) if recipients else 0):
        _removed_mail(w, rng.choice(recipients), rng, now, home, *_PHISH[i % len(_PHISH)])


def _click(w: Writer, at: datetime, rng: random.Random, action: str, url: str, mail: Mapping, home: Mapping,
           threats: str) -> None:
    recipient = str(mail["RecipientEmailAddress"]).lower()
    w.add_known("UrlClickEvents", at, ActionType=action, Url=url, AccountUpn=recipient, Workload="Email",
                NetworkMessageId=mail["NetworkMessageId"], ThreatTypes=threats,
                DetectionMethods="URL detonation reputation" if threats else "", IsClickedThrough=False,
                IPAddress=home.get(recipient, ""), UrlChain=[url], ReportId=str(rng.randrange(10**9, 10**10)))


def _removed_mail(w: Writer, to: Person, rng: random.Random, now: datetime, home: Mapping, domain: str, subject: str,
                  link: str, threat: str) -> None:
    delivered = now - timedelta(days=1 + rng.randrange(28), seconds=rng.randrange(86400))
    message_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    sender = f"{rng.choice(['no-reply', 'support', 'info'])}@{domain}"
    zap = threat == "Phish" and rng.random() < 0.75
    failed = zap and rng.random() < 0.2
    removed = delivered + timedelta(minutes=rng.randrange(15, 600))
    location = "Inbox/folder" if failed else "Quarantine" if zap else "Deleted items"
    mail = {"NetworkMessageId": message_id, "RecipientEmailAddress": to.upn}
    w.add_known("EmailEvents", delivered, **mail, InternetMessageId=f"<{message_id[:13]}@{domain}>",
                SenderMailFromAddress=sender, SenderFromAddress=sender, SenderMailFromDomain=domain,
                SenderFromDomain=domain, SenderIPv4=f"198.51.100.{rng.randrange(100, 200)}",
                RecipientObjectId=to.object_id, Subject=subject, EmailClusterId=rng.randrange(10**9, 10**10),
                EmailDirection="Inbound", DeliveryAction="Delivered", DeliveryLocation="Inbox/folder", ThreatTypes="",
                AttachmentCount=0, UrlCount=1, EmailLanguage="en", RecipientDomain=to.upn.split("@")[1],
                LatestDeliveryLocation=location,
                LatestDeliveryAction="Delivered" if failed else "Moved to quarantine" if zap else "Soft delete")
    url = f"{link}{rng.getrandbits(40):010x}"
    w.add_known("EmailUrlInfo", delivered, NetworkMessageId=message_id, Url=url, UrlDomain=domain, UrlLocation="Body")
    if zap:
        event = {"ActionType": "Phish ZAP", "Action": "Moved to quarantine", "ActionTrigger": "Special action",
                 "ActionResult": "Error" if failed else "Success", "DeliveryLocation": location}
    else:
        event = {"ActionType": "Manual remediation", "Action": "Soft delete", "ActionTrigger": "Admin action",
                 "ActionResult": "Success", "DeliveryLocation": location}
    method = "URL detonation reputation" if threat == "Phish" else "Spam"
    w.add_known("EmailPostDeliveryEvents", removed, **mail, **event, InternetMessageId=f"<{message_id[:13]}@{domain}>",
                ThreatTypes=threat, DetectionMethods=f'{{"{threat}":["{method}"]}}', SenderFromAddress=sender,
                EmailDirection="Inbound", SourceLocation="Inbox/folder")
    if threat == "Phish" and rng.random() < 0.5:
        _click(w, removed + timedelta(minutes=rng.randrange(1, 30)) if failed else
               delivered + timedelta(minutes=rng.randrange(1, 14)), rng, "ClickBlocked", url, mail, home, "Phish")
