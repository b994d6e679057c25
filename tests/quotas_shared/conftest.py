"""Fixtures of the shared quota tests (quotashare_helpers.py)."""

from __future__ import annotations

import pytest
from quotashare_helpers import fresh_database


@pytest.fixture(scope="module")
def pg_url():
    """A fresh PostgreSQL database for the test module, with the run store's schema."""
    with fresh_database() as url:
        yield url
