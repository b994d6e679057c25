"""The simulated cloud: tenants, the demo app registration, and a routing table of services.

``SimulatedCloud()`` has the demo tenants ``contoso`` and ``fabrikam``;
``SimulatedCloud(tenants=N)`` has ``tenant-01`` ... ``tenant-N``. Its :meth:`handler` is one
sync function ``httpx.Request -> httpx.Response`` that serves msal's sync client and our async
clients alike (``httpx.MockTransport``); :meth:`asgi_app` serves the same over loopback.

The login hosts go to the simulated Entra ID (:mod:`runner.sim.entra`), which issues tokens for
every registered API that takes Entra ID tokens (:mod:`runner.sim.resources`). Every simulated
service the plugins register (``register_sim_services``, :class:`~runner.sim.services.SimService`)
is built and mounted on its hosts: ``cloud.services[name]``, or ``cloud.<name>``. Other hosts go
to whatever was :meth:`mount`-ed for them. A request to any other host is refused with
:class:`~runner.errors.UnservedHostError` — never answered — unless :meth:`network` lets that
host out to the real network (``allow_hosts``).
"""

from __future__ import annotations

import fnmatch
import os
import secrets as _random
import threading
import time
import uuid
import weakref
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

import httpx
import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from runner.auth import clouds
from runner.allowhosts import AllowedHosts, host_of
from runner.errors import PluginError, SecretError, UnservedHostError, UsageError
from runner.http import Handler, Network
from runner.sim.identity import SimApp, SimKey, SimTenant, load_app, signing_key
from runner.sim.identity import b64 as _b64
from runner.sim.resources import ResourceDirectory

if TYPE_CHECKING:  # pragma: no cover
    from runner.plugins import PluginHost

NS = uuid.UUID("5f1c7e1a-6d0b-4c53-9a3e-50a7c0de0001")
DEMO_TENANTS = ("contoso", "fabrikam")

# the clouds alive in this process, for `sim:<id>` secret references (resolve_sim_secret)
_CLOUDS: "weakref.WeakValueDictionary[str, SimulatedCloud]" = weakref.WeakValueDictionary()


