"""Plugin loading: built-ins and ``soar.plugins`` entry points, loaded once, explicitly.

Importing :mod:`runner` loads nothing. :func:`load_plugins` builds the process-wide
:class:`PluginHost` on first use; tests and embedders build their own with extra plugins.
"""

from __future__ import annotations

import contextvars
import functools
import importlib
import logging
import re
from typing import Any, Callable, Iterable

import pluggy

from runner import hookspecs
from runner.actions import Action, ActionRegistry
from runner.apis.spec import ApiSpec
from runner.errors import PluginError
from runner.serve.sources import PollSource
from runner.sim.services import SimService

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "soar.plugins"
# Built-in features go through the same path as third-party plugins (like datasette's).
DEFAULT_PLUGINS: tuple[str, ...] = ("runner.builtin.core",)
REGISTER_HOOKS = ("register_apis", "register_actions", "register_filters", "register_poll_sources",
                  "register_secret_schemes")
_OWNER: contextvars.ContextVar[str] = contextvars.ContextVar("soar_plugin_owner", default="unknown")
_NAME = re.compile(r"[a-z][a-z0-9_]*")
OBSERVER_HOOKS = ("soar_run_started", "soar_run_finished", "soar_step_started", "soar_step_finished",
                  "soar_approval_requested")


class PluginHost:
    """A pluggy manager plus what the plugins registered: actions, filters, APIs, poll sources,
    secret schemes and (on first use) simulated services."""

    def __init__(self, *, entry_points: bool = True, extra: Iterable[Any] = ()) -> None:
        self.pm = pluggy.PluginManager("soar")
        self.pm.add_hookspecs(hookspecs)
        for name in DEFAULT_PLUGINS:
            self.pm.register(importlib.import_module(name), name=name)
        if entry_points:
            try:
                self.pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
            except Exception as exc:  # a broken third-party package must say which one
                raise PluginError(
                    f"a plugin in entry-point group '{ENTRY_POINT_GROUP}' failed to load: "
                    f"{type(exc).__name__}: {exc}",
                    hint="`pip list` to find it; reinstall or uninstall the plugin",
                ) from exc
        for name in _env_plugins():
            try:
                self.pm.register(importlib.import_module(name), name=name)
            except ImportError as exc:
                raise PluginError(f"plugin module '{name}' named in SOAR_PLUGINS cannot be imported: {exc}",
                                  hint="fix PYTHONPATH or SOAR_PLUGINS") from None
        for plugin in extra:
            self.pm.register(plugin)
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            raise PluginError(
                f"plugin '{self._name(exc.plugin)}' implements an unknown hook: {exc}",
                hint="check the hook name against runner.hookspecs",
            ) from exc
        self.actions = ActionRegistry()
        self.filters: dict[str, Callable] = {}
        self._collect()
        self._guard_observers()

    def _name(self, plugin: Any) -> str:
        return self.pm.get_name(plugin) or getattr(plugin, "__name__", repr(plugin))

    def _collect(self) -> None:
        # Every call goes through pluggy, so hookwrappers and tryfirst/trylast ordering apply.
        # Each implementation of a register_* hook is wrapped once so that, while it runs, the
        # name of its plugin is known (``_OWNER``): what it registers is attributed to it.
        for hook_name in REGISTER_HOOKS:
            for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
                if not (impl.hookwrapper or impl.wrapper or getattr(impl.function, "_soar_owned", False)):
                    impl.function = _owned(impl.function, self._name(impl.plugin))
        self.apis: dict[str, ApiSpec] = {}
        self.poll_sources: dict[str, PollSource] = {}
        self.secret_schemes: dict[str, Callable[[str], str]] = {}
        self._sim_services: dict[str, SimService] | None = None
        self._owners: dict[tuple[str, str], str] = {}
        self.pm.hook.register_apis(register=self._add_api)
        self.pm.hook.register_actions(register=lambda action: self.actions.add(action, _OWNER.get()))
        self.pm.hook.register_filters(register=self._add_filter)
        self.pm.hook.register_poll_sources(register=self._add_poll_source)
        self.pm.hook.register_secret_schemes(register=self._add_secret_scheme)
        self.actions.check_undo()

    def _claim(self, kind: str, name: str) -> str:
        """Record that the calling plugin registers ``kind`` ``name``; refuse a name taken."""
        who = _OWNER.get()
        other = self._owners.get((kind, name))
        if other is not None:
            raise PluginError(f"plugin '{who}' registers {kind} '{name}', which plugin '{other}' already registered",
                              hint="uninstall one of the two plugins, or rename one of them")
        self._owners[(kind, name)] = who
        return who

    def owner(self, kind: str, name: str) -> str | None:
        """The plugin that registered ``kind`` (``api``, ``filter``, ``poll source``, ``secret
        scheme``, ``sim service``) ``name``."""
        return self._owners.get((kind, name))

    def _add_api(self, spec: ApiSpec) -> None:
        if not isinstance(spec, ApiSpec):
            raise PluginError(f"plugin '{_OWNER.get()}' registers an API that is not a runner.plugin.ApiSpec: {spec!r}")
        if not _NAME.fullmatch(spec.name):
            raise PluginError(f"plugin '{_OWNER.get()}' registers API '{spec.name}': a name must match {_NAME.pattern}")
        self._claim("api", spec.name)
        self.apis[spec.name] = spec

    def _add_filter(self, fname: str, func: Callable) -> None:
        who = _OWNER.get()
        if fname in self.filters:
            raise PluginError(f"plugin '{who}' registers filter '{fname}', which is already taken")
        if not callable(func):
            raise PluginError(f"plugin '{who}' registers filter '{fname}' that is not callable")
        self._claim("filter", fname)
        self.filters[fname] = func

    def _add_poll_source(self, source: PollSource) -> None:
        who = _OWNER.get()
        if not isinstance(source, PollSource) or not source.listings:
            raise PluginError(f"plugin '{who}' registers a poll source that is not a runner.plugin.PollSource "
                              f"with at least one listing: {source!r}")
        for listing in source.listings:
            if listing.api not in self.apis:
                raise PluginError(f"plugin '{who}' registers poll source '{source.name}' on API '{listing.api}', "
                                  "which no plugin registered", hint="register the API in register_apis")
        self._claim("poll source", source.name)
        self.poll_sources[source.name] = source

    def _add_secret_scheme(self, scheme: str, resolve: Callable[[str], str]) -> None:
        who = _OWNER.get()
        if not _NAME.fullmatch(scheme) or not callable(resolve):
            raise PluginError(f"plugin '{who}' registers secret scheme {scheme!r}: it needs a name matching "
                              f"{_NAME.pattern} and a callable resolver")
        self._claim("secret scheme", scheme)
        self.secret_schemes[scheme] = resolve
        from runner import secrets

        secrets.register_scheme(scheme, resolve)

    @property
    def sim_services(self) -> dict[str, SimService]:
        """The simulated services, collected on first use (only simulated runs need them)."""
        if self._sim_services is None:
            found: dict[str, SimService] = {}
            hosts: dict[str, str] = {}

            def register(service: SimService) -> None:
                who = _OWNER.get()
                if not isinstance(service, SimService):
                    raise PluginError(f"plugin '{who}' registers a simulated service that is not a "
                                      f"runner.plugin.SimService: {service!r}")
                self._claim("sim service", service.name)
                for host in service.hosts:
                    if host.lower() in hosts:
                        raise PluginError(f"plugin '{who}' mounts simulated service '{service.name}' on {host}, "
                                          f"which service '{hosts[host.lower()]}' already serves")
                    hosts[host.lower()] = service.name
                found[service.name] = service

            for impl in self.pm.hook.register_sim_services.get_hookimpls():
                if not (impl.hookwrapper or impl.wrapper or getattr(impl.function, "_soar_owned", False)):
                    impl.function = _owned(impl.function, self._name(impl.plugin))
            self.pm.hook.register_sim_services(register=register)
            self._sim_services = found
        return self._sim_services

    def _guard_observers(self) -> None:
        """A failing observer is logged, never fatal, and never stops the other observers: each
        plain implementation of an observer hook is wrapped once, so ``pm.hook`` can call them all."""
        for hook_name in OBSERVER_HOOKS:
            for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
                if impl.hookwrapper or impl.wrapper or getattr(impl.function, "_soar_guarded", False):
                    continue
                impl.function = _guarded(impl.function, hook_name, self._name(impl.plugin))

    @property
    def expressions(self):
        """The one :class:`~runner.expressions.ExpressionEngine` for these filters: the loader
        compiles a playbook's expressions into it once, and every run reuses them."""
        engine = self.__dict__.get("_expressions")
        if engine is None:
            from runner.expressions import ExpressionEngine

            engine = self._expressions = ExpressionEngine(self.filters)
        return engine

    def plugins(self) -> list[dict]:
        """Installed plugins with their version and what they registered (``soar plugins list``)."""
        dists = {self._name(p): d for p, d in self.pm.list_plugin_distinfo()}
        out = []
        for plugin in self.pm.get_plugins():
            name = self._name(plugin)
            dist = dists.get(name)
            out.append({
                "name": name,
                "package": dist.project_name if dist else "soar-runner (built-in)",
                "version": dist.version if dist else _own_version(),
                "actions": [a.name for a in self.actions if a.plugin == name],
            })
        return sorted(out, key=lambda p: p["name"])

    def notify(self, hook_name: str, **kwargs: Any) -> None:
        """Call an observer hook through pluggy; a failing observer is logged, never fatal."""
        try:
            getattr(self.pm.hook, hook_name)(**kwargs)
        except Exception:  # noqa: BLE001 - a failing hookwrapper must not break runs either
            log.exception("an observer wrapper of %s failed", hook_name)

    def has_observers(self) -> bool:
        """Whether any plugin observes steps (``soar_step_*``): the engine builds no per-step
        snapshot otherwise. Run and approval observers are cheap (once per run or gate)."""
        h = self.pm.hook
        return any(getattr(h, n).get_hookimpls() for n in ("soar_step_started", "soar_step_finished"))


