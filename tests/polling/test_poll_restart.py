"""The cursor and the processed keys survive a restart (a new store and Poller on the same
database), and a crash between submit and the save repeats nothing."""

from __future__ import annotations

import pytest
from poll_helpers import MINUTE, PollEnv

from runner import Services
from runner.store import RunStore


def _restarted(env: PollEnv) -> tuple[RunStore, Services]:
    store = RunStore.open(env.store_url)
    return store, Services(plugins=None, store=store, network=env.network, config=env.config,
                           auth=env.auth, apis=env.apis)


def test_a_new_poller_on_the_same_store_continues_where_the_last_stopped(poll_store_url):
    env = PollEnv(poll_store_url)
    try:
        env.poll(env.poller(page_size=3))
        env.sim.advance(5 * MINUTE)
        first = [env.sim.add_incident("contoso", last_update=env.now() - k * MINUTE) for k in range(4)]
        assert env.poll(env.poller(page_size=3)).submitted == 4
        env.store.close()

        store, services = _restarted(env)  # the process restarts: new store, new Poller
        try:
            poller = env.poller(services=services, page_size=3)
            env.sim.advance(2 * MINUTE)
            late = env.sim.add_incident("contoso", last_update=env.now() - 30 * MINUTE)
            env.sim.touch_incident("contoso", first[0]["incidentId"], status="Resolved")
            result = env.poll(poller)
            assert (result.submitted, result.duplicates) == (2, 3)  # the late one and the update
            assert env.inbox.rejected == 0 and max(env.inbox.versions().values()) == 1
            assert str(late["incidentId"]) in {i for i, _t in env.inbox.versions()}
        finally:
            store.close()
    finally:
        env.auth.close()


def test_crash_after_submit_before_save_is_caught_by_the_inbox_dedup(env, monkeypatch):
    poller = env.poller()
    env.poll(poller)
    env.sim.advance(MINUTE)
    for _ in range(3):
        env.sim.add_incident("contoso")

    def crash(*_a, **_k):
        raise SystemExit("killed")

    monkeypatch.setattr(poller.cursors, "save", crash)
    with pytest.raises(SystemExit):
        env.poll(poller)
    assert len(env.inbox.events) == 3  # submitted, but the cursor and keys were never saved

    store, services = _restarted(env)
    try:
        result = env.poll(env.poller(services=services))
        assert (result.submitted, result.duplicates, result.events) == (0, 3, 0)
        assert env.inbox.rejected == 3 and len(env.inbox.events) == 3
    finally:
        store.close()


def test_submit_failing_midway_keeps_what_was_submitted(env):
    poller = env.poller()
    env.poll(poller)
    env.sim.advance(MINUTE)
    for k in range(3):
        env.sim.add_incident("contoso", last_update=env.now() - k)
    env.inbox.fail_after = 1
    with pytest.raises(RuntimeError, match="inbox unavailable"):
        env.poll(poller)
    env.inbox.fail_after = None
    result = env.poll(poller)
    assert (result.submitted, result.duplicates) == (2, 1)
    assert env.inbox.rejected == 0 and len(env.inbox.versions()) == 3
