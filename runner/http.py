"""The one place httpx clients are built.

Every request soar-runner makes goes through a :class:`Network`. A network either reaches the
real Microsoft endpoints, or is *simulated*: every request is answered by an in-process handler
(``runner.sim``), and nothing can leave the process. Tests build simulated networks only, and
the test suite's guard refuses any real connection. A simulated network may let chosen hosts
out (:class:`AllowedHosts`, ``--allow-host``): their requests go over the real network, every
other host stays simulated or is refused (:class:`runner.errors.UnservedHostError`).

msal is synchronous and needs a sync client; actions are async. One handler function
``handler(request) -> httpx.Response`` serves both through ``httpx.MockTransport``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import ssl
import weakref
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any, Callable, Iterable

import httpx

from runner import httplog
from runner.allowhosts import AllowedHosts, AsyncLetOut, LetOut, host_of
from runner.errors import UnservedHostError, UsageError
from runner.jsoncodec import body_bytes

Handler = Callable[[httpx.Request], httpx.Response]
log = logging.getLogger("soar.http")

# `soar sim serve` marks its answer for a host no simulated service serves with this header (the
# host as its value): the relay turns it into an UnservedHostError, as the in-process cloud raises
UNSERVED_HEADER = "x-soar-unserved-host"
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
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
        """The real network — unless ``SOAR_OFFLINE=1`` (set by the test suite), which refuses."""
        import os

        if os.environ.get("SOAR_OFFLINE") == "1":
            return cls(_refuse, name="offline")
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

    def _transport_kwargs(self, sync: bool = True, verify: bool | str = True) -> dict:
        transport = self._transport(sync, verify)
        return {"verify": _verify(verify)} if transport is None else {"transport": transport}

    def sync_client(self, *, verify: bool | str = True, **kw) -> httpx.Client:
        """``verify``: check TLS certificates against the system's CAs (``True``), a CA bundle
        (a path) or not at all (``False``) — for the real network and the allowed hosts."""
        kw.setdefault("timeout", DEFAULT_TIMEOUT)
        kw.setdefault("headers", {"User-Agent": USER_AGENT})
        if httplog.enabled():  # -vv: a line per request
            kw["event_hooks"] = httplog.event_hooks(True, kw.get("event_hooks"))
        return httpx.Client(**self._transport_kwargs(sync=True, verify=verify), **kw)

    def async_client(self, *, verify: bool | str = True, **kw) -> httpx.AsyncClient:
        kw.setdefault("timeout", DEFAULT_TIMEOUT)
        kw.setdefault("headers", {"User-Agent": USER_AGENT})
        if httplog.enabled():
            kw["event_hooks"] = httplog.event_hooks(False, kw.get("event_hooks"))
        return httpx.AsyncClient(**self._transport_kwargs(sync=False, verify=verify), **kw)

    def sender(self, base_url: str, *, headers: dict[str, str]) -> "Sender":
        """A :class:`Sender` for API calls to ``base_url``'s host: requests go straight to this
        network's transport (a connection pool), without httpx.AsyncClient's per-request layers."""
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
            client = self.async_client(cookies=CookieJar(DefaultCookiePolicy(allowed_domains=())), verify=verify,
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
    """Sends API requests straight to a transport (its connection pool).

    ``httpx.AsyncClient.send`` wraps every request in layers API calls do not use: a cookie jar
    (every answer is parsed for cookies through ``urllib``'s cookie machinery), an auth flow
    generator, redirect handling (off by default anyway) and response stream wrappers. Measured
    here at 70–130 µs per request with an in-process transport, as much as the simulated API's
    own work (``benchmarks/fanout.py``). A Sender builds the same ``httpx.Request`` (default
    headers, query parameters, JSON body, per-request timeouts enforced by the transport), sends
    it, reads the whole answer and closes it. Proxies: ``HTTPS_PROXY``/``ALL_PROXY`` and
    ``NO_PROXY`` are honoured for the real network (see :func:`_env_proxy`), as httpx does."""

    __slots__ = ("_transport", "headers", "timeout", "is_closed", "_headers", "_json_headers", "_extensions")

    def __init__(self, transport: httpx.AsyncBaseTransport, headers: dict[str, str],
                 timeout: httpx.Timeout = DEFAULT_TIMEOUT) -> None:
        self._transport = transport
        self.headers = headers
        self.timeout = timeout
        self.is_closed = False
        # normalised once: httpx copies a Headers object's list instead of re-encoding a dict
        self._headers = httpx.Headers(headers)
        self._json_headers = httpx.Headers({**headers, "Content-Type": "application/json"})
        self._extensions = {"timeout": timeout.as_dict()}

    def build(self, method: str, url: str | httpx.URL, *, params=None, json=None, headers=None,
              timeout: httpx.Timeout | None = None) -> httpx.Request:
        """The request to send. ``url``: a string, or an :class:`httpx.URL` that already holds
        ``params`` (see :func:`api_url`), in which case ``params`` must be ``None``. A ``json``
        body is written as httpx writes it (:func:`runner.jsoncodec.body_bytes`)."""
        if json is None:
            content, base = None, self._headers
        else:
            content, base = body_bytes(json), self._json_headers
        if headers:
            base = httpx.Headers(base)
            base.update(headers)
        extensions = self._extensions if timeout is None else {"timeout": timeout.as_dict()}
        return httpx.Request(method, url, params=params, content=content, headers=base, extensions=extensions)

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


# ---- API URLs ------------------------------------------------------------------------------------
# httpx re-parses and re-validates every URL character by character (~45 µs for a Defender
# $filter query: as much as building the rest of the request). An API client's base URL is
# parsed once; a path made only of unreserved characters and '/' and a query made by httpx's
# own encoder (``QueryParams``: unreserved characters, %XX, '+', '&' and '=') are already in the form
# httpx's parser would give them, so the URL is put together from those parts directly. Anything
# else (an absolute nextLink, a path with other characters) goes through ``httpx.URL`` as before.
# tests/test_http_urls.py checks the two give the same URL.
try:
    from httpx._urlparse import ParseResult as _ParseResult  # httpx 0.27-0.28 keep a URL's parts in one
except ImportError:  # pragma: no cover - a later httpx: every URL takes the parser
    _ParseResult = None

_UNRESERVED = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
_PLAIN_PATH = _UNRESERVED + "/"
_PLAIN_QUERY = _UNRESERVED + "%&=+"  # '+' is a space: a literal '+' is %2B


# quote_plus (what httpx's QueryParams uses) as one C-level translate of the UTF-8 bytes
_QUOTE_PLUS = {b: "+" if b == 0x20 else chr(b) if chr(b) in _UNRESERVED else f"%{b:02X}" for b in range(256)}
_PRIMITIVE = {True: "true", False: "false", None: ""}
_SCALARS = (str, int, float, bool, type(None))


def _query(params) -> str | None:
    """``str(httpx.QueryParams(params))`` for a dict of text keys and scalar values; ``None``
    for anything else (lists, other keys: httpx decides)."""
    parts = []
    for k, v in params.items():
        tv = type(v)
        if tv not in _SCALARS and isinstance(v, str):  # a str subclass (runner.odata's filters): its text
            v, tv = str(v), str
        if type(k) is not str or tv not in _SCALARS:
            return None
        v = v if tv is str else _PRIMITIVE[v] if tv is bool or v is None else str(v)
        parts.append(k.encode().decode("latin-1").translate(_QUOTE_PLUS) + "="
                     + v.encode().decode("latin-1").translate(_QUOTE_PLUS))
    return "&".join(parts)


def base_url(url: str) -> httpx.URL:
    """An API's base URL, parsed once (for :func:`api_url`)."""
    return httpx.URL(url)


def api_url(base: httpx.URL, path: str, params=None) -> httpx.URL:
    """``base`` + ``/path`` with ``params`` as the query: what ``httpx.URL(str(base) + "/" +
    path.lstrip("/"), params=params)`` gives, built without re-parsing when it can be."""
    ref = getattr(base, "_uri_reference", None)
    if (_ParseResult is not None and type(ref) is _ParseResult and ref.query is None and ref.fragment is None
            and not path.rstrip(_PLAIN_PATH)):
        full = ref.path + "/" + path.lstrip("/")
        query = None
        if params:
            query = _query(params) if type(params) is dict else None
            if query is None:  # lists, other keys: httpx's own encoder
                query = str(httpx.QueryParams(params))
        if "/." not in full and (not query or not query.rstrip(_PLAIN_QUERY)):  # '.'/'..' segments: parser
            url = httpx.URL.__new__(httpx.URL)
            url._uri_reference = ref._replace(path=full, query=query or None)
            return url
    url = str(base) + "/" + path.lstrip("/")
    return httpx.URL(url) if params is None else httpx.URL(url, params=params)  # as httpx.Request does


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


def _relay_url(base: httpx.URL, url: httpx.URL) -> httpx.URL:
    """``{base}/_host/{url.host}{url.raw_path}``. ``url``'s parts are already in parsed form, so
    the relayed URL is put together from them when it can be (see :func:`api_url`)."""
    ref, own = getattr(base, "_uri_reference", None), getattr(url, "_uri_reference", None)
    if (_ParseResult is not None and type(ref) is _ParseResult and type(own) is _ParseResult
            and ref.query is None and not own.userinfo and own.fragment is None
            and own.host and not own.host.rstrip(_UNRESERVED)):
        relayed = httpx.URL.__new__(httpx.URL)
        relayed._uri_reference = ref._replace(path=f"{ref.path}/_host/{own.host}{own.path or '/'}", query=own.query)
        return relayed
    return httpx.URL(f"{base}/_host/{url.host}{url.raw_path.decode('ascii')}")


class _Relayed:
    """Points a request at the loopback relay for the duration of one send, then restores it.

    Rewriting in place (not copying the request) halves the relay's cost per request; restoring
    keeps the caller's request intact for a retry (the auth flow re-sends it after a 401) and for
    error messages, which name the API's real host."""

    __slots__ = ("request", "url", "host")

    def __init__(self, base: httpx.URL, netloc: str, request: httpx.Request):
        self.request, self.url, self.host = request, request.url, request.headers.get("host")
        request.url = _relay_url(base, self.url)
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
        self._base, self._inner = httpx.URL(base), httpx.HTTPTransport(verify=_tls())
        self._netloc = self._base.netloc.decode("ascii")

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        relayed = _Relayed(self._base, self._netloc, request)
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
        self._base, self._inner = httpx.URL(base), httpx.AsyncHTTPTransport(verify=_tls())
        self._netloc = self._base.netloc.decode("ascii")

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        relayed = _Relayed(self._base, self._netloc, request)
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
