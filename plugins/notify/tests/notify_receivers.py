"""Local receivers for the notification tests, on 127.0.0.1 only:

- :class:`HttpReceiver` — a webhook endpoint (Teams, Slack): records each request and answers
  what the test scripted for its path (default 200 ``ok``, as Slack does);
- :class:`SmtpReceiver` — an ``aiosmtpd`` server that requires STARTTLS (with a self-signed
  certificate for 127.0.0.1, made here with ``cryptography``) and, if asked, a login; it records
  each message with whether it came over TLS and who logged in.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import ipaddress
import json
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


# ---- HTTP ------------------------------------------------------------------------------------------

@dataclass
class Got:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)


class HttpReceiver:
    def __init__(self) -> None:
        self.got: list[Got] = []
        self.answers: dict[str, tuple[int, dict, str]] = {}
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.server.receiver = self  # type: ignore[attr-defined]
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def url(self, path: str) -> str:
        return f"http://{self.host}{path}"

    def answer(self, path: str, status: int, body: str = "", headers: dict | None = None) -> None:
        self.answers[path] = (status, headers or {}, body)

    def posts(self, path: str) -> list[Got]:
        return [g for g in self.got if g.path == path]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        rec: HttpReceiver = self.server.receiver  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        rec.got.append(Got(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
        status, headers, text = rec.answers.get(self.path, (200, {}, "ok"))
        data = text.encode()
        self.send_response(status)
        for k, v in {"Content-Type": "text/plain", **headers}.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


# ---- SMTP ------------------------------------------------------------------------------------------

@dataclass
class Mail:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    tls: bool
    login: str | None

    @property
    def message(self) -> email.message.EmailMessage:
        return email.message_from_bytes(self.raw, policy=email.policy.default)  # type: ignore[return-value]

    @property
    def text(self) -> str:
        return self.message.get_content()


@dataclass
class SmtpReceiver:
    controller: Controller
    cert: Path | None
    mails: list[Mail] = field(default_factory=list)
    logins: list[tuple[str, bool]] = field(default_factory=list)  # (user, accepted)

    @property
    def port(self) -> int:
        return self.controller.port

    def close(self) -> None:
        self.controller.stop()


class _Recorder:
    def __init__(self) -> None:
        self.receiver: SmtpReceiver | None = None

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's naming
        login = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None
        self.receiver.mails.append(Mail(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content,
                                        session.ssl is not None, login))
        return "250 Message accepted for delivery"


class _Controller(Controller):
    """aiosmtpd's controller on a port the system picks (port 0)."""

    def _trigger_server(self):
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


def start_smtp(tmp: Path, *, starttls: bool = True, users: dict[str, str] | None = None) -> SmtpReceiver:
    """An SMTP server on 127.0.0.1: STARTTLS required when ``starttls`` (else not offered at
    all), and a login required (only after STARTTLS) when ``users`` is given."""
    handler = _Recorder()
    kwargs: dict = {}
    cert = None
    if starttls:
        cert, key = self_signed(tmp)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        kwargs.update(tls_context=context, require_starttls=True)
    if users is not None:
        def authenticate(server, session, envelope, mechanism, auth_data):
            ok = isinstance(auth_data, LoginPassword) and users.get(auth_data.login.decode()) == \
                auth_data.password.decode()
            receiver.logins.append((auth_data.login.decode(), ok))
            return AuthResult(success=ok, handled=False, auth_data=auth_data)  # failed: aiosmtpd answers 535

        kwargs.update(authenticator=authenticate, auth_required=True, auth_require_tls=True)
    controller = _Controller(handler, hostname="127.0.0.1", port=0, **kwargs)
    receiver = SmtpReceiver(controller, cert)
    handler.receiver = receiver
    controller.start()
    return receiver


def self_signed(tmp: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (its own CA bundle) and its key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "soar notify test SMTP")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp / "smtp-cert.pem", tmp / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path