class SimulatedCloud:
    """Simulated tenants, the demo app, and the services mounted per host.

    ``plugins``: the :class:`~runner.plugins.PluginHost` whose APIs and simulated services make
    up the cloud (default: the process's, :func:`runner.plugins.load_plugins`). ``services``:
    service name → the options its ``build`` gets (default: none); a keyword named like a
    registered service does the same (``SimulatedCloud(defender={...})`` when a plugin
    registers a service ``defender``). ``nonce_apis``: APIs whose tokens carry a ``nonce``
    header, which makes their signature unverifiable, as Entra ID does for some first-party APIs.
    """

    def __init__(self, tenants: int | Iterable[str] | None = None, *, token_lifetime: int = 3599,
                 state_dir: str | Path | None = None, clock: Callable[[], float] = time.time,
                 nonce_apis: Iterable[str] = (), plugins: "PluginHost | None" = None,
                 services: Mapping[str, Any] | None = None, **service_options: Any) -> None:
        from runner.sim.entra import EntraSimulator

        if plugins is None:
            from runner.plugins import load_plugins

            plugins = load_plugins()
        self.plugins = plugins
        registered = plugins.sim_services
        options = _service_options(registered, services, service_options)
        self.clock = clock
        self.token_lifetime = token_lifetime
        self.nonce_apis = frozenset(nonce_apis)
        self.token_version: dict[str, str] = {}  # api -> "1.0" (default) | "2.0"
        self.state_dir = Path(state_dir) if state_dir else None
        self._lock = threading.Lock()
        self.token_requests: Counter[str] = Counter()
        self.request_log: list[dict] = []
        self._routes: dict[str, Handler] = {}
        # bearer token -> (tenant, kid, claims) once its signature checked out (see verify_bearer)
        self._verified: dict[str, tuple[SimTenant, str, dict]] = {}
        self.resources = ResourceDirectory(plugins.apis)
        # what the demo app is granted in a new tenant: the roles each registered service names
        self.default_roles: dict[str, tuple[str, ...]] = {}
        for spec in registered.values():
            for api, roles in spec.roles.items():
                self.default_roles[api] = tuple(dict.fromkeys((*self.default_roles.get(api, ()), *roles)))
        self.entra = EntraSimulator(self)
        self.id = _random.token_hex(4)
        self.app = self._load_app()
        if tenants is None:
            names: Iterable[str] = DEMO_TENANTS
        elif isinstance(tenants, int):
            names = [f"tenant-{i:02d}" for i in range(1, tenants + 1)]
        else:
            names = tenants
        self.tenants: dict[str, SimTenant] = {}
        for name in names:
            self.add_tenant(name)
        self.services: dict[str, Any] = {}
        for name, spec in registered.items():
            self.services[name] = self._mount_service(name, spec, options.get(name))
        _CLOUDS[self.id] = self

    def _mount_service(self, name: str, spec: Any, options: Any) -> Any:
        for host in spec.hosts:
            if host.lower() in clouds.LOGIN_HOSTS:
                raise PluginError(f"simulated service '{name}' is mounted on {host}, which the simulated "
                                  "Entra ID serves", hint="mount the service on its API hosts only")
        service = spec.build(self, {} if options is None else options)
        handle = getattr(service, "handle", None)
        handler = handle if callable(handle) else service
        if not callable(handler):
            raise PluginError(f"simulated service '{name}' built {type(service).__name__!r}, which is neither "
                              "callable nor has a handle(request) method",
                              hint="build must return a handler httpx.Request -> httpx.Response")
        for host in spec.hosts:
            self.mount(host, handler)
        return service

    def __getattr__(self, name: str) -> Any:
        """``cloud.<service>``: the mounted simulated service of that name."""
        services = self.__dict__.get("services")
        if services is not None and name in services:
            return services[name]
        known = ", ".join(services or ()) or "none"
        raise AttributeError(f"'SimulatedCloud' object has no attribute {name!r} "
                             f"(simulated services: {known})")

    # ---- state -------------------------------------------------------------------------------

    def _load_app(self) -> SimApp:
        return load_app(str(uuid.uuid5(NS, "demo-app")), self.state_dir)

    def _key(self, tenant_id: str, generation: int) -> SimKey:
        return signing_key(f"{tenant_id}-{generation}", self.state_dir)

    def add_tenant(self, name: str, *, cloud: str = "commercial", tenant_id: str | None = None,
                   consented: bool = True) -> SimTenant:
        if cloud not in clouds.CLOUDS:
            raise ValueError(f"unknown cloud {cloud!r}")
        tid = tenant_id or str(uuid.uuid5(NS, f"tenant/{name}"))
        tenant = SimTenant(name, tid, cloud, consented,
                           roles={api: set(r) for api, r in self.default_roles.items()})
        tenant.keys.append(self._key(tid, 0))
        self.tenants[name] = tenant
        return tenant

    def tenant(self, name: str) -> SimTenant:
        return self.tenants[name]

    def find_tenant(self, ref: str) -> SimTenant | None:
        ref = ref.lower()
        for t in self.tenants.values():
            if ref in (t.id, t.domain):
                return t
        return None

    def revoke_consent(self, tenant: str) -> None:
        self.tenants[tenant].consented = False

    def grant_consent(self, tenant: str) -> None:
        self.tenants[tenant].consented = True

    def set_roles(self, tenant: str, resource: str, roles: Iterable[str]) -> None:
        """Roles granted to the demo app in ``tenant`` on ``resource`` (an API name, a resource URI
        or the resource app's id)."""
        self.tenants[tenant].roles[self._api(resource)] = set(roles)

    def withhold_role(self, role: str, tenant: str | None = None) -> int:
        """Take ``role`` from the demo app on every API that grants it, in ``tenant`` (default:
        every tenant), as if no admin had consented to it. Returns how many grants were taken;
        raises ``ValueError`` for an unknown tenant or a role no tenant's app holds."""
        if tenant is not None and tenant not in self.tenants:
            raise ValueError(f"no simulated tenant '{tenant}' (tenants: {', '.join(self.tenants)})")
        targets = [self.tenants[tenant]] if tenant is not None else list(self.tenants.values())
        known = {r for t in targets for granted in t.roles.values() for r in granted}
        match = next((r for r in known if r.lower() == role.lower()), None)
        if match is None:
            raise ValueError(f"the simulated app holds no role '{role}'")
        taken = 0
        for t in targets:
            for granted in t.roles.values():
                if match in granted:
                    granted.discard(match)
                    taken += 1
        return taken

    def set_secret_expired(self, expired: bool = True) -> None:
        self.app.secret_expired = expired

    def set_provisioned(self, tenant: str, resource: str, provisioned: bool) -> None:
        self.tenants[tenant].provisioned[self._api(resource)] = provisioned

    def set_subscribed(self, tenant: str, resource: str, subscribed: bool) -> None:
        self.tenants[tenant].subscribed[self._api(resource)] = subscribed

    def set_conditional_access(self, tenant: str, block: bool = True) -> None:
        self.tenants[tenant].conditional_access_block = block

    def override_claims(self, tenant: str, **claims: Any) -> None:
        """Make the token endpoint issue tokens with these claims changed (forgery tests)."""
        self.tenants[tenant].claim_overrides.update(claims)

    def rotate_key(self, tenant: str) -> SimKey:
        """Add a new signing key and sign with it from now on (the old one stays in the JWKS)."""
        t = self.tenants[tenant]
        key = self._key(t.id, len(t.keys))
        t.keys.append(key)
        return key

    def add_certificate(self, cert_pem: str | bytes) -> str:
        """Register a certificate's public key on the demo app; returns its SHA-1 thumbprint (hex)."""
        cert = x509.load_pem_x509_certificate(cert_pem.encode() if isinstance(cert_pem, str) else cert_pem)
        sha1 = cert.fingerprint(hashes.SHA1())  # noqa: S303 - x5t is SHA-1 by spec
        self.app.certificates[_b64(sha1)] = cert.public_key()
        self.app.certificates[_b64(cert.fingerprint(hashes.SHA256()))] = cert.public_key()
        return sha1.hex()

    def make_certificate(self) -> tuple[str, str, str]:
        """A new self-signed certificate registered on the app: (key PEM, cert PEM, SHA-1 thumbprint)."""
        import datetime as dt

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "soar-runner simulated app")])
        now = dt.datetime.now(dt.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
                .not_valid_after(now + dt.timedelta(days=365)).sign(key, hashes.SHA256()))
        key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode()
        cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
        return key_pem, cert_pem, self.add_certificate(cert_pem)

    # ---- counters ----------------------------------------------------------------------------

    def _count(self, tenant: str) -> None:
        with self._lock:
            self.token_requests[tenant] += 1

    def _record(self, entry: dict) -> None:
        with self._lock:
            self.request_log.append(entry)

    def total_token_requests(self) -> int:
        return sum(self.token_requests.values())

    def reset_counters(self) -> None:
        with self._lock:
            self.token_requests.clear()
            self.request_log.clear()

    # ---- tokens ------------------------------------------------------------------------------

    def _api(self, resource: str) -> str:
        api = self.resource_api(resource)
        if api is None:
            raise ValueError(f"unknown resource {resource!r}")
        return api

    def resource_api(self, resource: str) -> str | None:
        """The API (a registered one taking Entra ID tokens, or ``keyvault``) for an API name,
        a resource or identifier URI, or a resource app id; ``None`` for an unknown resource."""
        return self.resources.api_for(resource)

    def mint(self, tenant: SimTenant, api: str, *, audience: str | None = None, roles: Iterable[str] | None = None,
             appidacr: str = "1", version: str | None = None, key: SimKey | None = None,
             lifetime: int | None = None, headers: dict | None = None, **overrides: Any) -> tuple[str, dict]:
        """Sign an access token the way Entra ID would for the demo app."""
        now = int(self.clock())
        lifetime = self.token_lifetime if lifetime is None else lifetime
        version = version or self.token_version.get(api, "1.0")
        login = clouds.cloud(tenant.cloud).authority_url
        if audience is None:
            audience = self.resources.audience(api, tenant.cloud)
        sp = str(uuid.uuid5(NS, f"sp/{tenant.id}"))
        claims: dict[str, Any] = {
            "aud": audience, "iat": now, "nbf": now, "exp": now + lifetime, "tid": tenant.id,
            "oid": sp, "sub": sp, "uti": _b64(os.urandom(16)), "ver": version, "idtyp": "app",
            "rh": "0.sim.", "aio": _b64(os.urandom(24)),
        }
        if version == "1.0":
            claims.update(iss=f"https://sts.windows.net/{tenant.id}/", idp=f"https://sts.windows.net/{tenant.id}/",
                          appid=self.app.client_id, appidacr=appidacr)
        else:
            claims.update(iss=f"{login}/{tenant.id}/v2.0", azp=self.app.client_id, azpacr=appidacr)
        granted = sorted(tenant.roles.get(api, set())) if roles is None else list(roles)
        if granted:  # an app with no role gets no roles claim at all
            claims[self.resources.roles_claim(api)] = granted
        claims.update(tenant.claim_overrides)
        claims.update(overrides)
        key = key or tenant.keys[-1]
        head = {"typ": "JWT", "kid": key.kid, "x5t": key.kid}
        if api in self.nonce_apis:
            head["nonce"] = _b64(os.urandom(32))
        head.update(headers or {})
        raw = jwt.encode(claims, key.private, algorithm="RS256", headers=head)
        return raw, claims

    def issue_token(self, tenant: str, resource: str | None = None, roles: Iterable[str] | None = None,
                    **overrides: Any) -> str:
        """A token for tests, for ``resource`` (an API name, resource URI or app id; default: the
        first registered API that takes Entra ID tokens): ``overrides`` change claims;
        ``key=``/``headers=``/``version=`` too."""
        t = self.tenants[tenant]
        api = self._api(resource) if resource is not None else next(iter(self.resources.resources))
        return self.mint(t, api, roles=roles, **overrides)[0]

    def check_assertion(self, assertion: str, tenant: SimTenant, client_id: str) -> bool:
        """Verify a client-assertion JWT against the app's registered certificates."""
        from runner.sim.entra import decode_assertion

        header, claims = decode_assertion(assertion)
        thumb = header.get("x5t#S256") or header.get("x5t")
        public = self.app.certificates.get(str(thumb or "").rstrip("="))  # msal pads, others do not
        if public is None or header.get("alg") not in ("RS256", "PS256"):
            return False
        try:
            jwt.decode(assertion, key=public, algorithms=[header["alg"]],
                       options={"verify_aud": False, "require": ["exp", "iss", "sub", "aud"]})
        except jwt.InvalidTokenError:
            return False
        aud = str(claims.get("aud", ""))
        path = httpx.URL(aud).path.split("/") if aud.startswith("http") else []
        return (claims.get("iss") == claims.get("sub") == client_id and len(path) > 2
                and self.find_tenant(path[1]) is tenant and aud.split("?")[0].endswith("/token"))

    def verify_bearer(self, authorization: str | None, api: str | None = None) -> dict | None:
        """For API simulators: the claims of a valid bearer token signed here, else ``None``.

        A token whose signature checked out is remembered, as a real API's token cache does (the
        signature check is most of a simulated call's cost): later calls with it re-check only
        that it has not expired (PyJWT's rule, no leeway) and that its signing key is still
        published, then its audience."""
        if not authorization or not authorization.startswith("Bearer "):
            return None
        raw = authorization[len("Bearer "):]
        known = self._verified.get(raw)
        if known is not None:
            tenant, kid, claims = known
            exp = claims.get("exp")
            if not ((exp is None or time.time() < exp) and any(k.kid == kid for k in tenant.keys)):
                self._verified.pop(raw, None)
                return None
        else:
            try:
                head = jwt.get_unverified_header(raw)
                claims = jwt.decode(raw, options={"verify_signature": False})
            except jwt.InvalidTokenError:
                return None
            tenant = self.find_tenant(str(claims.get("tid", "")))
            key = next((k for k in tenant.keys if k.kid == head.get("kid")), None) if tenant else None
            if tenant is None or key is None:
                return None
            try:
                claims = jwt.decode(raw, key=key.private.public_key(), algorithms=["RS256"],
                                    options={"verify_aud": False}, leeway=0)
            except jwt.InvalidTokenError:
                return None
            if len(self._verified) >= 10_000:
                self._verified.clear()
            self._verified[raw] = (tenant, key.kid, claims)
        if api is not None and self.resource_api(str(claims.get("aud", ""))) != api:
            return None
        return claims

    # ---- routing -----------------------------------------------------------------------------

    def mount(self, host: str, handler: Handler) -> None:
        """Serve ``host`` (``*`` wildcards allowed, e.g. ``*.vault.azure.net``) with ``handler``."""
        self._routes[host.lower()] = handler

    def handler(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host.lower()
        family = clouds.LOGIN_HOSTS.get(host)
        if family is not None:
            return self.entra.handle(request, family)
        route = self._routes.get(host)
        if route is None:
            route = next((h for pat, h in self._routes.items() if fnmatch.fnmatch(host, pat)), None)
        if route is not None:
            return route(request)
        # never an answer for a host no simulated service serves: an action would read a 404 as
        # the receiver's, and the run would pass although nothing was sent
        raise UnservedHostError(host_of(request.url), method=request.method)

    def serves(self) -> list[str]:
        """The hosts (and ``*`` patterns) this cloud answers for: Entra ID's and the mounted ones."""
        return [*clouds.LOGIN_HOSTS, *self._routes]

    def network(self, allow_hosts: Iterable[str] = ()) -> Network:
        """A simulated network answered by :meth:`handler`; requests to ``allow_hosts`` (host
        names, ``host:port``, ``*.domain``: :mod:`runner.allowhosts`) go out over the real
        network instead. A host neither serves raises :class:`~runner.errors.UnservedHostError`."""
        allowed = AllowedHosts(allow_hosts)
        if allowed:
            allowed.refuse_overlap(self.serves())
        return Network.simulated(self.handler, allow_hosts=allowed)

    def asgi_app(self) -> Any:
        from runner.sim.serve import build_asgi_app

        return build_asgi_app(self)

    def demo_config(self, **token_cache: Any) -> Any:
        """A :class:`~runner.config.SoarConfig` for this cloud's tenants and the demo app.

        The token cache is in memory unless ``token_cache`` says otherwise (``path=...``):
        simulated signing keys are per process unless ``state_dir`` is set.
        """
        from runner.config import SoarConfig

        token_cache = {"path": ":memory:", **token_cache}
        document: dict[str, Any] = {
            "app": {"client_id": self.app.client_id, "client_secret": f"sim:{self.id}"},
            "tenants": {t.name: {"id": t.id, "cloud": t.cloud} for t in self.tenants.values()},
            "token_cache": token_cache,
        }
        credentials = {api: f"sim:{self.id}/{api}" for api in self.credentials()}
        if credentials:
            document["credentials"] = credentials
        return SoarConfig.model_validate(document)

    def credentials(self) -> dict[str, str]:
        """API name → the secret its simulated service accepts (``SimService.credentials``)."""
        return {api: value for spec in self.plugins.sim_services.values() for api, value in spec.credentials.items()}

    def describe(self, base_url: str) -> dict:
        """The JSON document ``soar sim serve`` prints first (includes the demo secret, by design)."""
        return {"base_url": base_url, "client_id": self.app.client_id,
                "client_secret": self.app.secret.reveal(), "credentials": self.credentials(),
                "tenants": [{"name": t.name, "tenant_id": t.id, "cloud": t.cloud} for t in self.tenants.values()]}


def _service_options(registered: Mapping[str, Any], services: Mapping[str, Any] | None,
                     keywords: Mapping[str, Any]) -> dict[str, Any]:
    """Options per simulated service, from ``services=`` and the keywords named like a service."""
    options = dict(services or {})
    for name, value in keywords.items():
        if name in options:
            raise UsageError(f"SimulatedCloud: options for simulated service '{name}' are given twice "
                             f"(as {name}= and in services=)", hint="give them once")
        options[name] = value
    unknown = [name for name in options if name not in registered]
    if unknown:
        known = ", ".join(registered) or "none"
        what = "simulated service" if len(unknown) == 1 else "simulated services"
        raise UsageError(f"SimulatedCloud: no {what} {', '.join(repr(n) for n in unknown)} "
                         f"(registered: {known})",
                         hint="a keyword of SimulatedCloud other than its own names a simulated service a "
                              "plugin registers (register_sim_services): install that plugin or fix the name")
    return options


def resolve_sim_secret(rest: str) -> str:
    """``sim:<id>``: the demo app's secret of the simulated cloud ``<id>``; ``sim:<id>/<api>``:
    the credential its simulated services accept for ``<api>``."""
    cloud_id, _, api = rest.partition("/")
    cloud = _CLOUDS.get(cloud_id)
    if cloud is None:
        raise SecretError(f"secret reference 'sim:{rest}' names no simulated cloud in this process",
                          hint="`sim:` references only work with --simulate")
    if not api:
        return cloud.app.secret.reveal()
    value = cloud.credentials().get(api)
    if value is None:
        raise SecretError(f"secret reference 'sim:{rest}': no simulated service offers a credential for API '{api}'",
                          hint="a simulated service declares one with SimService(credentials={api: ...})")
    return value
