"""Packages ship ``py.typed`` (PEP 561), and every package-data pattern matches a real file."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROJECTS = {".": "runner", "plugins/defender": "soar_defender", "plugins/example": "soar_example"}


@pytest.mark.parametrize("project, package", PROJECTS.items())
def test_py_typed_is_shipped_and_package_data_exists(project, package):
    base = ROOT / project
    data = tomllib.loads((base / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "py.typed" in data[package]
    assert (base / package / "py.typed").is_file()
    for pkg, patterns in data.items():
        for pattern in patterns:
            assert list((base / pkg.replace(".", "/")).glob(pattern)), f"{project}: {pkg}/{pattern} matches nothing"


def test_no_unused_markers():
    """Every marker declared in pyproject.toml is used by some test (``--strict-markers`` keeps
    the other direction)."""
    markers = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]["markers"]
    sources = "\n".join(p.read_text() for d in ("tests", "plugins") for p in (ROOT / d).rglob("*.py"))
    for marker in markers:
        name = marker.split(":", 1)[0]
        assert f"mark.{name}" in sources, f"marker '{name}' is declared but no test uses it"
