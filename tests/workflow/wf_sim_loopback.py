"""The simulated cloud served on loopback (what `soar sim serve` does), and a soar.yaml for it: a
user's own config rehearsed against it with `--sim-url`."""

from __future__ import annotations

import contextlib
import socket
from pathlib import Path
from typing import Iterator

SECRET_ENV = "SOAR_WF_SIM_SECRET"


@contextlib.contextmanager
def served(cloud) -> Iterator[str]:
    """Serve ``cloud`` on 127.0.0.1 (uvicorn in a thread) for the block; yields its base URL."""
    from runner.loopback import serve_in_thread

    with serve_in_thread(cloud.asgi_app()) as url:
        yield url


def write_config(directory: Path, client_id: str, tenants: dict[str, str]) -> Path:
    """soar.yaml for an app and {tenant name: tenant id}; the secret comes from $SOAR_WF_SIM_SECRET."""
    rows = "".join(f"  {name}: {{id: {tid}}}\n" for name, tid in tenants.items())
    path = directory / "soar.yaml"
    path.write_text(f"app:\n  client_id: {client_id}\n  client_secret: env:{SECRET_ENV}\n"
                    f"tenants:\n{rows}token_cache: {{path: ':memory:'}}\n")
    return path


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then closed)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port
