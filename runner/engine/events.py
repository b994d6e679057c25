"""Read-only snapshots handed to observer hooks and to the CLI's progress view."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx


@dataclass(frozen=True)
class RunInfo:
    """A run, as observer hooks see it. An observer that sends something (a notification) does
    it over the run's network: :meth:`http_client` for HTTP, :meth:`check_connect` before any
    other connection — so a run under simulation reaches only the simulated services and the
    hosts let out with ``--allow-host``, as its steps do."""

    run_id: str
    playbook: str
    tenant: str | None
    parent_id: str | None
    dry_run: bool
    status: str
    error: str | None = None
    network: Any = field(default=None, repr=False, compare=False)  # runner.http.Network

    def _network(self) -> Any:
        if self.network is None:
            from runner.errors import ConfigError

            raise ConfigError(f"run {self.run_id} was reported without its network",
                              hint="a bug in soar-runner: observers must get the run's network")
        return self.network

    def http_client(self, *, verify: bool | str = True, **kw: Any) -> "httpx.Client":
        """A synchronous ``httpx.Client`` on the run's network (any ``httpx.Client`` keyword; close
        it when done): the real network, or under simulation only what the run itself may reach
        — another host raises :class:`~runner.errors.UnservedHostError`, which names it."""
        return self._network().sync_client(verify=verify, **kw)

    def check_connect(self, host: str, port: int, protocol: str = "TCP") -> None:
        """Raise :class:`~runner.errors.UnservedHostError` unless the run's network may open a
        ``protocol`` connection (SMTP, say) to ``host:port`` itself: always on the real network;
        under simulation only to an allowed host."""
        self._network().check_connect(host, port, protocol)


@dataclass(frozen=True)
class StepInfo:
    step_id: str
    action: str
    item: int | None
    attempt: int
    status: str
    duration: float | None = None
    error: str | None = None


@dataclass(frozen=True)
class ApprovalInfo:
    """An approval gate that was just opened: what :func:`runner.hookspecs.soar_approval_requested`
    receives. ``message`` and ``step_name`` are rendered and masked as the run store keeps them;
    ``plan`` is the gated step's dry-run plan (``{"action", "effect", "items": [...], ...}``, inputs
    masked) or ``None``; ``approvers`` is empty when anyone may decide."""

    run_id: str
    step_id: str
    playbook: str | None
    tenant: str | None
    message: str
    step_name: str | None = None
    approvers: tuple[str, ...] = ()
    plan: Any = None
    requested_at: datetime | None = None
    expires_at: datetime | None = None
