"""soar-runner's pytest plugin: test actions and playbooks offline, against the simulated cloud.

Installed with soar-runner (entry point ``pytest11: soar = runner.testing``), so every project
that has soar-runner installed gets these fixtures — see ``docs/testing.md``:

- ``soar_cloud`` — a :class:`~runner.sim.SimulatedCloud` (Entra ID + the simulated services of the
  installed plugins) for the test; configure it with ``@pytest.mark.soar_cloud(tenants=3,
  <service>={...})`` (any keyword of ``SimulatedCloud``), default: the demo tenants ``contoso``
  and ``fabrikam``.
- ``make_soar_cloud`` — a factory, for tests that want several clouds or build one mid-test.
- ``soar_runner`` — a :class:`SoarRunner` bound to ``soar_cloud``: ``run(playbook)`` runs a
  playbook file or YAML text in-process and returns a :class:`RunOutcome`; ``action(name, ...)``
  calls one action for one tenant. ``make_soar_runner(cloud, **options)`` builds one with other
  options (``auto_approve``, client ``quotas``, ``retry``, extra ``plugins``, ``token_cache``,
  ``allow_hosts``: hosts let out to the real network, e.g. a local webhook receiver; any other
  host the cloud does not serve fails the step with ``UnservedHostError``).
- ``soar_action`` — shorthand for ``soar_runner.action``.
- ``soar_replay`` — ``soar_replay(DIR, **options)``: a :class:`SoarRunner` answered from the
  recorded exchanges in ``DIR`` (:mod:`runner.replay`) instead of the simulator.

Importing this module imports pytest only; the runner, the simulator and their libraries load
inside the fixtures, so the plugin costs nothing in projects that do not use it.
:class:`SoarRunner` also works outside pytest (benchmarks, a second process in a test).
"""

from __future__ import annotations

import asyncio
import itertools
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

import pytest

if TYPE_CHECKING:  # pragma: no cover
    from runner.engine.run import RunResult
    from runner.sim import SimulatedCloud
    from runner.store.records import StepRecord

__all__ = ["RunOutcome", "SoarRunner", "make_cloud"]

_MARKER = "soar_cloud"


def make_cloud(tenants: int | Iterable[str] | None = None, **kwargs: Any) -> "SimulatedCloud":
    """A :class:`~runner.sim.SimulatedCloud`: ``tenants`` is a count (``tenant-01``...) or names
    (default ``contoso``, ``fabrikam``); other keywords go to the cloud — among them one per
    simulated service a plugin registers, with that service's options (e.g. ``defender={"quotas":
    False}`` with the Defender plugin installed), or ``services={name: options}``."""
    from runner.sim import SimulatedCloud

    return SimulatedCloud(tenants=tenants, **kwargs)


# ---- results -------------------------------------------------------------------------------------

