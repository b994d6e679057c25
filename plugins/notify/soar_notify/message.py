"""What a notification says, whatever the channel: a title, a text, facts and links.

Teams, Slack and email each render a :class:`Message` their own way (:mod:`soar_notify.cards`).
Text is plain unless ``markdown`` is set: a title, a fact or an approval message that holds
data from an alert is shown as written, so it can never add a link or a button of its own.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

LinkStyle = Literal["default", "primary", "danger"]


@dataclass(frozen=True)
class Link:
    """A button (Teams, Slack) or a line with the URL (email)."""

    title: str
    url: str
    style: LinkStyle = "default"


@dataclass(frozen=True)
class Message:
    title: str
    text: str = ""
    facts: tuple[tuple[str, str], ...] = ()
    links: tuple[Link, ...] = ()
    markdown: bool = False  # `text` is Markdown written by the playbook's author
    color: Literal["default", "good", "warning", "attention"] = "default"


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback address (``127.0.0.0/8``, ``::1``)."""
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_link(url: str) -> str:
    """``url`` if it is an absolute http(s) URL with a host, else ``ValueError``."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} is not an absolute http:// or https:// URL")
    return url


def webhook_problem(url: str) -> str | None:
    """Why ``url`` cannot be a chat webhook, or ``None``. A webhook URL carries its own
    credential, so it goes over https only — plain http to a loopback receiver excepted. The
    URL itself is never part of the answer (it is a secret)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - a bad port raises ValueError
    except ValueError:
        return "it is not a valid URL"
    if parts.scheme not in ("http", "https") or not host:
        return "it is not an absolute https:// URL"
    if parts.scheme == "http" and not is_loopback(host):
        return f"it is plain http to {host}: the URL is a credential, send it over https only"
    return None


def host_of(url: str) -> str:
    """The host (and port) of a URL, the only part of a webhook URL that errors and logs show."""
    try:
        parts = urlsplit(url)
        return parts.netloc.rsplit("@", 1)[-1] or "?"
    except ValueError:
        return "?"


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, with an ellipsis when cut."""
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"
