"""Fixtures: a simulated cloud with a frozen Defender clock, and a client holding real tokens."""

from __future__ import annotations

import pytest

from runner.sim import SimulatedCloud
from simdefender_helpers import START, Api


@pytest.fixture
def cloud() -> SimulatedCloud:
    return SimulatedCloud(defender={"time_scale": 0, "start": START})


@pytest.fixture
def api(cloud: SimulatedCloud) -> Api:
    client = Api(cloud)
    yield client
    client.close()
