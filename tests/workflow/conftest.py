"""The SOC engineer's daily workflow through `soar`: approvals that say what they ask, runs that
resume from the store alone, run control. Every test drives the CLI (CliRunner, or a `soar`
subprocess) against a store of its own and the simulated cloud."""

from __future__ import annotations

import secrets

import pytest
from wf_helpers import PG_ADMIN, Soar


@pytest.fixture
def soar(tmp_path) -> Soar:
    return Soar(tmp_path)


@pytest.fixture
def sim(monkeypatch):
    """The one SimulatedCloud every in-process `--simulate` command of this test gets (state kept
    between `soar run` and `soar approve`), its clock 600x so machine actions finish at once."""
    import runner.sim

    cloud = runner.sim.SimulatedCloud(defender={"time_scale": 600})
    monkeypatch.setattr(runner.sim, "SimulatedCloud", lambda *a, **k: cloud)
    return cloud


@pytest.fixture
def pg_store():
    """A fresh PostgreSQL database of this test's own: its store URL (dropped afterwards)."""
    import psycopg

    name = f"soar_wf_{secrets.token_hex(6)}"
    admin_url = PG_ADMIN.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = admin_url.rsplit("/", 1)[0]
    try:
        yield f"{base.replace('postgresql://', 'postgresql+psycopg://', 1)}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