@dataclass
class RunOutcome:
    """A finished run, with what a test wants to assert on.

    ``status``, ``outputs``, ``error``, ``run_id`` are the run's (for a multi-tenant run: the
    parent's — ``outputs`` maps tenant → ``{"status", "outputs"}``); ``children`` maps tenant →
    :class:`RunOutcome`; ``result`` is the engine's :class:`~runner.RunResult`.
    """

    result: "RunResult"
    runner: "SoarRunner"
    children: dict[str, "RunOutcome"] = field(init=False)

    def __post_init__(self) -> None:
        self.children = {name: RunOutcome(child, self.runner) for name, child in self.result.children.items()}

    @property
    def run_id(self) -> str:
        return self.result.run_id

    @property
    def status(self) -> str:
        return self.result.status

    @property
    def outputs(self) -> Any:
        return self.result.outputs

    @property
    def error(self) -> Any:
        return self.result.error

    @property
    def tenant(self) -> str | None:
        return self.result.tenant

    def json(self) -> dict:
        """What ``soar run --json`` prints for this run."""
        return self.result.to_json()

    @property
    def steps(self) -> dict[str, str]:
        """Step id → status (of this run; for a parent run, of its only or first child)."""
        source = self.result if self.result.steps or not self.children else next(iter(self.children.values())).result
        return {s["id"]: s["status"] for s in source.steps}

    def run_ids(self) -> list[str]:
        return [self.run_id, *(c.run_id for c in self.children.values())]

    def records(self, step_id: str | None = None) -> list["StepRecord"]:
        """Every stored step attempt of this run and its tenant runs (optionally of one step)."""
        store = self.runner.services.store
        store.flush()
        out = []
        for run_id in self.run_ids():
            out += [r for r in store.step_records(run_id) if step_id is None or r.step_id == step_id]
        return out

    def final(self, step_id: str | None = None) -> dict[tuple[str, str, int | None], "StepRecord"]:
        """The last attempt of each (run, step, item)."""
        last: dict[tuple[str, str, int | None], StepRecord] = {}
        for r in self.records(step_id):
            key = (r.run_id, r.step_id, r.item)
            if key not in last or r.attempt >= last[key].attempt:
                last[key] = r
        return last

    def failed(self, step_id: str | None = None) -> list["StepRecord"]:
        """Step items whose *last* attempt failed (a failure that a retry fixed is not counted)."""
        return [r for r in self.final(step_id).values() if r.status == "failed"]

    def retried(self, step_id: str | None = None) -> list["StepRecord"]:
        """Attempts that failed and were tried again."""
        last = self.final(step_id)
        return [r for r in self.records(step_id)
                if r.status == "failed" and last[(r.run_id, r.step_id, r.item)].attempt > r.attempt]

    def output(self, step_id: str, tenant: str | None = None) -> Any:
        """A step's output in this run (``tenant``: in that tenant's run)."""
        run = self.children[tenant] if tenant is not None else self
        if tenant is None and self.children:
            if len(self.children) > 1:
                raise ValueError(f"this run has {len(self.children)} tenant runs: pass tenant= "
                                 f"(one of {', '.join(self.children)})")
            run = next(iter(self.children.values()))
        for r in run.final(step_id).values():
            if r.item is None:
                return r.output
        return [r.output for r in sorted(run.final(step_id).values(), key=lambda r: r.item or 0)
                if r.status == "succeeded"]

    def __repr__(self) -> str:
        return f"RunOutcome(run_id={self.run_id!r}, status={self.status!r}, outputs={self.outputs!r})"


# ---- the runner ----------------------------------------------------------------------------------

_counter = itertools.count(1)


