"""A real HTTP receiver on 127.0.0.1 (the "webhook" of the workflow tests): it records every
request and answers what the test scripted for its path — optionally over TLS with a
self-signed certificate for 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@dataclass
class Got:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)


@dataclass
class Receiver:
    """``answers[path]``: a list of ``(status, headers, body)`` given in turn (the last one
    repeats); any other path answers 200 ``{"ok": true}``. ``got``: what arrived."""

    server: ThreadingHTTPServer
    scheme: str = "http"
    answers: dict[str, list[tuple[int, dict, bytes | str]]] = field(default_factory=dict)
    got: list[Got] = field(default_factory=list)
    cert: Path | None = None

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return f"{self.scheme}://{self.host}{path}"

    def answer(self, path: str, *answers: tuple[int, dict, bytes | str]) -> None:
        self.answers[path] = list(answers)

    def paths(self) -> list[str]:
        return [g.path for g in self.got]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _any(self) -> None:
        rec: Receiver = self.server.receiver  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        rec.got.append(Got(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body))
        route = self.path.split("?")[0]
        queue = rec.answers.get(route)
        if queue:
            status, headers, content = queue.pop(0) if len(queue) > 1 else queue[0]
        else:
            status, headers, content = 200, {"Content-Type": "application/json"}, b'{"ok": true}'
        data = content.encode() if isinstance(content, str) else content
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _any

    def log_message(self, *args) -> None:
        pass


def start(tmp: Path, tls: bool = False) -> Receiver:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    rec = Receiver(server)
    server.receiver = rec  # type: ignore[attr-defined]
    if tls:
        rec.cert, key = _self_signed(tmp)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(rec.cert, key)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
        rec.scheme = "https"
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    return rec


def stop(rec: Receiver) -> None:
    rec.server.shutdown()
    rec.server.server_close()


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    """A CA-less self-signed certificate for 127.0.0.1 (its own CA bundle)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "soar test receiver")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp / "receiver-cert.pem", tmp / "receiver-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path
