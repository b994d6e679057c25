"""Plugin loading: built-ins and ``soar.plugins`` entry points, loaded once, explicitly.

Importing :mod:`runner` loads nothing. :func:`load_plugins` builds the process-wide
:class:`PluginHost` on first use; tests and embedders build their own with extra plugins.
"""

from __future__ import annotations

import functools
import importlib
import logging
import sys
from typing import Any, Callable, Iterable

import pluggy

from runner import hookspecs
from runner.actions import Action, ActionRegistry
from runner.errors import PluginError

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "soar.plugins"
# Built-in features go through the same path as third-party plugins (like datasette's).
DEFAULT_PLUGINS: tuple[str, ...] = ("runner.builtin.core",)
OBSERVER_HOOKS = ("soar_run_started", "soar_run_finished", "soar_step_started", "soar_step_finished")


class PluginHost:
    """A pluggy manager plus what the plugins registered (actions, filters)."""

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
        # ``register`` is one callable for all implementations; the plugin an action or filter
        # belongs to is the one whose implementation is on the call stack.
        owners = self._owners("register_actions")
        self.pm.hook.register_actions(
            register=lambda action: self.actions.add(action, _caller(owners)))
        owners = self._owners("register_filters")

        def register(fname: str, func: Callable) -> None:
            who = _caller(owners)
            if fname in self.filters:
                raise PluginError(f"plugin '{who}' registers filter '{fname}', which is already taken")
            if not callable(func):
                raise PluginError(f"plugin '{who}' registers filter '{fname}' that is not callable")
            self.filters[fname] = func

        self.pm.hook.register_filters(register=register)
        self.actions.check_undo()

    def _owners(self, hook_name: str) -> dict[Any, list[tuple[Any, str]]]:
        """The code object of each implementation of ``hook_name`` → (bound ``self``, plugin name)."""
        owners: dict[Any, list[tuple[Any, str]]] = {}
        for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
            code = getattr(impl.function, "__code__", None)
            if code is not None:
                owners.setdefault(code, []).append(
                    (getattr(impl.function, "__self__", None), self._name(impl.plugin)))
        return owners

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
        h = self.pm.hook
        return any(getattr(h, n).get_hookimpls() for n in OBSERVER_HOOKS)


def _caller(owners: dict[Any, list[tuple[Any, str]]]) -> str:
    """The plugin whose hook implementation (or a function it called) is calling ``register``."""
    frame = sys._getframe(2)
    while frame is not None:
        candidates = owners.get(frame.f_code)
        if candidates:
            if len(candidates) > 1:  # one class, several instances registered: match ``self``
                me = frame.f_locals.get("self")
                for bound, name in candidates:
                    if bound is me:
                        return name
            return candidates[0][1]
        frame = frame.f_back
    return "unknown"


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
