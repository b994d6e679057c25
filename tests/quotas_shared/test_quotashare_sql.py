"""The shared (PostgreSQL) quota bucket, in one process: its windows, pause, answer stamps,
pruning, how it waits, how it is switched on, and its table's migration."""

from __future__ import annotations

import asyncio
import time

import httpx
import psycopg
import pytest
from quotashare_helpers import most_in_any_window

from runner.apis import ApiClients, QuotaBucket
from runner.apis.quotas import quota_limits, shared_setting
from runner.apis.shared_quotas import SharedQuotaBucket, SharedQuotas, share_quotas
from runner.engine.context import TenantInfo
from runner.errors import ConfigError, StoreError
from runner.http import Network
from runner.store import RunStore

pytestmark = pytest.mark.postgres


def run(coro_fn):
    return asyncio.run(coro_fn())


async def times_of(bucket, n: int, *, latency: float = 0.0) -> list[float]:
    """Take ``n`` calls one after the other; the monotonic time each was granted."""
    out = []
    for _ in range(n):
        receipt: list = []
        await bucket.acquire(receipt=receipt)
        out.append(time.monotonic())
        if latency:
            await asyncio.sleep(latency)
        bucket.answered(receipt)
    return out


def test_a_budget_is_granted_up_to_its_limit_then_waits_for_the_window(pg_url):
    async def go():
        shared = SharedQuotas(pg_url)
        try:
            return await times_of(shared.bucket("t-limit", "mde", [(5, 0.5)]), 8)
        finally:
            await shared.aclose()

    times = run(go)
    assert times[4] - times[0] < 0.3            # the first five at once
    assert times[5] - times[0] >= 0.5 - 1e-3   # the sixth when the first leaves the window
    assert times[5] - times[0] < 0.9            # ... and not much later: it slept, it did not give up
    assert most_in_any_window(times, 0.5) == 5


def test_every_window_must_have_room(pg_url):
    async def go():
        shared = SharedQuotas(pg_url)
        try:
            return await times_of(shared.bucket("t-windows", "mde", [(3, 0.2), (5, 1.0)]), 7)
        finally:
            await shared.aclose()

    times = run(go)
    assert most_in_any_window(times, 0.2) <= 3
    assert most_in_any_window(times, 1.0) <= 5
    assert times[5] - times[0] >= 1.0 - 1e-3   # the sixth waits for the long window, not the short one
    assert times[3] - times[0] < 0.6


def test_two_limiters_with_their_own_connections_share_one_budget(pg_url):
    async def go():
        a, b = SharedQuotas(pg_url), SharedQuotas(pg_url)   # as two processes would
        try:
            one = a.bucket("t-two", "mde", [(6, 0.6)])
            two = b.bucket("t-two", "mde", [(6, 0.6)])
            first, second = await asyncio.gather(times_of(one, 6), times_of(two, 6))
            other = await times_of(b.bucket("t-other", "mde", [(6, 0.6)]), 6)  # another tenant: its own budget
            return first, second, other
        finally:
            await a.aclose()
            await b.aclose()

    first, second, other = run(go)
    both = first + second
    assert most_in_any_window(both, 0.6) == 6
    assert max(both) - min(both) >= 0.6 - 1e-3
    assert max(other) - min(other) < 0.4


def test_a_pause_set_by_one_limiter_holds_the_others_until_it_ends(pg_url):
    async def go():
        a, b = SharedQuotas(pg_url), SharedQuotas(pg_url)
        try:
            one = a.bucket("t-pause", "mde", [(100, 1.0)])
            two = b.bucket("t-pause", "mde", [(100, 1.0)])
            await one.acquire()
            one.pause(0.5)                       # a 429 with Retry-After: 0.5
            paused_at = time.monotonic()
            await a.aclose()                     # its write is done
            assert not two.paused()              # b has not looked yet
            await two.acquire()
            held = time.monotonic() - paused_at
            assert two.paused() is False
            one.pause(5.0)
            await a.aclose()
            started = time.monotonic()
            await one.acquire(after_pause=True)  # the caller that sat its own pause out goes on
            return held, time.monotonic() - started
        finally:
            await a.aclose()
            await b.aclose()

    held, after = run(go)
    assert 0.45 <= held < 1.0
    assert after < 0.5


def test_a_call_counts_from_when_its_answer_came(pg_url):
    async def go():
        shared = SharedQuotas(pg_url)
        try:
            bucket = shared.bucket("t-answer", "mde", [(1, 0.3)])
            receipt: list = []
            t0 = time.monotonic()
            await bucket.acquire(receipt=receipt)
            await asyncio.sleep(0.2)             # the request is in flight
            bucket.answered(receipt)
            answered = time.monotonic()
            await bucket.acquire()
            return t0, answered, time.monotonic()
        finally:
            await shared.aclose()

    t0, answered, t_next = run(go)
    assert t_next - answered >= 0.3 - 0.02
    assert t_next - t0 >= 0.5 - 0.02