class SoarRunner:
    """The runner's real engine, store, token provider and API clients, bound to a simulated cloud.

    ``store``: a store URL (default: a SQLite file in ``workdir``, a temporary directory if not
    given). ``plugins``: plugin modules or objects to register besides the installed ones (test a
    plugin before it is packaged). ``quotas``: the client-side ``quotas:`` of soar.yaml (default:
    the documented limits; ``"off"`` disables them). ``time_scale``: the client's quota windows in
    simulated time (default: the simulator's, so both count the same "minute"). ``retry``: a
    :class:`runner.apis.RetryPolicy` or a dict of its fields (e.g. ``{"backoff": 0.01}``).
    ``token_cache``: a path to persist tokens (default: in memory). ``auto_approve``: approval
    gates pass (recorded as auto-approved); per run it can be overridden. ``allow_hosts``: hosts
    whose requests go out over the real network (a local webhook receiver, ``"127.0.0.1:8080"``;
    :mod:`runner.allowhosts`); a request to any other host the cloud does not serve fails with
    :class:`~runner.errors.UnservedHostError`.
    """

    def __init__(self, cloud: "SimulatedCloud | None" = None, *, workdir: str | Path | None = None,
                 store: str | None = None, plugins: Iterable[Any] = (), quotas: Any = None,
                 time_scale: float | None = None, retry: Any = None, token_cache: str | Path | None = None,
                 auto_approve: bool = False, allow_hosts: Iterable[str] = ()) -> None:
        from runner.compose import build_services
        from runner.plugins import PluginHost, load_plugins
        from runner.store import RunStore

        self.cloud = cloud if cloud is not None else make_cloud()
        self._tmp = None
        if workdir is None and store is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="soar-test-")
            workdir = self._tmp.name
        self.workdir = Path(workdir) if workdir is not None else None
        self.config = self.cloud.demo_config()
        if quotas is not None:
            self.config = self.config.model_copy(update={"quotas": quotas})
        self.network = self.cloud.network(allow_hosts=allow_hosts)
        extra = list(plugins)
        host = PluginHost(extra=extra) if extra else load_plugins()
        url = store or f"sqlite:///{self.workdir / 'soar.db'}"
        self.services = build_services(self.config, self.network, RunStore.open(url), host,
                                       auto_approve=auto_approve, token_cache=token_cache or ":memory:",
                                       retry=retry, time_scale=self._time_scale() if time_scale is None else time_scale,
                                       extras={"sim": self.cloud})
        self.auth = self.services.auth
        self.apis = self.services.apis
        self._closed = False

    def _time_scale(self) -> float:
        """Quota windows shrink as the fastest simulated clock runs (a service's ``clock.time_scale``)."""
        speeds = [getattr(getattr(svc, "clock", None), "time_scale", None) for svc in self.cloud.services.values()]
        speed = max((s for s in speeds if isinstance(s, (int, float))), default=1.0)
        return 1.0 / speed if speed > 0 else 1.0

    # ---- what tests look at ----------------------------------------------------------------------

    def __getattr__(self, name: str) -> Any:
        """``runner.<service>``: the simulated cloud's service of that name (``cloud.services``), e.g.
        ``soar_runner.defender`` with the Defender plugin installed."""
        services = self.__dict__.get("cloud") and self.__dict__["cloud"].__dict__.get("services")
        if services and name in services:
            return services[name]
        raise AttributeError(f"{type(self).__name__!r} has no attribute {name!r}")

    @property
    def token_requests(self) -> int:
        """Token requests that reached the simulated Entra ID so far."""
        return self.cloud.total_token_requests()

    def api_stats(self) -> dict:
        """The API clients' counters: calls, 429s absorbed, retries (``runner.apis.ApiClients.stats``)."""
        return self.apis.stats()

    def tenants(self) -> list[str]:
        return self.config.tenant_names()

    # ---- running -----------------------------------------------------------------------------------

    def load(self, playbook: str | Path) -> Any:
        """Load a playbook from a path, or from YAML text (anything with a newline)."""
        from runner.playbook.loader import PlaybookLoader

        loader = PlaybookLoader(self.services.plugins)
        if isinstance(playbook, str) and "\n" in playbook:
            path = (self.workdir or Path(tempfile.gettempdir())) / f"playbook-{next(_counter)}.yaml"
            path.write_text(playbook)
            return loader.load(path)
        return loader.load(playbook)

    async def arun(self, playbook: str | Path, *, inputs: Mapping[str, Any] | None = None,
                   tenant: str | None = None, dry_run: bool = False, auto_approve: bool | None = None,
                   trigger: dict | None = None) -> RunOutcome:
        """Run ``playbook`` (path or YAML text) to its end in the running event loop.

        ``trigger``: the run's ``trigger`` context, e.g. ``{"type": "webhook", "payload": {...}}``
        for a playbook that reads ``trigger.payload`` (default: a manual run)."""
        from runner.engine.run import Engine

        loaded = self.load(playbook)
        old = self.services.auto_approve
        if auto_approve is not None:
            self.services.auto_approve = auto_approve
        try:
            result = await Engine(self.services).start(loaded, inputs=dict(inputs or {}), tenant=tenant,
                                                       dry_run=dry_run, trigger=trigger)
        finally:
            self.services.auto_approve = old
            self.services.store.flush()
        return RunOutcome(result, self)

    def run(self, playbook: str | Path, **kwargs: Any) -> RunOutcome:
        """:meth:`arun` in a fresh event loop (for plain, non-async tests)."""
        return self._sync(self.arun(playbook, **kwargs))

    async def acall(self, name: str, tenant: str | None = None, **inputs: Any) -> Any:
        """Call one action for ``tenant`` (default: the first one) with ``inputs``; returns its
        output as plain data (what a step's ``output`` would be). Errors are raised as is."""
        from runner.engine.context import ActionContext, TenantInfo
        from runner.engine.outcomes import output_of
        from runner.errors import ConfigError

        action = self.services.plugins.actions.get(name)
        if action is None:
            raise ConfigError(f"unknown action '{name}'", hint="is the plugin installed (or passed as plugins=)?")
        info = None
        if action.needs_tenant:
            tname = tenant or self.tenants()[0]
            t = self.config.tenant(tname)
            info = TenantInfo(tname, t.id, t.cloud, t.region)
        ctx = ActionContext(run_id=f"test-{next(_counter)}", step_id=name.replace(".", "-"), item=None,
                            attempt=1, tenant=info, dry_run=False, services=self.services)
        return output_of(action, await action.func(ctx, action.input_model.model_validate(inputs)))

    def action(self, name: str, tenant: str | None = None, **inputs: Any) -> Any:
        """:meth:`acall` in a fresh event loop."""
        return self._sync(self.acall(name, tenant, **inputs))

    def _sync(self, coro: Any) -> Any:
        async def main() -> Any:
            try:
                return await coro
            finally:
                await self.apis.aclose()  # the pools belong to this loop, which ends here

        return asyncio.run(main())

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        from runner.compose import close_services

        close_services(self.services)
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> "SoarRunner":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


