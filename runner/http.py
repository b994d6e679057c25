"""The one place httpx clients are built.

Every request soar-runner makes goes through a :class:`Network`. A network either reaches the
real Microsoft endpoints, or is *simulated*: every request is answered by an in-process handler
(``runner.sim``), and nothing can leave the process. Tests build simulated networks only, and
the test suite's guard refuses any real connection.

msal is synchronous and needs a sync client; actions are async. One handler function
``handler(request) -> httpx.Response`` serves both through ``httpx.MockTransport``.
"""

from __future__ import annotations

from typing import Callable

import httpx

from runner.errors import UsageError

Handler = Callable[[httpx.Request], httpx.Response]

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
USER_AGENT = "soar-runner/0.1"


def _refuse(request: httpx.Request) -> httpx.Response:
    raise UsageError(
        f"refused a request to {request.url.host}: this network is simulated and offline",
        hint="point the config at the simulated cloud, or run without --simulate for real tenants",
    )


class Network:
    """Builds httpx clients that all go to the same place (real, simulated, or nowhere)."""

    def __init__(self, handler: Handler | None = None, *, real: bool = False, name: str = ""):
        if handler is None and not real:
            handler = _refuse
        self.handler = handler
        self.real = real
        self.name = name or ("real" if real else "simulated")

    @classmethod
    def simulated(cls, handler: Handler) -> "Network":
        return cls(handler, name="simulated")

    @classmethod
    def internet(cls) -> "Network":
        """The real network — unless ``SOAR_OFFLINE=1`` (set by the test suite), which refuses."""
        import os

        if os.environ.get("SOAR_OFFLINE") == "1":
            return cls(_refuse, name="offline")
        return cls(None, real=True)

    def _transport_kwargs(self) -> dict:
        if self.real:
            return {}
        return {"transport": httpx.MockTransport(self.handler)}

    def sync_client(self, **kw) -> httpx.Client:
        kw.setdefault("timeout", DEFAULT_TIMEOUT)
        kw.setdefault("headers", {"User-Agent": USER_AGENT})
        return httpx.Client(**self._transport_kwargs(), **kw)

    def async_client(self, **kw) -> httpx.AsyncClient:
        kw.setdefault("timeout", DEFAULT_TIMEOUT)
        kw.setdefault("headers", {"User-Agent": USER_AGENT})
        return httpx.AsyncClient(**self._transport_kwargs(), **kw)