def test_calls_older_than_the_longest_window_are_deleted(pg_url):
    async def go():
        shared = SharedQuotas(pg_url)
        try:
            bucket = shared.bucket("t-prune", "mde", [(50, 0.2)])
            await times_of(bucket, 10)
            await asyncio.sleep(0.25)
            await times_of(bucket, 1)
        finally:
            await shared.aclose()

    run(go)
    with psycopg.connect(pg_url) as conn:
        left = conn.execute("SELECT count(*) FROM quota_calls WHERE tenant = 't-prune'").fetchone()[0]
    assert left == 1


def test_a_wait_is_slept_from_the_rows_not_polled(pg_url, monkeypatch):
    takes = []
    original = SharedQuotas.run

    async def counting(self, doing, work):
        if doing.startswith("take"):
            takes.append(doing)
        return await original(self, doing, work)

    monkeypatch.setattr(SharedQuotas, "run", counting)

    async def go():
        shared = SharedQuotas(pg_url)
        try:
            bucket = shared.bucket("t-sleep", "mde", [(1, 0.4)])
            await asyncio.gather(*(bucket.acquire() for _ in range(3)))   # 0.8 s of waiting
        finally:
            await shared.aclose()

    run(go)
    assert len(takes) <= 5   # 3 grants + one look each for the two that waited (+1 for timer slack)


def test_callers_of_one_process_are_granted_in_the_order_they_asked(pg_url):
    async def go():
        shared = SharedQuotas(pg_url)
        order: list[int] = []
        try:
            bucket = shared.bucket("t-fifo", "mde", [(2, 0.15)])

            async def caller(i):
                await bucket.acquire()
                order.append(i)

            tasks = []
            for i in range(6):
                tasks.append(asyncio.create_task(caller(i)))
                await asyncio.sleep(0)
            await asyncio.gather(*tasks)
            return order
        finally:
            await shared.aclose()

    assert run(go) == list(range(6))


def test_the_api_client_pauses_every_process_on_a_429(pg_url):
    """Through ApiClients and ApiClient: a 429's Retry-After from one factory holds the other."""
    seen: list[tuple[str, float]] = []
    first = {"done": False}

    def handler(request):
        who = request.headers.get("x-who")
        seen.append((who, time.monotonic()))
        if who == "a" and not first["done"]:
            first["done"] = True
            return httpx.Response(429, headers={"Retry-After": "1"}, json={"error": {"code": "TooManyRequests"}})
        return httpx.Response(200, json={"value": []})

    quotas = {"shared": True, "mde": {"per_second": 50}}
    store = RunStore.open(pg_url)
    try:
        a = ApiClients(Network.simulated(handler), quotas=quotas)
        b = ApiClients(Network.simulated(handler), quotas=quotas)
        assert a.share_quotas(store) and b.share_quotas(pg_url)
    finally:
        store.close()
    tenant = TenantInfo("t-client")
    assert isinstance(a.bucket("t-client", "mde"), SharedQuotaBucket)

    async def go():
        first_call = asyncio.create_task(a.client(tenant, "mde").request("GET", "/api/machines",
                                                                          headers={"x-who": "a"}))
        await asyncio.sleep(0.2)  # a got its 429 and is sitting its Retry-After out
        started = time.monotonic()
        await b.client(tenant, "mde").request("GET", "/api/machines", headers={"x-who": "b"})
        waited = time.monotonic() - started
        await first_call
        await a.aclose()
        await b.aclose()
        return waited

    waited = run(go)
    assert sorted(w for w, _ in seen) == ["a", "a", "b"] and seen[0][0] == "a"
    assert 0.6 <= waited < 1.2                 # b waited the rest of a's Retry-After
    assert a.stats()["total_throttled"] == 1


