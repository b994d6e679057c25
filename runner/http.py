"""The one place httpx clients are built.

Every request soar-runner makes goes through a :class:`Network`. A network either reaches the
real Microsoft endpoints, or is *simulated*: every request is answered by an in-process handler
(``runner.sim``), and nothing can leave the process. Tests build simulated networks only, and
the test suite's guard refuses any real connection. A simulated network may let chosen hosts
out (:class:`AllowedHosts`, ``--allow-host``): their requests go over the real network, every
other host stays simulated or is refused (:class:`runner.errors.UnservedHostError`).

Everything here is httpx's public API. Every client is built by one method: an
``httpx.AsyncClient`` (one-off requests, token validation) or, for the synchronous libraries
(msal, vaults), an ``httpx.Client``. API calls, the hot path, go through a :class:`Sender`:
the same ``httpx.Request`` sent straight to the same network's transport, without the client's
per-request layers (docs/benchmarks.md, fan-out). One handler function ``handler(request) ->
httpx.Response`` serves them all through ``httpx.MockTransport``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import ssl
import weakref
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any, Callable, Iterable, Mapping

import httpx

from runner import httplog
from runner.allowhosts import AllowedHosts, AsyncLetOut, LetOut, host_of
from runner.errors import UnservedHostError, UsageError

Handler = Callable[[httpx.Request], httpx.Response]
log = logging.getLogger("soar.http")

# `soar sim serve` marks its answer for a host no simulated service serves with this header (the
# host as its value): the relay turns it into an UnservedHostError, as the in-process cloud raises
UNSERVED_HEADER = "x-soar-unserved-host"
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")  # what an offline process (SOAR_OFFLINE=1) still reaches
USER_AGENT = "soar-runner/0.1"


@functools.cache
def _tls() -> ssl.SSLContext:
    """The process's one TLS context, shared by every client: httpx builds a new one per client
    otherwise, and loading the CA bundle costs ~20 ms — more than a request to Defender."""
    return httpx.create_ssl_context()


@functools.lru_cache(maxsize=16)
def ca_context(path: str) -> ssl.SSLContext:
    """A TLS context that trusts the CA certificates in ``path`` (PEM), read once per process.
    Raises ``OSError`` or ``ssl.SSLError`` when the file cannot be read as certificates."""
    return ssl.create_default_context(cafile=path)


def _verify(verify: bool | str) -> ssl.SSLContext | bool:
    """What httpx's ``verify=`` gets for a ``verify`` option: the process's context (``True``),
    no verification (``False``), or a context trusting a CA bundle (a path)."""
    if verify is True:
        return _tls()
    return False if verify is False else ca_context(verify)


def is_loopback(host: str) -> bool:
    import ipaddress

    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _way_out(sync: bool, verify: bool | str) -> Callable[[httpx.URL], httpx.BaseTransport | httpx.AsyncBaseTransport]:
    """Makes the real transport for an allowed host's URL (:class:`AllowedHosts`): the proxy of
    the environment (none for loopback), refused when ``SOAR_OFFLINE=1`` unless on loopback."""
    import os

    def make(url: httpx.URL) -> httpx.BaseTransport | httpx.AsyncBaseTransport:
        local = is_loopback(url.host)
        if not local and os.environ.get("SOAR_OFFLINE") == "1":
            return httpx.MockTransport(_refuse)
        proxy = None if local else _env_proxy(str(url))
        if sync:
            return httpx.HTTPTransport(verify=_verify(verify), proxy=proxy)
        return httpx.AsyncHTTPTransport(verify=_verify(verify), proxy=proxy)

    return make


def _refuse(request: httpx.Request) -> httpx.Response:
    raise UsageError(
        f"refused a request to {request.url.host}: this network is simulated and offline",
        hint="point the config at the simulated cloud, or run without --simulate for real tenants",
    )


class Network:
    """Builds httpx clients that all go to the same place (real, simulated, or nowhere)."""

    def __init__(self, handler: Handler | None = None, *, real: bool = False, name: str = "",
                 relay: str | None = None, allow_hosts: "Iterable[str] | AllowedHosts" = ()):
        if handler is None and not real and relay is None:
            handler = _refuse
        self.handler = handler
        self.real = real
        self.relay = relay.rstrip("/") if relay else None
        self.name = name or ("real" if real else "loopback" if relay else "simulated")
        allowed = allow_hosts if isinstance(allow_hosts, AllowedHosts) else AllowedHosts(allow_hosts)
        if allowed and real:
            raise UsageError("allowed hosts are for a simulated network; the real network reaches every host",
                             hint="pass allow_hosts only with --simulate or --sim-url")
        self.allowed = allowed
        if allowed:
            log.info("simulated network: requests to %s go out over the real network; every other host is "
                     "simulated or refused", ", ".join(allowed.entries))

    @classmethod
    def simulated(cls, handler: Handler, *, allow_hosts: "Iterable[str] | AllowedHosts" = ()) -> "Network":
        return cls(handler, name="simulated", allow_hosts=allow_hosts)

    @classmethod
    def loopback(cls, base_url: str, allow_hosts: Iterable[str] = (), *, plugins: Any = None) -> "Network":
        """Every request goes to a simulated cloud served on loopback (``soar sim serve``):
        ``https://HOST/PATH`` is sent to ``{base_url}/_host/HOST/PATH``, except to the
        ``allow_hosts`` (see :class:`AllowedHosts`), which go out over the real network. A host
        the simulated cloud does not serve is refused (:class:`~runner.errors.UnservedHostError`).
        An allowed host may not be one the simulated cloud serves: Entra ID's login hosts and
        the hosts of every simulated service registered with ``plugins`` (a
        :class:`~runner.plugins.PluginHost`; default: the process's)."""
        if not is_loopback(httpx.URL(base_url).host):
            raise UsageError(f"the simulated cloud URL {base_url} is not on loopback",
                             hint="use the URL `soar sim serve` printed, e.g. http://127.0.0.1:8765")
        allowed = AllowedHosts(allow_hosts)
        if allowed:
            from runner.auth import clouds

            if plugins is None:
                from runner.plugins import load_plugins

                plugins = load_plugins()
            served = [host for service in plugins.sim_services.values() for host in service.hosts]
            allowed.refuse_overlap([*clouds.LOGIN_HOSTS, *served])
        return cls(relay=base_url, allow_hosts=allowed)

    @classmethod
    def internet(cls) -> "Network":
        """The real network — unless ``SOAR_OFFLINE=1`` (set by the test suite), which refuses every
        host but loopback."""
        import os

        if os.environ.get("SOAR_OFFLINE") == "1":  # loopback is not the internet: a local receiver stays reachable
            return cls(_refuse, name="offline", allow_hosts=LOOPBACK_HOSTS)
        return cls(None, real=True)

    def _transport(self, sync: bool, verify: bool | str = True) -> httpx.BaseTransport | httpx.AsyncBaseTransport | None:
        """The loopback relay or the in-process handler (behind the allowed hosts' way out, if
        any); ``None`` for the real network."""
        if self.real:
            return None
        if self.relay is not None:
            inner = _Relay(self.relay) if sync else _AsyncRelay(self.relay)
        else:
            inner = httpx.MockTransport(self.handler)
        if self.allowed:
            out = _way_out(sync, verify)
            return LetOut(inner, self.allowed, out) if sync else AsyncLetOut(inner, self.allowed, out)
        return inner

    def _client(self, sync: bool, verify: bool | str, kw: dict[str, Any]) -> httpx.Client | httpx.AsyncClient:
        """The one builder of every client: this network's transport (or, for the real network,
        httpx's own with the process's TLS context and the environment's proxies), the default
        timeout, soar's User-Agent under any headers given, and ``-vv`` logging."""
        kw.setdefault("timeout", DEFAULT_TIMEOUT)
        kw["headers"] = {"User-Agent": USER_AGENT, **(kw.get("headers") or {})}
        if httplog.enabled():  # -vv: a line per request
            kw["event_hooks"] = httplog.event_hooks(sync, kw.get("event_hooks"))
        transport = self._transport(sync, verify)
        where = {"verify": _verify(verify)} if transport is None else {"transport": transport}
        return (httpx.Client if sync else httpx.AsyncClient)(**where, **kw)

    def check_connect(self, host: str, port: int, protocol: str = "TCP") -> None:
        """Whether this network may open a connection of its own (not HTTP: SMTP, say) to
        ``host:port``: the real network may (unless ``SOAR_OFFLINE=1``, which keeps it on
        loopback); a simulated network only to an allowed host (:class:`AllowedHosts`), else
        :class:`UnservedHostError` names the host and how to allow it."""
        import os

        where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        if self.real:
            if os.environ.get("SOAR_OFFLINE") == "1" and not is_loopback(host):
                raise UsageError(f"refused a {protocol} connection to {where}: this process is offline",
                                 hint="unset SOAR_OFFLINE to reach the real network")
            return
        if self.name == "offline" and not self.allowed.matches(httpx.URL(scheme="tcp", host=host, port=port)):
            raise UsageError(f"refused a {protocol} connection to {where}: this process is offline (SOAR_OFFLINE=1)",
                             hint="unset SOAR_OFFLINE to reach the real network")
        if not (self.allowed and self.allowed.matches(httpx.URL(scheme="tcp", host=host, port=port))):
            article = "an" if protocol[:1].upper() in "AEFHILMNORSX" else "a"  # an SMTP, a TCP
            raise UnservedHostError(where, what=f"{article} {protocol} connection to {where}")

    def sync_client(self, *, verify: bool | str = True, **kw: Any) -> httpx.Client:
        """A client for synchronous libraries (msal, vaults); any ``httpx.Client`` keyword.
        ``verify``: check TLS certificates against the system's CAs (``True``), a CA bundle (a
        path) or not at all (``False``) — for the real network and the allowed hosts."""
        return self._client(True, verify, kw)  # type: ignore[return-value]

    def async_client(self, *, verify: bool | str = True, **kw: Any) -> httpx.AsyncClient:
        """An async client (``verify`` as for :meth:`sync_client`; any ``httpx.AsyncClient``
        keyword). It keeps no cookies unless given ``cookies=``: API calls and one-off requests
        carry no session from one answer to the next request."""
        kw.setdefault("cookies", _no_cookies())
        return self._client(False, verify, kw)  # type: ignore[return-value]

    def sender(self, base_url: str, *, headers: dict[str, str]) -> "Sender":
        """A :class:`Sender` for API calls to ``base_url``'s host: requests go straight to this
        network's transport (a connection pool) — for the real network, httpx's own transport
        with the process's TLS context and the environment's proxy for that host."""
        transport = self._transport(sync=False) or httpx.AsyncHTTPTransport(verify=_tls(),
                                                                          proxy=_env_proxy(base_url))
        return Sender(transport, {"User-Agent": USER_AGENT, "Accept-Encoding": "gzip, deflate",
                                  "Connection": "keep-alive", **headers})

    async def pooled_async_client(self, verify: bool | str = True) -> httpx.AsyncClient:
        """This network's shared client on the running event loop, for one-off requests
        (``core.http_request``): a connection pool per (network, loop, ``verify``) instead of a
        client and a connection per request. Like a fresh client it keeps no cookies and never
        makes a request wait for a free connection; pass ``timeout=`` per request. Closed by
        :meth:`aclose_pooled` on that loop, else when the loop shuts its async generators down
        (``asyncio.run`` does, after the main coroutine), so no connection outlives its loop.
        ``verify``: as for :meth:`sync_client`; a CA bundle that cannot be read raises
        ``OSError`` or ``ssl.SSLError``."""
        loop = asyncio.get_running_loop()
        pools = self.__dict__.get("_pools")
        if pools is None:
            pools = self._pools = weakref.WeakKeyDictionary()
        held = pools.get(loop)
        if held is None:
            held = pools[loop] = {}
        pooled = held.get(verify)
        if pooled is None:
            client = self.async_client(verify=verify,
                                       limits=httpx.Limits(max_connections=None, max_keepalive_connections=20))
            closer = _close_at_loop_end(client)
            pooled = held[verify] = (client, closer)  # the loop holds its async generators weakly
            await closer.asend(None)  # registered with the loop from here on
        return pooled[0]

    async def aclose_pooled(self) -> None:
        """Close the running loop's pooled clients, if any (see :meth:`pooled_async_client`)."""
        held = self.__dict__.get("_pools", {}).pop(asyncio.get_running_loop(), None)
        for _client, closer in (held or {}).values():
            await closer.aclose()


class Sender:
    """Sends API requests straight to a transport (its connection pool), on httpx's public API:
    an ``httpx.Request`` handed to ``AsyncBaseTransport.handle_async_request``, the answer read
    whole and closed.

    ``httpx.AsyncClient.send`` wraps every request in layers API calls do not use: the cookie
    jar (every answer goes through ``urllib``'s cookie machinery, even when no cookie is kept),
    the auth-flow generator, the redirect loop, timers and stream wrappers — and its
    ``build_request`` parses a URL with ``params`` twice. Measured over loopback, where it
    matters (``benchmarks/fanout.py``), they cost our side of the fan-out about twice its own
    overhead (docs/benchmarks.md). A Sender builds the same request (default headers, query
    parameters, JSON body as httpx writes it, per-request timeouts enforced by the transport).
    Proxies: ``HTTPS_PROXY``/``ALL_PROXY`` and ``NO_PROXY`` are honoured for the real network
    (:func:`_env_proxy`), as httpx does."""

    __slots__ = ("_transport", "headers", "timeout", "is_closed", "_headers", "_extensions")

    def __init__(self, transport: httpx.AsyncBaseTransport, headers: dict[str, str],
                 timeout: httpx.Timeout = DEFAULT_TIMEOUT) -> None:
        self._transport = transport
        self.headers = headers
        self.timeout = timeout
        self.is_closed = False
        self._headers = httpx.Headers(headers)  # normalised once: httpx copies its list per request
        self._extensions = {"timeout": timeout.as_dict()}

    def build(self, method: str, url: str | httpx.URL, *, params: Any = None, json: Any = None,
              headers: Mapping[str, str] | None = None, timeout: httpx.Timeout | None = None) -> httpx.Request:
        """The request to send: what ``httpx.Request(method, url, params=..., json=...)`` builds —
        for a URL string without a query of its own, parsed once with ``params`` as its query
        instead of parsed, then parsed again with them."""
        if params is not None and type(url) is str and "?" not in url and "#" not in url:
            url, params = httpx.URL(url, params=params), None
        base = self._headers
        if headers:
            base = httpx.Headers(base)
            base.update(headers)
        extensions = self._extensions if timeout is None else {"timeout": timeout.as_dict()}
        return httpx.Request(method, url, params=params, json=json, headers=base, extensions=extensions)

    async def send(self, request: httpx.Request) -> httpx.Response:
        started = httplog.start()  # -vv: when it was sent, to log the call; else None
        try:
            response = await self._transport.handle_async_request(request)
        except Exception as exc:
            if started is not None:
                httplog.failed(request, exc, started)
            raise
        response.request = request
        try:
            await response.aread()
        finally:
            await response.aclose()
        if started is not None:
            httplog.answered(request, response, started)
        return response

    async def aclose(self) -> None:
        if not self.is_closed:
            self.is_closed = True
            await self._transport.aclose()


def _no_cookies() -> CookieJar:
    """A cookie jar that accepts no cookie (httpx's clients keep every one by default)."""
    return CookieJar(DefaultCookiePolicy(allowed_domains=()))


def _env_proxy(base_url: str) -> str | None:
    """The proxy for ``base_url`` from the environment (``HTTPS_PROXY`` — ``HTTP_PROXY`` for an
    http URL —, ``ALL_PROXY``; none if ``NO_PROXY`` names the host) — what
    ``httpx.AsyncClient(trust_env=True)`` would use."""
    import urllib.request

    proxies = urllib.request.getproxies()
    url = httpx.URL(base_url)
    proxy = proxies.get(url.scheme) or proxies.get("all")
    host = url.host
    if not proxy or urllib.request.proxy_bypass(host):
        return None
    return proxy if "://" in proxy else f"http://{proxy}"


async def _close_at_loop_end(client: httpx.AsyncClient):
    try:
        yield
    finally:
        await client.aclose()


def _relay_url(prefix: str, url: httpx.URL) -> httpx.URL:
    """``{prefix}{url.host}{url.raw_path}``, ``prefix`` being ``{base}/_host/``."""
    return httpx.URL(f"{prefix}{url.host}{url.raw_path.decode('ascii')}")


class _Relayed:
    """Points a request at the loopback relay for the duration of one send, then restores it.

    Rewriting in place (not copying the request) halves the relay's cost per request; restoring
    keeps the caller's request intact for a retry (the auth flow re-sends it after a 401) and for
    error messages, which name the API's real host."""

    __slots__ = ("request", "url", "host")

    def __init__(self, prefix: str, netloc: str, request: httpx.Request):
        self.request, self.url, self.host = request, request.url, request.headers.get("host")
        request.url = _relay_url(prefix, self.url)
        request.headers["Host"] = netloc

    def restore(self) -> None:
        self.request.url = self.url
        if self.host is None:
            del self.request.headers["Host"]
        else:
            self.request.headers["Host"] = self.host


class _Relay(httpx.BaseTransport):
    """Sends every request to the simulated cloud on loopback (see :meth:`Network.loopback`)."""

    def __init__(self, base: str):
        url, self._inner = httpx.URL(base), httpx.HTTPTransport(verify=_tls())
        self._prefix, self._netloc = f"{url}/_host/", url.netloc.decode("ascii")

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        relayed = _Relayed(self._prefix, self._netloc, request)
        try:
            response = self._inner.handle_request(request)
        finally:
            relayed.restore()
        if UNSERVED_HEADER in response.headers:
            response.close()
            raise UnservedHostError(host_of(request.url), method=request.method)
        return response

    def close(self) -> None:
        self._inner.close()


class _AsyncRelay(httpx.AsyncBaseTransport):
    def __init__(self, base: str):
        url, self._inner = httpx.URL(base), httpx.AsyncHTTPTransport(verify=_tls())
        self._prefix, self._netloc = f"{url}/_host/", url.netloc.decode("ascii")

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        relayed = _Relayed(self._prefix, self._netloc, request)
        try:
            response = await self._inner.handle_async_request(request)
        finally:
            relayed.restore()
        if UNSERVED_HEADER in response.headers:
            await response.aclose()
            raise UnservedHostError(host_of(request.url), method=request.method)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()