def _owned(func: Callable, plugin: str) -> Callable:
    """``func`` (a register_* hook implementation) run with ``_OWNER`` set to its plugin."""
    @functools.wraps(func)
    def call(*args: Any, **kwargs: Any) -> Any:
        token = _OWNER.set(plugin)
        try:
            return func(*args, **kwargs)
        finally:
            _OWNER.reset(token)

    call._soar_owned = True  # type: ignore[attr-defined]
    return call


def _guarded(func: Callable, hook_name: str, plugin: str) -> Callable:
    @functools.wraps(func)
    def call(*args: Any) -> Any:
        try:
            return func(*args)
        except Exception:  # noqa: BLE001 - observers must not break runs
            log.exception("observer %s of plugin %s failed", hook_name, plugin)
            return None

    call._soar_guarded = True  # type: ignore[attr-defined]
    return call


def _env_plugins() -> list[str]:
    """Extra plugin modules from ``SOAR_PLUGINS`` (comma-separated), for development and tests."""
    import os

    return [n.strip() for n in os.environ.get("SOAR_PLUGINS", "").split(",") if n.strip()]


def _own_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("soar-runner")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0+unknown"


_default: PluginHost | None = None


def load_plugins() -> PluginHost:
    """The process-wide host: built-ins plus installed entry points, loaded once."""
    global _default
    if _default is None:
        _default = PluginHost()
    return _default
