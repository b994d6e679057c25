"""Finding 9: a validly signed webhook replayed three times starts one run, even when the playbook
sets no `dedup_key`: the same body (per hook) inside the window is a duplicate answering the first
run's id — also after a restart of serve (the key is in the store). `dedup_window: 0` turns it
off; a different body (a fresh timestamp) is a new event."""

from __future__ import annotations

import asyncio
import json

import pytest
from serve_helpers import Harness, run_status, signed, until

NO_KEY = """
name: replayable
on:
  - webhook: {{path: /alert, secret: env:SOAR_TEST_HOOK_SECRET{extra}}}
steps:
  - id: echo
    action: core.set
    with: {{got: "${{{{ trigger.payload }}}}"}}
"""


async def _post_three_times(harness: Harness, body: bytes) -> list:
    async with harness.client() as http:
        return [await http.post("/hooks/alert", content=body, headers=signed(body)) for _ in range(3)]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/soar.db"
    return request.getfixturevalue("fresh_pg_database")[1]


def test_a_replayed_signed_webhook_starts_one_run(tmp_path, store_url):
    async def main():
        harness = Harness(tmp_path)
        harness.url = store_url
        harness.write("hook.yaml", NO_KEY.format(extra=""))
        service = await harness.start()
        body = json.dumps({"alert": "disk full", "host": "db1"}).encode()
        first, *replays = await _post_three_times(harness, body)
        assert first.status_code == 202
        assert [r.status_code for r in replays] == [200, 200], "a replay started a new run"
        assert first.json()["duplicate"] is False
        for replay in replays:
            doc = replay.json()
            assert doc["duplicate"] is True and doc["run_id"] == first.json()["run_id"]
        await until(lambda: run_status(service.store, first.json()["run_id"]) == "succeeded")
        # a different body (say, a fresh timestamp in it) is a new delivery
        other = json.dumps({"alert": "disk full", "host": "db1", "ts": "2026-01-01T00:00:01Z"}).encode()
        async with harness.client() as http:
            assert (await http.post("/hooks/alert", content=other, headers=signed(other))).status_code == 202
        assert service.inbox.count() == 2
        await harness.stop()
        # the key is in the store: after a restart the replay is still a duplicate
        service = await harness.start()
        again = (await _post_three_times(harness, body))[0]
        assert again.status_code == 200 and again.json()["run_id"] == first.json()["run_id"]
        assert len(service.store.list_runs(limit=None)) == 2
        await harness.stop()

    asyncio.run(main())


def test_dedup_window_zero_turns_it_off(tmp_path):
    async def main():
        harness = Harness(tmp_path)
        harness.write("hook.yaml", NO_KEY.format(extra=", dedup_window: 0"))
        service = await harness.start()
        answers = await _post_three_times(harness, b'{"alert": "again"}')
        assert [a.status_code for a in answers] == [202, 202, 202]
        assert len({a.json()["run_id"] for a in answers}) == 3
        await until(lambda: len(service.store.list_runs(limit=None)) == 3)
        await harness.stop()

    asyncio.run(main())
