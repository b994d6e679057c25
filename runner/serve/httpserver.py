"""The HTTP server of ``soar serve``: uvicorn, with limits so slow or idle clients cannot hold it.

uvicorn drops an idle keep-alive connection (``timeout_keep_alive``) and caps a request head's
size (h11's ``max_incomplete_event_size``), but it has no deadline for *receiving* a request
head: a client that sends one byte a second (slowloris) keeps its connection — and a file
descriptor — for ever, and a few hundred of them exhaust the process's descriptors, after which
even ``/healthz`` cannot be answered. So:

- :class:`HeadDeadlineProtocol` closes a connection whose request head is not complete
  ``head_timeout`` seconds after it connected (or after the first byte of its next request);
- the app reads bodies under ``read_timeout`` (``runner.serve.app``: 408);
- ``max_connections`` is uvicorn's ``limit_concurrency``: beyond it requests are answered 503
  at once instead of waiting (keep the process's file limit, ``ulimit -n``, above it).

The protocol is uvicorn's h11 protocol (the ``http=`` class uvicorn documents as pluggable),
extended through the asyncio ``Protocol`` methods only; whether a head is complete is h11's
``Connection.their_state`` (``IDLE`` until a full request head has been parsed).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

MAX_HEAD_BYTES = 16 * 1024  # request line + headers; larger: the connection gets a 400


@dataclass(frozen=True)
class HttpLimits:
    """The HTTP server's limits (``soar serve`` options; see docs/serve.md)."""

    head_timeout: float = 10.0      # a request head must be complete this long after it began
    keep_alive: float = 5.0         # an idle keep-alive connection is closed after this long
    max_connections: int = 1000     # beyond: 503 at once
    max_head_bytes: int = MAX_HEAD_BYTES


class HeadDeadlineProtocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline on receiving each request head."""

    head_timeout: float = HttpLimits.head_timeout  # set per server by :func:`protocol_for`

    def connection_made(self, transport: Any) -> None:
        self._head_timer: asyncio.TimerHandle | None = None
        super().connection_made(transport)
        self._arm()  # a connection that never sends a byte is dropped too

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is h11.IDLE:
            if self._head_timer is None:  # the first bytes of a (next) request head
                self._arm()
        else:
            self._disarm()  # a head is complete: the request is the app's now

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._head_timer = asyncio.get_running_loop().call_later(self.head_timeout, self._expired)

    def _disarm(self) -> None:
        timer, self._head_timer = self._head_timer, None
        if timer is not None:
            timer.cancel()

    def _expired(self) -> None:
        self._head_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()


def protocol_for(limits: HttpLimits) -> type[H11Protocol]:
    """The protocol class for one server (the deadline is a class attribute: uvicorn
    instantiates the class itself)."""
    return type("HeadDeadlineProtocol", (HeadDeadlineProtocol,), {"head_timeout": limits.head_timeout})


class Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self):  # ServeService's signal handlers decide (install_signals)
        yield


def build_server(app: Any, limits: HttpLimits) -> Server:
    """A uvicorn server for ``app`` with ``limits``, serving on sockets handed to ``serve``."""
    # log_config=None: uvicorn's lines go through soar's handler (its format, the redacting filter)
    config = uvicorn.Config(app, lifespan="off", log_level="warning", access_log=False, log_config=None,
                            timeout_graceful_shutdown=5, http=protocol_for(limits),
                            timeout_keep_alive=max(1, round(limits.keep_alive)),
                            limit_concurrency=limits.max_connections,
                            h11_max_incomplete_event_size=limits.max_head_bytes)
    return Server(config)
