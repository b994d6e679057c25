"""TokenProvider.get_token's fast path: a fresh token in memory is handed out without
building the route or copying the token, and still honours roles, expiry and invalidate."""

from __future__ import annotations

import time

import pytest
from auth_helpers import run

from runner.errors import PermissionMissing
from runner.sim import SimulatedCloud


def _no_route(*_a, **_k):
    raise AssertionError("route() was built on a memory hit")


def test_memory_hit_skips_route_building_and_returns_one_cached_token(make_provider, monkeypatch):
    cloud = SimulatedCloud()
    provider = make_provider(cloud)
    first = run(provider.get_token("contoso", "mde"))
    second = run(provider.get_token("contoso", "mde"))  # fills the fast path
    monkeypatch.setattr(provider, "route", _no_route)

    third = run(provider.get_token("contoso", "mde"))

    assert third is second and third.source == "cache" and third.value == first.value
    assert provider.stats["memory_hits"] == 2
    assert cloud.total_token_requests() == 1


def test_fast_path_still_checks_roles(make_provider):
    provider = make_provider(SimulatedCloud())
    run(provider.get_token("contoso", "mde"))
    run(provider.get_token("contoso", "mde"))
    with pytest.raises(PermissionMissing, match="Not.A.Role"):
        run(provider.get_token("contoso", "mde", roles=("Not.A.Role",)))


def test_fast_path_entry_goes_stale_with_the_token(make_provider):
    offset = [0.0]

    def clock():
        return time.time() + offset[0]

    cloud = SimulatedCloud(token_lifetime=900, clock=clock)
    provider = make_provider(cloud, refresh_before=300, clock=clock)
    run(provider.get_token("contoso", "mde"))
    cached = run(provider.get_token("contoso", "mde"))
    offset[0] = 900 - 250  # inside the refresh window
    fresh = run(provider.get_token("contoso", "mde"))
    assert fresh.value != cached.value and cloud.total_token_requests() == 2


def test_invalidate_drops_the_fast_path_entry(make_provider):
    cloud = SimulatedCloud()
    provider = make_provider(cloud)
    run(provider.get_token("contoso", "mde"))
    cached = run(provider.get_token("contoso", "mde"))
    provider.invalidate("contoso", "mde")
    fresh = run(provider.get_token("contoso", "mde"))
    assert fresh.value != cached.value and cloud.total_token_requests() == 2
