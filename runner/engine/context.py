"""What an action sees while it runs (:class:`ActionContext`) and what the engine is given to
run with (:class:`Services`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
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
    ``dry_run``, ``services``, ``log`` (a logger whose lines are redacted).
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

    async def token(self, api: str, roles: tuple[str, ...] = ()):
        """An access token for ``api`` (``mde``, ``xdr``, ``graph``) on this context's tenant.

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
