from __future__ import annotations

import pytest
from console_harness import HOOK_SECRET, Console


@pytest.fixture(autouse=True)
def _hook_secret(monkeypatch):
    monkeypatch.setenv("SOAR_CONSOLE_HOOK_SECRET", HOOK_SECRET)


@pytest.fixture
def console(tmp_path) -> Console:
    return Console(tmp_path)
