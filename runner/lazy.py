"""Lazy re-exports for package ``__init__`` modules: a name is imported on first use.

``__getattr__, __dir__ = lazy_exports(__name__, __all__, {"Name": "module.path", ...})`` in a
package's ``__init__``; a value in the table equal to the attribute's own dotted path (e.g.
``"errors": "runner.errors"``) exports the module itself.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any, Callable


def lazy_exports(package: str, names: list[str], where: dict[str, str]) -> tuple[Callable, Callable]:
    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        imported = importlib.import_module(module)
        value = imported if module == f"{package}.{name}" else getattr(imported, name)
        setattr(sys.modules[package], name, value)  # the next look-up is a plain attribute
        return value

    def __dir__() -> list[str]:
        return sorted(names)

    return __getattr__, __dir__
