"""Plugin loading: built-ins and ``soar.plugins`` entry points, loaded once, explicitly.

Importing :mod:`runner` loads nothing. :func:`load_plugins` builds the process-wide
:class:`PluginHost` on first use; tests and embedders build their own with extra plugins.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any, Callable, Iterable

import pluggy

from runner import hookspecs
from runner.actions import Action, ActionRegistry
from runner.errors import PluginError

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "soar.plugins"
# Built-in features go through the same path as third-party plugins (like datasette's).
DEFAULT_PLUGINS: tuple[str, ...] = ("runner.builtin.core",)


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

    def _name(self, plugin: Any) -> str:
        return self.pm.get_name(plugin) or getattr(plugin, "__name__", repr(plugin))

    def _collect(self) -> None:
        hook = self.pm.hook
        for impl in hook.register_actions.get_hookimpls():
            name = self._name(impl.plugin)
            impl.function(register=lambda action, _n=name: self.actions.add(action, _n))
        for impl in hook.register_filters.get_hookimpls():
            name = self._name(impl.plugin)

            def register(fname: str, func: Callable, _n: str = name) -> None:
                if fname in self.filters:
                    raise PluginError(f"plugin '{_n}' registers filter '{fname}', which is already taken")
                if not callable(func):
                    raise PluginError(f"plugin '{_n}' registers filter '{fname}' that is not callable")
                self.filters[fname] = func

            impl.function(register=register)
        self.actions.check_undo()

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
        """Call an observer hook; a failing observer is logged, never fatal."""
        hook = getattr(self.pm.hook, hook_name)
        for impl in hook.get_hookimpls():
            try:
                impl.function(**kwargs)
            except Exception:  # noqa: BLE001 - observers must not break runs
                log.exception("observer %s of plugin %s failed", hook_name, self._name(impl.plugin))

    def has_observers(self) -> bool:
        h = self.pm.hook
        return any(getattr(h, n).get_hookimpls() for n in
                   ("soar_run_started", "soar_run_finished", "soar_step_started", "soar_step_finished"))


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