# ---- pytest ----------------------------------------------------------------------------------------

def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{_MARKER}(tenants=None, **kwargs): configure the soar_cloud fixture "
                   "(arguments of runner.sim.SimulatedCloud; a keyword named like a simulated service takes its options)")


@pytest.fixture
def make_soar_cloud() -> Callable[..., "SimulatedCloud"]:
    """A factory: ``make_soar_cloud(tenants=3, defender={"quotas": False})`` → a SimulatedCloud."""
    return make_cloud


@pytest.fixture
def soar_cloud(request: pytest.FixtureRequest) -> "SimulatedCloud":
    """The simulated cloud of this test, from ``@pytest.mark.soar_cloud(...)`` or an indirect
    parameter (a dict of keywords, or a tenant count); default: tenants contoso and fabrikam."""
    kwargs: dict[str, Any] = {}
    marker = request.node.get_closest_marker(_MARKER)
    if marker is not None:
        if marker.args:
            kwargs["tenants"] = marker.args[0]
        kwargs.update(marker.kwargs)
    param = getattr(request, "param", None)
    if isinstance(param, Mapping):
        kwargs.update(param)
    elif param is not None:
        kwargs["tenants"] = param
    return make_cloud(**kwargs)


@pytest.fixture
def make_soar_runner(request: pytest.FixtureRequest, tmp_path: Path):
    """A factory: ``make_soar_runner(cloud=None, **options)`` → a :class:`SoarRunner` (options:
    ``auto_approve``, ``quotas``, ``retry``, ``plugins``, ``token_cache``, ``allow_hosts``...) on ``cloud``
    (default: ``soar_cloud``), its store in ``tmp_path``; closed after the test."""
    made: list[SoarRunner] = []

    def make(cloud: "SimulatedCloud | None" = None, **options: Any) -> SoarRunner:
        if cloud is None:
            cloud = request.getfixturevalue("soar_cloud")
        options.setdefault("workdir", tmp_path)
        made.append(SoarRunner(cloud, **options))
        return made[-1]

    yield make
    for runner in made:
        runner.close()


@pytest.fixture
def soar_replay(make_soar_runner: Callable[..., SoarRunner]) -> Callable[..., SoarRunner]:
    """A factory: ``soar_replay(DIR, **options)`` → a :class:`SoarRunner` whose API requests are
    answered from the recorded exchanges in ``DIR`` (:mod:`runner.replay`, docs/replay.md); its
    ``replay`` attribute holds what was received (``replay.requests("POST", "/isolate")``) and
    what had no recording (``replay.missing``)."""

    def make(directory: str | Path, **options: Any) -> SoarRunner:
        from runner.replay import Replay

        replay = Replay(directory)
        runner = make_soar_runner(replay.cloud(), **options)
        runner.replay = replay  # type: ignore[attr-defined]
        return runner

    return make


@pytest.fixture
def soar_runner(make_soar_runner: Callable[..., SoarRunner]) -> SoarRunner:
    """A :class:`SoarRunner` on ``soar_cloud`` with default options (approval gates stop the run)."""
    return make_soar_runner()


@pytest.fixture
def soar_action(soar_runner: SoarRunner) -> Callable[..., Any]:
    """``soar_action("defender.list_machines", tenant="contoso", **inputs)`` → the action's output."""
    return soar_runner.action
