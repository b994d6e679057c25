"""Listening on loopback: the TCP socket ``soar serve`` and ``soar sim serve`` listen on, and an
ASGI application served in a background thread (tests, benchmarks, the KQL corpus harness), the
way those commands serve it."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import Any, Iterator

from runner.errors import UsageError


def listen_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on (host, port) for uvicorn, or a UsageError saying what to change."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets whose proto says TCP; without it
    # every small keep-alive answer waits ~40 ms for a delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port} ({exc.strerror})",
                         hint="pick another --port (0 picks a free one)") from None
    sock.listen(2048)  # before the address is printed: a client may connect the moment it reads it
    return sock


@contextlib.contextmanager
def serve_in_thread(app: Any, host: str = "127.0.0.1", *, start_timeout: float = 10.0) -> Iterator[str]:
    """Serve the ASGI ``app`` (uvicorn, in a daemon thread) on a free port of ``host`` for the
    with-block; yields its base URL (``http://127.0.0.1:PORT``). The server stops at the end."""
    import uvicorn

    sock = listen_socket(host, 0)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout
    try:
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the server on {host} did not start")
            time.sleep(0.02)
        name = f"[{host}]" if ":" in host else host
        yield f"http://{name}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
