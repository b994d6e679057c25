"""Sending one email over SMTP — the one module that uses :mod:`smtplib`.

``security``: ``starttls`` (the default: a plain connection, usually on port 587, upgraded with
STARTTLS before anything else is said), ``tls`` (TLS from the first byte, usually port 465) or
``none`` (no TLS; refused with a password, which is never sent in clear text). The server's
certificate is checked against the system's CAs, or those of ``ca_bundle``.

Every failure raises a :mod:`runner.plugin` error naming the server and saying what to do; the
password is never part of one. The call blocks: an action runs it in a thread.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from typing import Literal

from runner.plugin import ActionInputError, ApiError, AuthError, Secret, TransientApiError

from soar_notify.message import clip

Security = Literal["starttls", "tls", "none"]


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int = 587
    security: Security = "starttls"
    username: str | None = None
    password: Secret | None = None
    ca_bundle: str | None = None
    timeout: float = 30.0

    @property
    def where(self) -> str:
        return f"SMTP server {self.host}:{self.port}"


def check_address(value: str) -> str:
    """``value`` if it is one email address (``a@b.example`` or ``Name <a@b.example>``), else
    ``ValueError`` — also for a line break, which would start another header."""
    if "\r" in value or "\n" in value:
        raise ValueError(f"{value!r} holds a line break")
    _name, address = parseaddr(value)
    local, _, domain = address.rpartition("@")
    if not local or not domain or " " in address or "," in address:
        raise ValueError(f"{value!r} is not an email address")
    return value


def build(sender: str, to: list[str], subject: str, body: str, cc: list[str] | None = None) -> EmailMessage:
    """A plain-text UTF-8 message. ``subject`` is made one line."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    if cc:
        msg["Cc"] = ", ".join(cc)
    msg["Subject"] = clip(" ".join(subject.split()), 250)
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain=parseaddr(sender)[1].rpartition("@")[2] or None)
    msg.set_content(body)
    return msg


def _tls_context(server: SmtpServer) -> ssl.SSLContext:
    try:
        return ssl.create_default_context(cafile=server.ca_bundle) if server.ca_bundle \
            else ssl.create_default_context()
    except (OSError, ssl.SSLError) as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise ActionInputError(f"ca_bundle {server.ca_bundle}: cannot be read as PEM CA certificates ({reason})",
                               hint="give the path of a PEM file with the CA certificate(s) that signed the "
                                    "SMTP server's certificate") from None


def _smtp_error(server: SmtpServer, exc: Exception, *, sending: bool) -> Exception:
    """The runner.plugin error for what smtplib raised. ``sending``: the message had been handed
    over (or was being), so it may have been taken."""
    where = server.where
    if isinstance(exc, ssl.SSLCertVerificationError):
        return ApiError(f"{where}: its TLS certificate is not trusted ({clip(exc.verify_message or '', 120)})",
                        hint="if the server uses a private CA, give its certificate with `ca_bundle:`")
    if isinstance(exc, ssl.SSLError):
        return ApiError(f"{where}: the TLS handshake failed ({clip(str(exc.reason or exc), 120)})",
                        hint="check `security:` — `tls` for a port that speaks TLS from the start (465), "
                             "`starttls` for one that upgrades (587)")
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return AuthError(f"{where} refused the login of '{server.username}' ({exc.smtp_code})",
                         hint="check `username` and the `password` secret")
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        if server.security == "starttls":
            return ApiError(f"{where} does not offer STARTTLS; the message was not sent",
                            hint="use `security: tls` on the server's TLS port (465), or another server")
        return ApiError(f"{where}: {exc}", hint="leave `username`/`password` out, or use the submission port")
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        refused = ", ".join(f"{rcpt} ({code})" for rcpt, (code, _text) in exc.recipients.items())
        transient = all(400 <= code < 500 for code, _text in exc.recipients.values())
        return ApiError(f"{where} refused every recipient: {refused}", retryable=transient,
                        hint="check the addresses in `to`/`cc`, and that the server relays for the sender")
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return ApiError(f"{where} refused the sender {exc.sender} ({exc.smtp_code})",
                        retryable=400 <= exc.smtp_code < 500,
                        hint="use a `from` address the account may send as")
    if isinstance(exc, smtplib.SMTPResponseException):
        text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        return ApiError(f"{where} answered {exc.smtp_code}: {clip(' '.join(text.split()), 200)}",
                        retryable=400 <= exc.smtp_code < 500,
                        hint="a 4xx is temporary: add `retry:` to the step; a 5xx is the server's refusal")
    if isinstance(exc, smtplib.SMTPServerDisconnected) and sending:
        return TransientApiError(f"{where} closed the connection while the message was sent", retryable=False,
                                 hint="the message may have been delivered: check before sending again")
    name = type(exc).__name__
    reason = getattr(exc, "strerror", None) or clip(str(exc), 120)
    return TransientApiError(f"{where}: cannot connect ({name}{': ' + reason if reason else ''})",
                             retryable=not sending,
                             hint="check `host`, `port` and `security`, and the network; add `retry:` to the step")


def send(server: SmtpServer, message: EmailMessage) -> dict[str, tuple[int, str]]:
    """Send ``message``; the recipients the server refused while taking it for the others
    (``{address: (code, text)}``). Raises when it was not sent."""
    if server.security == "none" and server.password is not None:
        raise ActionInputError(f"{server.where}: a password is never sent without TLS",
                               hint="use `security: starttls` (or `tls`), or leave the password out")
    context = _tls_context(server) if server.security != "none" else None
    sending = False
    conn: smtplib.SMTP | None = None
    try:
        if server.security == "tls":
            conn = smtplib.SMTP_SSL(server.host, server.port, timeout=server.timeout, context=context)
        else:
            conn = smtplib.SMTP(server.host, server.port, timeout=server.timeout)
        conn.ehlo()
        if server.security == "starttls":
            conn.starttls(context=context)
            conn.ehlo()
        if server.username:
            conn.login(server.username, server.password.reveal() if server.password is not None else "")
        sending = True
        refused = conn.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        raise _smtp_error(server, exc, sending=sending) from None
    finally:
        if conn is not None:
            try:
                conn.quit()
            except (OSError, smtplib.SMTPException):
                conn.close()
    return {rcpt: (code, text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text))
            for rcpt, (code, text) in refused.items()}
