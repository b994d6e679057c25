"""The token cache shared through the store's database, across real processes.

Three worker processes (tokdb_worker.py: a TokenProvider each, marked as a worker of the
deployment, on one fresh PostgreSQL database) against one simulated cloud served on loopback,
whose token requests are read from its ``/_sim/stats``. The tests run in file order on the same
processes: the first starts from an empty cache.
"""

from __future__ import annotations

import hashlib
import re

import pytest
from auth_helpers import MDE_HOST, run
from cryptography.fernet import Fernet
from tokdb_helpers import (
    KEY_ENV,
    SECRET_ENV,
    ShiftedClock,
    Worker,
    ask_together,
    fresh_database,
    served,
    stop_all,
    table_text,
    token_requests,
    write_config,
)

from runner.auth.dbcache import DatabaseTokenCache, row_key
from runner.sim import SimulatedCloud

TENANTS = [f"tenant-{i:02d}" for i in range(1, 21)]
JWT = re.compile(r"eyJ[A-Za-z0-9_-]+\.eyJ")  # a token's header and payload (base64url JSON)
AHEAD = 3400  # seconds: a token issued now (lifetime 3599 s, refresh 300 s before expiry) is stale then


@pytest.fixture(scope="module")
def sim():
    clock = ShiftedClock()
    cloud = SimulatedCloud(tenants=20, clock=clock)
    with served(cloud) as url:
        yield cloud, url, clock


class Deployment:
    def __init__(self, workers, store, key, secret, directory, config) -> None:
        self.workers, self.store, self.key, self.secret = workers, store, key, secret
        self.directory, self.config = directory, config
        self.offset = 0.0


@pytest.fixture(scope="module")
def deployment(sim, tmp_path_factory):
    cloud, url, _clock = sim
    directory = tmp_path_factory.mktemp("tokdb")
    with fresh_database() as store:
        config = write_config(directory, cloud, store=store)  # token_cache.backend: auto
        key = Fernet.generate_key().decode()
        env = {SECRET_ENV: cloud.app.secret.reveal(), KEY_ENV: key}
        workers = [Worker(directory, f"worker-{i}", config, url, store, env) for i in range(3)]
        try:
            for w in workers:
                assert w.line() == "ready", w.stderr()
            yield Deployment(workers, store, key, cloud.app.secret.reveal(), directory, config)
        finally:
            stop_all(workers)


@pytest.mark.postgres
def test_twenty_tenants_across_three_processes_are_twenty_token_requests(sim, deployment):
    cloud, url, clock = sim
    before = token_requests(url)
    answers = ask_together(deployment.workers, TENANTS)
    assert token_requests(url) - before == 20
    assert sum(a["requests"] for a in answers) == 20  # each request was made by one of them
    first = answers[0]["tokens"]
    assert set(first) == set(TENANTS)
    assert all(a["tokens"] == first for a in answers)  # the same token per tenant everywhere

    # an hour later every token is stale at once: each is refreshed once, by one process
    clock.offset = deployment.offset = AHEAD
    before = token_requests(url)
    answers = ask_together(deployment.workers, TENANTS, offset=AHEAD)
    assert token_requests(url) - before == 20
    assert sum(a["requests"] for a in answers) == 40
    refreshed = answers[0]["tokens"]
    assert all(a["tokens"] == refreshed for a in answers)
    assert all(refreshed[t] != first[t] for t in TENANTS)


