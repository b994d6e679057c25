"""Fixtures for the KQL tests; the dataset itself is in kql_dataset.py."""

from __future__ import annotations

import pytest

from kql_dataset import make_tables
from soar_defender.kql import Table


@pytest.fixture(scope="session")
def tables() -> dict[str, Table]:
    return make_tables()
