"""Shared fixtures for the auth tests: a simulated cloud, providers on it, a fake Defender API."""

from __future__ import annotations

from typing import Any, Callable

import pytest
from auth_helpers import MDE_HOST, FakeApi

from runner.auth import TokenProvider
from runner.auth.cache import MemoryCacheStore
from runner.sim import SimulatedCloud


@pytest.fixture
def cloud() -> SimulatedCloud:
    return SimulatedCloud()


@pytest.fixture
def fake_mde(cloud: SimulatedCloud) -> FakeApi:
    api = FakeApi(cloud)
    cloud.mount(MDE_HOST, api)
    return api


@pytest.fixture
def make_provider() -> Callable[..., TokenProvider]:
    made: list[TokenProvider] = []

    def make(cloud: SimulatedCloud, config: Any = None, **kw: Any) -> TokenProvider:
        if "cache_path" not in kw and "cache_store" not in kw:
            kw["cache_store"] = MemoryCacheStore()
        provider = TokenProvider(config or cloud.demo_config(), cloud.network(), **kw)
        made.append(provider)
        return provider

    yield make
    for p in made:
        p.close()
