"""Where the notifications of waiting approvals and failed runs go: read from ``SOAR_NOTIFY_*``
environment variables each time one is sent (so a change needs no restart of the observer).

A plugin has no section of soar.yaml of its own (soar.yaml refuses unknown keys), so the
process's environment is the configuration, as for any service. A secret (a webhook URL, the
SMTP password) is given in ``SOAR_NOTIFY_<NAME>`` or, better, read from the file named by
``SOAR_NOTIFY_<NAME>_FILE`` (a mounted secret). See docs/notify.md for the list.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from runner.plugin import Secret

from soar_notify import smtp
from soar_notify.message import check_link, webhook_problem

PREFIX = "SOAR_NOTIFY_"
DEFAULT_CONSOLE = "http://127.0.0.1:8080"  # `soar serve`'s own default address
EVENTS = ("approval", "failed")


@dataclass(frozen=True)
class EmailSettings:
    server: smtp.SmtpServer
    sender: str
    to: tuple[str, ...]


@dataclass(frozen=True)
class Settings:
    console_url: str = DEFAULT_CONSOLE
    events: frozenset[str] = frozenset(EVENTS)
    teams: Secret | None = None
    slack: Secret | None = None
    email: EmailSettings | None = None
    ca_bundle: str | None = None
    timeout: float = 10.0
    problems: tuple[str, ...] = field(default=())  # settings that could not be used, said once

    @property
    def channels(self) -> list[str]:
        return [name for name in ("teams", "slack", "email") if getattr(self, name) is not None]


def _get(env: dict[str, str], name: str) -> str | None:
    value = env.get(PREFIX + name, "").strip()
    return value or None


def _secret(env: dict[str, str], name: str, problems: list[str]) -> Secret | None:
    """``SOAR_NOTIFY_<name>``, or the content of the file ``SOAR_NOTIFY_<name>_FILE`` names."""
    path = _get(env, name + "_FILE")
    if path is not None:
        try:
            value = Path(path).expanduser().read_text(encoding="utf-8").strip()
        except OSError as exc:
            problems.append(f"{PREFIX}{name}_FILE: cannot read {path} ({exc.strerror or type(exc).__name__})")
            return None
        return Secret(value, name=PREFIX + name) if value else None
    value = _get(env, name)
    return Secret(value, name=PREFIX + name) if value is not None else None


def load(environ: dict[str, str] | None = None) -> Settings:
    """The settings in ``environ`` (default: the process's). A setting that cannot be used is
    left out and named in ``problems``; nothing here raises."""
    env = dict(os.environ if environ is None else environ)
    problems: list[str] = []
    console = _get(env, "CONSOLE_URL") or DEFAULT_CONSOLE
    try:
        console = check_link(console).rstrip("/")
    except ValueError as exc:
        problems.append(f"{PREFIX}CONSOLE_URL: {exc}; links use {DEFAULT_CONSOLE}")
        console = DEFAULT_CONSOLE
    events = frozenset(EVENTS)
    if (raw := _get(env, "ON")) is not None:
        asked = {e.strip().lower() for e in raw.split(",") if e.strip()}
        unknown = asked - set(EVENTS) - {"none"}
        if unknown:
            problems.append(f"{PREFIX}ON: unknown event(s) {', '.join(sorted(unknown))} (known: {', '.join(EVENTS)})")
        events = frozenset(asked & set(EVENTS))
    hooks: dict[str, Secret | None] = {}
    for channel in ("teams", "slack"):
        url = _secret(env, f"{channel.upper()}_WEBHOOK", problems)
        problem = webhook_problem(url.reveal()) if url is not None else None
        if problem is not None:
            problems.append(f"{PREFIX}{channel.upper()}_WEBHOOK: {problem}")
            url = None
        hooks[channel] = url
    timeout = 10.0
    if (raw := _get(env, "TIMEOUT")) is not None:
        try:
            timeout = float(raw)
            if timeout <= 0:
                raise ValueError
        except ValueError:
            problems.append(f"{PREFIX}TIMEOUT: {raw!r} is not a number of seconds above 0; using 10")
            timeout = 10.0
    ca_bundle = _get(env, "CA_BUNDLE")
    return Settings(console_url=console, events=events, teams=hooks["teams"], slack=hooks["slack"],
                    email=_email(env, problems, ca_bundle, timeout), ca_bundle=ca_bundle, timeout=timeout,
                    problems=tuple(problems))


def _email(env: dict[str, str], problems: list[str], ca_bundle: str | None, timeout: float) -> EmailSettings | None:
    host = _get(env, "SMTP_HOST")
    if host is None:
        return None
    port, security = 587, _get(env, "SMTP_SECURITY") or "starttls"
    if security not in ("starttls", "tls", "none"):
        problems.append(f"{PREFIX}SMTP_SECURITY: {security!r} is not starttls, tls or none; email is off")
        return None
    if (raw := _get(env, "SMTP_PORT")) is not None:
        if not raw.isdigit() or not 0 < int(raw) < 65536:
            problems.append(f"{PREFIX}SMTP_PORT: {raw!r} is not a port number; email is off")
            return None
        port = int(raw)
    elif security == "tls":
        port = 465
    sender, to = _get(env, "EMAIL_FROM"), [a.strip() for a in (_get(env, "EMAIL_TO") or "").split(",") if a.strip()]
    if sender is None or not to:
        problems.append(f"{PREFIX}SMTP_HOST is set but {PREFIX}EMAIL_FROM or {PREFIX}EMAIL_TO is not; email is off")
        return None
    try:
        smtp.check_address(sender)
        for address in to:
            smtp.check_address(address)
    except ValueError as exc:
        problems.append(f"{PREFIX}EMAIL_FROM/EMAIL_TO: {exc}; email is off")
        return None
    password = _secret(env, "SMTP_PASSWORD", problems)
    if security == "none" and password is not None:
        problems.append(f"{PREFIX}SMTP_SECURITY=none with a password: a password is never sent without TLS; "
                        "email is off")
        return None
    server = smtp.SmtpServer(host, port, security, _get(env, "SMTP_USERNAME"), password,  # type: ignore[arg-type]
                             _get(env, "SMTP_CA_BUNDLE") or ca_bundle, timeout)
    return EmailSettings(server, sender, tuple(to))
