from __future__ import annotations

import pytest
from serve_helpers import SECRET, Harness


@pytest.fixture(autouse=True)
def _hook_secret(monkeypatch):
    monkeypatch.setenv("SOAR_TEST_HOOK_SECRET", SECRET)
    monkeypatch.setenv("SOAR_TEST_API_TOKEN", "api-token-canary-51d0")


@pytest.fixture
def harness(tmp_path) -> Harness:
    return Harness(tmp_path)
