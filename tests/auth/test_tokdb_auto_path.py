"""`token_cache.backend: auto` in a front or worker: the store's database on PostgreSQL, unless
soar.yaml chose the file cache (a `path`, or `encrypt`) — then that choice stands."""

from __future__ import annotations

from runner.auth import dbcache
from runner.config import SoarConfig

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/soar_example"


def _config(**token_cache):
    return SoarConfig.model_validate({"token_cache": token_cache})


def test_a_worker_on_postgresql_shares_the_store_database():
    assert dbcache.wanted_url(_config(), PG, role="worker") == PG


def test_an_explicit_file_cache_stands_in_a_worker():
    assert dbcache.wanted_url(_config(path=":memory:"), PG, role="worker") is None
    assert dbcache.wanted_url(_config(path="/tmp/cache.json"), PG, role="worker") is None


def test_outside_a_front_or_worker_auto_is_the_file_cache():
    assert dbcache.wanted_url(_config(), PG) is None