def test_how_sharing_is_switched_on(pg_url, tmp_path):
    assert shared_setting({}) is None and shared_setting({"shared": "auto"}) is None
    assert shared_setting({"shared": True}) is True and shared_setting({"shared": False}) is False
    with pytest.raises(ConfigError, match="quotas.shared must be true, false or auto"):
        shared_setting({"shared": "yes please"})
    assert "shared" not in quota_limits({"shared": True}, registry={})

    def apis(**quotas):
        return ApiClients(Network.simulated(lambda r: httpx.Response(200)), quotas=quotas)

    sqlite = f"sqlite:///{tmp_path / 'soar.db'}"
    assert apis().share_quotas(pg_url) is False                       # auto, one process: its own buckets
    assert apis(shared=False).share_quotas(pg_url, role="worker") is False
    assert apis().share_quotas(sqlite, role="worker") is False        # auto on SQLite: nothing to share through
    with pytest.raises(ConfigError, match="needs a PostgreSQL store"):
        apis(shared=True).share_quotas(sqlite)
    worker = apis(mde={"per_minute": 100}, graph_incidents="off")
    assert worker.share_quotas(pg_url, role="worker") is True
    assert isinstance(worker.bucket("contoso", "mde"), SharedQuotaBucket)
    assert isinstance(worker.bucket("contoso", "graph_incidents"), QuotaBucket)  # off: nothing metered
    assert isinstance(apis().bucket("contoso", "mde"), QuotaBucket)              # the default stays in-process


def test_a_store_of_schema_version_3_gets_the_quota_tables(pg_url):
    from runner.store import tables as t

    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA old_store")
    url = f"{pg_url}?options=-csearch_path%3Dold_store"
    RunStore.open(url).close()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("DROP TABLE old_store.quota_calls, old_store.quota_buckets")
        conn.execute("UPDATE old_store.schema_version SET version = 3")
    RunStore.open(url).close()
    with psycopg.connect(pg_url) as conn:
        version = conn.execute("SELECT version FROM old_store.schema_version").fetchone()[0]
        tables = {r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'old_store'")}
    assert version == t.SCHEMA_VERSION >= 4
    assert {"quota_buckets", "quota_calls"} <= tables


def test_a_database_without_the_tables_says_to_upgrade_it(pg_url):
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS empty_store")

    async def go():
        shared = SharedQuotas(f"{pg_url}?options=-csearch_path%3Dempty_store")
        try:
            await shared.bucket("t", "mde", [(1, 1.0)]).acquire()
        finally:
            await shared.aclose()

    with pytest.raises(StoreError, match="quota_buckets") as caught:
        run(go)
    assert "soar db upgrade" in caught.value.hint


def test_soar_yaml_shared_true_makes_every_process_share(pg_url, tmp_path):
    """The composition root (every CLI command, the testing kit) honours ``quotas.shared: true``."""
    from runner.compose import build_services, close_services
    from runner.config import SoarConfig
    from runner.plugins import load_plugins

    def services(store_url, **quotas):
        config = SoarConfig.model_validate({"quotas": {"mde": {"per_minute": 100}, **quotas}})
        network = Network.simulated(lambda r: httpx.Response(200))
        return build_services(config, network, RunStore.open(store_url), load_plugins())

    shared = services(pg_url, shared=True)
    default = services(pg_url)
    try:
        assert isinstance(shared.apis.bucket("contoso", "mde"), SharedQuotaBucket)
        assert isinstance(default.apis.bucket("contoso", "mde"), QuotaBucket)   # one process: in memory
    finally:
        close_services(shared)
        close_services(default)
    with pytest.raises(ConfigError, match="needs a PostgreSQL store"):
        services(f"sqlite:///{tmp_path / 'soar.db'}", shared=True)


def test_quota_windows_follow_a_simulated_clock_only():
    simulated = Network.simulated(lambda r: httpx.Response(200))
    scaled = ApiClients(simulated, quotas={"time_scale": 0.05, "mde": {"per_minute": 100, "per_hour": 1500}})
    assert scaled.limits["mde"] == [(100, 3.0), (1500, 180.0)]
    with pytest.raises(ConfigError, match="only applies to a simulated cloud"):
        ApiClients(Network(real=True), quotas={"time_scale": 0.05})
    for wrong in (0, 2, "fast", True):
        with pytest.raises(ConfigError, match="quotas.time_scale must be a number"):
            ApiClients(simulated, quotas={"time_scale": wrong})
    assert ApiClients(Network(real=True), quotas={"time_scale": 1}).limits  # 1: nothing to refuse


def test_calls_granted_ahead_are_not_sent_during_a_pause(pg_url):
    async def go():
        shared = SharedQuotas(pg_url)
        try:
            bucket = shared.bucket("t-ahead", "mde", [(100, 1.0)])
            at: dict[int, float] = {}

            async def caller(i):
                await bucket.acquire()
                at[i] = time.monotonic()
                if i == 0:
                    bucket.pause(0.4)       # the first call's answer was a 429

            first = asyncio.create_task(bucket.acquire())   # its turn holds the others in the queue
            await asyncio.sleep(0)
            tasks = [asyncio.create_task(caller(i)) for i in range(4)]
            await first
            await asyncio.gather(*tasks)
            return at
        finally:
            await shared.aclose()

    at = run(go)
    assert all(at[i] - at[0] >= 0.4 - 0.02 for i in (1, 2, 3))   # granted with call 0, held by its pause
