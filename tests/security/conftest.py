"""Shared by the security tests: the serve test helpers (tests/serve) and the webhook secret."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "serve"))

from serve_helpers import SECRET  # noqa: E402


@pytest.fixture(autouse=True)
def _hook_secret(monkeypatch):
    monkeypatch.setenv("SOAR_TEST_HOOK_SECRET", SECRET)
    monkeypatch.setenv("SOAR_TEST_API_TOKEN", "api-token-canary-51d0")
