"""The plugin author's surface (``runner.plugin``) changes only on purpose.

What a plugin may use — the names of ``runner.plugin``, the signature of every hook
specification, the fields of every record a hook takes, what an action's context offers, and the
testing kit's fixtures and exports — is written out by :func:`surface` and compared with the
checked-in list ``tests/plugin_surface.txt``. A change there is a change of soar-runner's
compatibility promise to plugin authors: make it on purpose, then regenerate the list with

    SOAR_UPDATE_SURFACE=1 .venv/bin/python -m pytest -q tests/test_plugin_surface.py

and say so in the change log.
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import os
import subprocess
import sys
from pathlib import Path

import pytest

import runner.plugin
from runner import hookspecs

LIST = Path(__file__).with_name("plugin_surface.txt")
RECORDS = ("Action", "ApiSpec", "ApprovalInfo", "EntraResource", "ErrorBody", "PollListing", "PollSource",
           "RunInfo", "SecretAuth", "SimService", "StepInfo", "TenantInfo")


def _annotation(value: object) -> str:
    if value is inspect.Parameter.empty:
        return ""
    if not isinstance(value, str):
        return inspect.formatannotation(value)
    return value[1:-1] if len(value) > 1 and value[0] == value[-1] and value[0] in "'\"" else value


def _signature(func: object) -> str:
    """``(a: T, *, b: U = 1) -> R``, annotations as written (the modules use postponed annotations)."""
    sig = inspect.signature(func)  # type: ignore[arg-type]
    parts, star = [], False
    for p in sig.parameters.values():
        if p.kind is p.KEYWORD_ONLY and not star:
            parts.append("*")
            star = True
        text = ("*" if p.kind is p.VAR_POSITIONAL else "**" if p.kind is p.VAR_KEYWORD else "") + p.name
        if p.kind is p.VAR_POSITIONAL:
            star = True
        ann = _annotation(p.annotation)
        if ann:
            text += f": {ann}"
        if p.default is not p.empty:
            text += f" = {p.default!r}" if not dataclasses.is_dataclass(p.default) else " = ..."
        parts.append(text)
    ret = _annotation(sig.return_annotation)
    return f"({', '.join(parts)})" + (f" -> {ret}" if ret else "")


def _fields(cls: type) -> str:
    out = []
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        default = "" if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING else " = ..."
        out.append(f"{f.name}: {_annotation(f.type)}{default}")
    return ", ".join(out)


def _is_fixture(obj: object) -> bool:
    return any(hasattr(obj, a) for a in ("_fixture_function_marker", "_pytestfixturefunction"))


def surface() -> list[str]:
    """The surface as text lines (what ``tests/plugin_surface.txt`` holds)."""
    lines = ["# runner.plugin.__all__"]
    lines += sorted(runner.plugin.__all__)
    lines.append("# hook specifications (runner.hookspecs)")
    for name in sorted(n for n in dir(hookspecs) if hasattr(getattr(hookspecs, n), "soar_spec")):
        lines.append(f"{name}{_signature(getattr(hookspecs, name))}")
    lines.append("# records (dataclass fields; '= ...': has a default)")
    for name in RECORDS:
        lines.append(f"{name}({_fields(getattr(runner.plugin, name))})")
    lines.append("# ActionContext")
    ctx = runner.plugin.ActionContext
    for name in sorted(n for n in dir(ctx) if not n.startswith("_")):
        member = inspect.getattr_static(ctx, name)
        if isinstance(member, property):
            lines.append(f"{name} (property)")
        elif callable(member):
            lines.append(f"{'async ' if inspect.iscoroutinefunction(member) else ''}{name}{_signature(member)}")
        else:
            lines.append(f"{name} (attribute)")
    lines.append("# runner.testing")
    testing = runner.plugin.testing
    lines += [f"fixture {n}" for n in sorted(dir(testing)) if _is_fixture(getattr(testing, n))]
    lines += [f"export {n}" for n in sorted(testing.__all__)]
    lines.append(f"SoarRunner{_signature(testing.SoarRunner.__init__)}")
    return lines


def test_the_surface_is_the_checked_in_list():
    now = surface()
    if os.environ.get("SOAR_UPDATE_SURFACE") == "1":
        LIST.write_text("\n".join(now) + "\n")
    listed = LIST.read_text().splitlines()
    diff = "\n".join(difflib.unified_diff(listed, now, "tests/plugin_surface.txt", "runner.plugin now", lineterm=""))
    assert now == listed, (
        "the plugin author's surface changed — a breaking change for plugins unless it only adds. "
        "If it is on purpose, regenerate the list: SOAR_UPDATE_SURFACE=1 pytest tests/test_plugin_surface.py\n"
        + diff)


def test_every_name_imports_and_dir_lists_exactly_them():
    assert sorted(dir(runner.plugin)) == sorted(runner.plugin.__all__)
    assert len(set(runner.plugin.__all__)) == len(runner.plugin.__all__)
    for name in runner.plugin.__all__:
        assert getattr(runner.plugin, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute 'PluginHost'"):
        runner.plugin.PluginHost  # noqa: B018 - the host is internal


def test_the_exported_errors_are_soar_errors():
    for name in ("ActionInputError", "ApiError", "AuthError", "ConfigError", "InvalidValue", "PermissionMissing",
                 "RateLimited", "SecretError", "StepError", "TransientApiError", "UnservedHostError"):
        cls = getattr(runner.plugin, name)
        assert issubclass(cls, runner.plugin.SoarError) and cls is getattr(runner.plugin.errors, name)


def test_importing_the_surface_is_cheap():
    """``import runner.plugin`` loads no library: a plugin module imported at start-up costs nothing."""
    code = ("import sys, runner.plugin; from runner.plugin import hookimpl; "
            "print(sorted(m for m in ('httpx', 'pydantic', 'sqlalchemy', 'pytest', 'runner.testing') "
            "if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "[]", done.stdout


def test_hookimpl_from_the_surface_is_the_hosts_marker():
    """An implementation marked with ``runner.plugin.hookimpl`` is called by the plugin host."""
    from runner.plugins import PluginHost

    seen = []

    class Plugin:
        @runner.plugin.hookimpl
        def register_filters(self, register):
            seen.append("called")
            register("surface_twice", lambda v: v * 2)

    host = PluginHost(entry_points=False, extra=[Plugin()])
    assert seen == ["called"] and host.filters["surface_twice"](21) == 42
