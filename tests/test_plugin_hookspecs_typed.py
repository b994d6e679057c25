"""Each hookspec is typed and documented like pytest's: annotations, when it is called, its
arguments and what it returns."""

from __future__ import annotations

import inspect

from runner import hookspecs
from runner.plugins import PluginHost


def _specs():
    host = PluginHost(entry_points=False)
    return {name: getattr(hookspecs, name) for name in vars(host.pm.hook)
            if not name.startswith("_") and hasattr(hookspecs, name)}


def test_every_hookspec_is_annotated_and_documented():
    specs = _specs()
    assert {"register_actions", "register_filters", "soar_run_started", "soar_run_finished",
            "soar_step_started", "soar_step_finished"} <= set(specs)
    for name, func in specs.items():
        sig = inspect.signature(func)
        assert sig.return_annotation is not inspect.Signature.empty, name
        doc = inspect.getdoc(func) or ""
        assert "Called " in doc and ":return:" in doc, name
        for param in sig.parameters.values():
            assert param.annotation is not inspect.Parameter.empty, f"{name}({param.name})"
            assert f":param {param.name}:" in doc, f"{name}({param.name})"
