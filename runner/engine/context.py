"""What an action sees while it runs (:class:`ActionContext`) and what the engine is given to
run with (:class:`Services`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import httpx

    from runner.apis.client import ApiClient
    from runner.config import SoarConfig
    from runner.http import Network
    from runner.plugins import PluginHost
    from runner.store import RunStore


@dataclass(frozen=True)
class TenantInfo:
    """The tenant a run acts on: ``name`` (config key), ``id`` (GUID), ``cloud``, ``region``."""

    name: str
    id: str | None = None
    cloud: str = "commercial"
    region: str | None = None

    def as_context(self) -> dict:
        return {"name": self.name, "id": self.id, "cloud": self.cloud, "region": self.region}


@dataclass
class Services:
    """Everything a run needs from outside the engine. Built once per process (or per test).

    - ``plugins``: the loaded :class:`~runner.plugins.PluginHost` (actions, filters, observers).
    - ``store``: the :class:`~runner.store.RunStore`.
    - ``network``: the :class:`~runner.http.Network` every client is built from.
    - ``config``: the loaded ``soar.yaml`` (``None``: no tenants; core actions only).
    - ``auth``: the token provider (``runner.auth``), or ``None`` when no app is configured.
    - ``apis``: the API client factory (``runner.http``), or ``None``.
    - ``extras``: anything a plugin needs to share across a process.
    - ``origin``: how this process was started — simulated or not, the config file, ... — kept with
      every run it starts, so another process can continue the run the same way.
    - ``approval_timeout``: seconds until a gate without its own ``timeout:`` expires (``soar
      serve --approval-timeout``; None: never).
    """

    plugins: "PluginHost"
    store: "RunStore"
    network: "Network"
    config: "SoarConfig | None" = None
    auth: Any = None
    apis: Any = None
    auto_approve: bool = False
    extras: dict[str, Any] = field(default_factory=dict)
    origin: dict | None = None  # how runs of this process are started (kept with each run)
    approval_timeout: float | None = None  # expiry of a gate without `timeout:` (soar serve)


_STEP_LOG = logging.getLogger("soar.step")


class ActionContext:
    """Handed to every action call. Read-only for actions, apart from ``log``.

    Attributes: ``run_id``, ``step_id``, ``item`` (foreach index or ``None``), ``attempt``
    (1-based), ``tenant`` (:class:`TenantInfo` or ``None`` for tenant-less actions),
    ``dry_run``, ``log`` (a logger whose lines are redacted). Requests go out through
    :meth:`api` (a registered API) or :meth:`http` (any other host), never through a client an
    action builds itself: both come from the runtime's network, so under ``--simulate`` and in
    the test fixtures they reach the simulated services, and nothing else, by construction.
    ``services`` is the runtime's internals (not part of the plugin surface).
    """

    __slots__ = ("run_id", "step_id", "item", "attempt", "tenant", "dry_run", "services",
                 "_log", "_engine", "playbook_path")

    def __init__(self, *, run_id: str, step_id: str, item: int | None, attempt: int,
                 tenant: TenantInfo | None, dry_run: bool, services: Services,
                 engine: Any = None, playbook_path: str | None = None):
        self.run_id = run_id
        self.step_id = step_id
        self.item = item
        self.attempt = attempt
        self.tenant = tenant
        self.dry_run = dry_run
        self.services = services
        self._engine = engine
        self.playbook_path = playbook_path
        self._log = None

    @property
    def log(self) -> logging.LoggerAdapter:
        """The ``soar.step`` logger; every line names the run, the tenant and the step (and the
        foreach item) as fields (``runner.logfmt``), and passes the redacting filter. Made on
        first use: a step that logs nothing pays nothing."""
        if self._log is None:
            from runner.logfmt import STEP, StepLog

            found = STEP.get()  # the engine's, for the step being run (runner.logfmt)
            if found is None or found.get("run") != self.run_id or found.get("step") != self.step_id \
                    or found.get("item") != self.item:  # an action context made outside the engine
                found = {"run": self.run_id}
                if self.tenant is not None:
                    found["tenant"] = self.tenant.name
                found["step"] = self.step_id
                if self.item is not None:
                    found["item"] = self.item
            self._log = StepLog(_STEP_LOG, found)
        return self._log

    def warn(self, message: str) -> None:
        """A step warning: kept with the step's result (``soar run``, ``--json``, the demo
        summary) and logged. For what the run should not pass over in silence, e.g. data the
        action needed and the API did not send (:mod:`runner.notes`)."""
        from runner.notes import warn

        warn(message)

    def api(self, name: str, roles: tuple[str, ...] = (), *, quota: str | None = None) -> ApiClient:
        """The client for the registered API ``name`` (``register_apis``) on this step's tenant.

        Every call through it waits for budget in the (tenant, ``quota``) bucket (default: the
        bucket named like the API), carries the API's credentials (an Entra ID token holding one
        of ``roles``, or the API key / bearer / basic secret of its :class:`~runner.plugin.SecretAuth`),
        absorbs 429s, retries what is safe to repeat and maps error bodies to
        :class:`~runner.errors.ApiError` and friends. Clients are cached: call it per request.

        Raises :class:`~runner.errors.ConfigError` for an API no installed plugin registered, or
        when the step runs on no tenant.
        """
        from runner.apis.factory import ApiClients
        from runner.errors import ConfigError

        known = getattr(self.services.plugins, "apis", None)
        if known is not None and name not in known:
            raise ConfigError(f"no installed plugin registers an API named '{name}'"
                              + (f" (registered: {', '.join(sorted(known))})" if known else ""),
                              hint="register it in the plugin's register_apis hook, or fix the name")
        if self.tenant is None:
            raise ConfigError(f"this step runs on no tenant, so it cannot call the {name} API",
                              hint="set `tenants:` on the playbook, or pass --tenant")
        return ApiClients.for_services(self.services).client(self.tenant, name, tuple(roles), quota=quota)

    async def http(self, *, verify: bool | str = True) -> httpx.AsyncClient:
        """An HTTP client for hosts that are not a registered API (a webhook, a download).

        It is the runtime's shared client (one connection pool per event loop): do not close it,
        and pass ``timeout=`` per request. On the real network it reaches any host. Under
        ``--simulate``, ``--sim-url``, ``--replay`` and in the test fixtures it reaches only the
        simulated services and the hosts let out with ``--allow-host``; a request to any other
        host raises :class:`~runner.errors.UnservedHostError` naming the host — never an answer
        that could be read as data. ``verify``: check TLS certificates (``True``), trust a CA
        bundle (a path) or not at all (``False``).
        """
        from runner.errors import ConfigError

        network = self.services.network
        if network is None:
            raise ConfigError("no network is configured for this run", hint="build Services with a network")
        return await network.pooled_async_client(verify)

    def check_connect(self, host: str, port: int, protocol: str = "TCP") -> None:
        """Call before opening a connection that is not HTTP (SMTP, say) to ``host:port``: on
        the real network it passes; under ``--simulate``, ``--sim-url``, ``--replay`` and in
        the test fixtures it raises :class:`~runner.errors.UnservedHostError` naming the host
        unless it is let out with ``--allow-host`` — the same rule as :meth:`http`."""
        from runner.errors import ConfigError

        network = self.services.network
        if network is None:
            raise ConfigError("no network is configured for this run", hint="build Services with a network")
        network.check_connect(host, port, protocol)

    async def token(self, api: str, roles: tuple[str, ...] = ()):
        """An Entra ID access token for the registered API ``api`` on this context's tenant
        (for a request :meth:`api` cannot make, e.g. a token handed to another tool).

        Raises :class:`runner.errors.AuthError` / :class:`runner.errors.PermissionMissing`.
        """
        from runner.errors import ConfigError

        if self.services.auth is None:
            raise ConfigError(
                "no app registration is configured, so no token can be obtained",
                hint="add `app:` and `tenants:` to soar.yaml, or run with --simulate",
            )
        if self.tenant is None:
            raise ConfigError("this step runs on no tenant, so it cannot get a token",
                              hint="set `tenants:` on the playbook")
        return await self.services.auth.get_token(self.tenant.name, api, roles=roles)

    async def run_playbook(self, playbook: str, inputs: dict, tenant: str | None = None) -> Any:
        """Run a sub-playbook on this run's tenant (or on ``tenant``, a configured tenant) and
        return its outputs (``core.playbook``)."""
        return await self._engine.run_subplaybook(self, playbook, inputs, tenant)