@pytest.mark.postgres
def test_tokens_at_rest_need_the_key(sim, deployment):
    cloud, url, _clock = sim
    before = token_requests(url)
    answers = ask_together(deployment.workers, TENANTS, offset=deployment.offset)
    assert token_requests(url) == before  # all cached
    rows = table_text(deployment.store)
    assert len(rows) == 20
    assert not any(JWT.search(r) for r in rows)  # no token (header.payload) in clear
    assert not any(deployment.secret in r for r in rows)
    cache = DatabaseTokenCache(deployment.store, Fernet(deployment.key.encode()))
    try:
        tenant = cloud.tenant("tenant-01")
        row = cache.read(row_key(cloud.app.client_id, tenant.id, f"https://{MDE_HOST}/.default"))
    finally:
        cache.close()
    assert row is not None  # with the key, the row is the very token the processes hand out
    assert hashlib.sha256(row.value.encode()).hexdigest()[:16] == answers[0]["tokens"]["tenant-01"]
    assert not any(row.value in r or row.value.split(".")[1] in r for r in rows)
    for w in deployment.workers:  # their debug logs show neither the key nor any token
        err = w.stderr()
        assert "token for tenant-01/mde" in err  # it did log
        assert deployment.key not in err and not JWT.search(err) and deployment.secret not in err


@pytest.mark.postgres
def test_a_process_with_another_key_warns_and_fetches_again(sim, deployment):
    cloud, url, _clock = sim
    other_key = Fernet.generate_key().decode()
    env = {SECRET_ENV: deployment.secret, KEY_ENV: other_key}
    stranger = Worker(deployment.directory, "other-key", deployment.config, url, deployment.store, env)
    try:
        assert stranger.line() == "ready", stranger.stderr()
        before = token_requests(url)
        (answer,) = ask_together([stranger], ["tenant-01", "tenant-02"], offset=deployment.offset)
        assert token_requests(url) - before == 2  # it could not read the rows: it asked again
        assert answer["unreadable"] >= 2
    finally:
        stranger.stop()
    err = stranger.stderr()
    assert stranger.proc.returncode == 0, err
    assert "cannot be decrypted with token_cache.key" in err and "Traceback" not in err
    assert other_key not in err and deployment.key not in err and not JWT.search(err)


def test_three_processes_on_one_sqlite_store(sim, tmp_path):
    cloud, url, clock = sim
    store = f"sqlite:///{tmp_path}/soar.db"
    config = write_config(tmp_path, cloud, store=store, backend="database")
    env = {SECRET_ENV: cloud.app.secret.reveal(), KEY_ENV: Fernet.generate_key().decode()}
    workers = [Worker(tmp_path, f"sqlite-{i}", config, url, store, env) for i in range(3)]
    try:
        for w in workers:
            assert w.line() == "ready", w.stderr()
        tenants = TENANTS[:6]
        before = token_requests(url)
        answers = ask_together(workers, tenants, offset=clock.offset)
        assert token_requests(url) - before == 6
        assert all(a["tokens"] == answers[0]["tokens"] for a in answers)
        rows = table_text(store)
        assert len(rows) == 6 and not any(JWT.search(r) for r in rows)
    finally:
        stop_all(workers)


@pytest.mark.postgres
def test_a_refused_token_request_lets_go_of_the_row(sim, deployment, monkeypatch):
    from runner.auth import TokenProvider
    from runner.config import load_config
    from runner.errors import AuthError
    from runner.http import Network

    cloud, url, clock = sim
    monkeypatch.setenv(KEY_ENV, deployment.key)
    as_worker = {"store_url": deployment.store, "role": "worker"}
    wrong = TokenProvider(load_config(deployment.config), Network.loopback(url), clock=clock, **as_worker)
    right = TokenProvider(load_config(deployment.config), Network.loopback(url), clock=clock, **as_worker)
    try:
        monkeypatch.setenv(SECRET_ENV, "not-the-secret")  # read on the first request
        with pytest.raises(AuthError, match="tenant-19"):
            run(wrong.get_token("tenant-19", "graph"))  # no row yet for Graph: it asks, and is refused
        monkeypatch.setenv(SECRET_ENV, deployment.secret)
        token = run(right.get_token("tenant-19", "graph"))  # the row's lock was released: no wait
        assert token.source == "identity_provider"
    finally:
        wrong.close()
        right.close()
