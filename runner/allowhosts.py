"""The one way out of a simulated network: hosts allowed through to the real network.

Under simulation (``--simulate``, ``--sim-url``, the pytest fixtures) every request is answered
by the simulated cloud, and a host it does not serve is refused
(:class:`runner.errors.UnservedHostError`). ``--allow-host`` (``allow_hosts=``) names hosts
whose requests go out over the real network instead — a real Teams or Slack webhook, or a
receiver on this machine — while Defender stays simulated.

An entry is matched against a request's URL, case-insensitively:

- ``hooks.example.com`` — that host, on any port;
- ``127.0.0.1:8080`` (``[::1]:8080``) — that host on that port only (a URL without a port has
  its scheme's: 443 for https, 80 for http);
- ``*.example.com`` — any host under ``example.com`` (``a.example.com``, ``a.b.example.com``),
  not ``example.com`` itself.

A host the simulated cloud serves (Entra ID's login hosts, the Defender and Graph hosts) cannot
be allowed: its requests carry simulated tokens and stay simulated.
"""

from __future__ import annotations

import fnmatch
import threading
from typing import Callable, Iterable
from urllib.parse import urlsplit

import httpx

from runner.errors import UsageError

_DEFAULT_PORTS = {"https": 443, "http": 80}
_NOT_IN_A_HOST = set("/?#@ \t\\")


class AllowedHosts:
    """A parsed list of allowed hosts (see the module's docstring); false when empty."""

    __slots__ = ("entries", "_hosts", "_ports", "_suffixes", "_named")

    def __init__(self, entries: Iterable[str] = ()) -> None:
        if isinstance(entries, str):
            entries = [entries]
        self.entries: tuple[str, ...] = ()
        self._hosts: set[str] = set()
        self._ports: set[tuple[str, int]] = set()
        self._suffixes: list[str] = []
        self._named: list[tuple[str, str]] = []  # (entry, host or *.domain)
        seen: list[str] = []
        for raw in entries:
            entry = str(raw).strip().lower()
            if not entry or entry in seen:
                continue
            host, port = _parse(str(raw).strip())
            seen.append(entry)
            self._named.append((entry, host))
            if host.startswith("*."):
                self._suffixes.append(host[1:])  # ".example.com"
            elif port is None:
                self._hosts.add(host)
            else:
                self._ports.add((host, port))
        self.entries = tuple(seen)

    def __bool__(self) -> bool:
        return bool(self.entries)

    def __repr__(self) -> str:
        return f"AllowedHosts({list(self.entries)!r})"

    def matches(self, url: httpx.URL) -> bool:
        """Whether a request to ``url`` may go out over the real network."""
        host = url.host.lower()
        if host in self._hosts:
            return True
        if self._ports and (host, url.port or _DEFAULT_PORTS.get(url.scheme, 0)) in self._ports:
            return True
        return any(host.endswith(s) for s in self._suffixes)

    def refuse_overlap(self, served: Iterable[str]) -> None:
        """Raise :class:`UsageError` when an entry takes in a host the simulated cloud serves
        (``served``: host names, or ``*.domain`` patterns)."""
        for pattern in served:
            pattern = pattern.lower()
            for entry, host in self._named:
                if _overlap(host, pattern):
                    what = f"{pattern} is" if host == pattern else f"{entry} overlaps {pattern}, which is"
                    raise UsageError(f"allowed host {what} served by the simulated cloud: its requests carry "
                                     f"simulated tokens and stay simulated",
                                     hint="allow only hosts the simulation does not serve (webhook receivers and "
                                          "the like); run without --simulate to reach the real Microsoft APIs")


def _overlap(host: str, pattern: str) -> bool:
    """Whether an allowed ``host`` (a name or ``*.domain``) and a served ``pattern`` (the same
    forms, or any ``fnmatch`` pattern) can name the same host."""
    if host.startswith("*."):
        if pattern.startswith("*."):
            return pattern[1:].endswith(host[1:]) or host[1:].endswith(pattern[1:])
        return pattern.endswith(host[1:])
    return fnmatch.fnmatchcase(host, pattern) if "*" in pattern else host == pattern


def host_of(url: httpx.URL) -> str:
    """``url``'s host as an allowed-host entry names it: with its port when not the default."""
    host = f"[{url.host}]" if ":" in url.host else url.host
    return host if url.port is None else f"{host}:{url.port}"


def _parse(entry: str) -> tuple[str, int | None]:
    """``(host, port)`` of an entry; a :class:`UsageError` for anything but a host name,
    ``host:port`` or ``*.domain``."""
    hint = "give a host name, host:port or *.domain, e.g. hooks.example.com or 127.0.0.1:8080"
    if "://" in entry:
        host = urlsplit(entry).netloc.rpartition("@")[2]
        raise UsageError(f"allowed host {entry!r} is a URL, not a host", hint=f"give its host: {host}" if host else hint)
    if _NOT_IN_A_HOST & set(entry):
        raise UsageError(f"allowed host {entry!r} is not a host name", hint=hint)
    try:
        parts = urlsplit("//" + entry)
        host, port = parts.hostname, parts.port
    except ValueError:
        raise UsageError(f"allowed host {entry!r} has an invalid port", hint=hint) from None
    if not host or entry.endswith(":"):
        raise UsageError(f"allowed host {entry!r} is not a host name", hint=hint)
    if "*" in host and (not host.startswith("*.") or "*" in host[2:] or "." not in host[2:].strip(".")):
        raise UsageError(f"allowed host {entry!r}: a wildcard is only `*.` before a domain (*.example.com)",
                         hint="every host cannot be let out of a simulation; name the hosts")
    if host.startswith("*.") and port is not None:
        raise UsageError(f"allowed host {entry!r}: a wildcard takes no port", hint=hint)
    return host, port


class LetOut(httpx.BaseTransport):
    """Sends requests to an allowed host through a real transport (one per scheme, host and
    port, made by ``real(url)``), every other request to ``inner`` (the simulation)."""

    def __init__(self, inner: httpx.BaseTransport, allowed: AllowedHosts,
                 real: Callable[[httpx.URL], httpx.BaseTransport]) -> None:
        self._inner, self._allowed, self._real = inner, allowed, real
        self._out: dict[tuple, httpx.BaseTransport] = {}
        self._lock = threading.Lock()  # msal's sync client may be shared by threads

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if not self._allowed.matches(url):
            return self._inner.handle_request(request)
        key = (url.scheme, url.host, url.port)
        with self._lock:
            out = self._out.get(key)
            if out is None:
                out = self._out[key] = self._real(url)
        return out.handle_request(request)

    def close(self) -> None:
        for out in self._out.values():
            out.close()
        self._inner.close()


class AsyncLetOut(httpx.AsyncBaseTransport):
    """:class:`LetOut` for async clients (one event loop per transport, so no lock)."""

    def __init__(self, inner: httpx.AsyncBaseTransport, allowed: AllowedHosts,
                 real: Callable[[httpx.URL], httpx.AsyncBaseTransport]) -> None:
        self._inner, self._allowed, self._real = inner, allowed, real
        self._out: dict[tuple, httpx.AsyncBaseTransport] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if not self._allowed.matches(url):
            return await self._inner.handle_async_request(request)
        key = (url.scheme, url.host, url.port)
        out = self._out.get(key)
        if out is None:
            out = self._out[key] = self._real(url)
        return await out.handle_async_request(request)

    async def aclose(self) -> None:
        for out in self._out.values():
            await out.aclose()
        await self._inner.aclose()
