"""Webhooks in process (ASGI): authentication, limits, JSON, dedup, durability, secrets; the inbox."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime, timedelta, timezone

import pytest
from serve_helpers import HOOK, SECRET, run_status, signed, until

from runner.errors import ConfigError
from runner.serve.webhooks import check_signature, dedup_key, hook_url_path, sign
from runner.secrets import Secret
from runner.store import RunStore
from runner.store.inbox import TriggerInbox


def test_signature_is_github_style_and_checked_exactly():
    body = b'{"a": 1}'
    secret = Secret("k3y-value", name="t")
    header = sign(secret, body)
    assert header.startswith("sha256=") and len(header) == 7 + 64
    assert check_signature(secret, body, header)
    assert check_signature(secret, body, header.upper().replace("SHA256=", "sha256="))
    assert not check_signature(secret, body + b" ", header)
    assert not check_signature(secret, body, header[:-1] + ("0" if header[-1] != "0" else "1"))
    assert not check_signature(secret, body, None)
    assert not check_signature(Secret("other-key"), body, header)


def test_dedup_key_from_header_or_payload_path():
    headers = {"x-github-delivery": "d-1"}
    payload = {"delivery": {"id": 42}, "items": [{"id": "a"}]}
    assert dedup_key("header:X-GitHub-Delivery", headers, payload) == "d-1"
    assert dedup_key("delivery.id", headers, payload) == "42"
    assert dedup_key("items.0.id", headers, payload) == "a"
    assert dedup_key("delivery.missing", headers, payload) is None
    assert dedup_key(None, headers, payload) is None
    assert hook_url_path("/phish") == "/hooks/phish" and hook_url_path("/hooks/x") == "/hooks/x"


def test_inbox_dedup_window_and_unstarted(tmp_path):
    store = RunStore.open(f"sqlite:///{tmp_path}/s.db")
    inbox = TriggerInbox(store)
    t0 = datetime.now(timezone.utc)
    first = inbox.accept("pb", "webhook", {"n": 1}, dedup_key="k", dedup_window=60, now=t0)
    again = inbox.accept("pb", "webhook", {"n": 2}, dedup_key="k", dedup_window=60, now=t0 + timedelta(seconds=59))
    other = inbox.accept("other", "webhook", {"n": 3}, dedup_key="k", dedup_window=60, now=t0)
    later = inbox.accept("pb", "webhook", {"n": 4}, dedup_key="k", dedup_window=60, now=t0 + timedelta(seconds=61))
    assert not first.duplicate and again.duplicate and not other.duplicate and not later.duplicate
    assert (again.event_id, again.run_id) == (first.event_id, first.run_id)
    assert later.run_id != first.run_id
    assert inbox.count() == 3
    assert [e.payload["n"] for e in inbox.unstarted()] == [1, 3, 4]
    store.create_run(playbook_name="pb", playbook_path=None, playbook_text="x", inputs={}, run_id=first.run_id)
    assert [e.payload["n"] for e in inbox.unstarted()] == [3, 4]  # a run row means started
    store.close()


def test_webhook_answers_in_order_and_starts_exactly_one_run(harness):
    async def main():
        harness.write("hook.yaml", HOOK)
        service = await harness.start(body_limit=2048)
        async with harness.client() as http:
            body = json.dumps({"delivery": {"id": "d-1"}, "subject": "phish"}).encode()
            assert (await http.post("/hooks/nope", content=body, headers=signed(body))).status_code == 404
            big = b'{"x": "' + b"a" * 3000 + b'"}'
            r = await http.post("/hooks/phish", content=big, headers=signed(big))
            assert r.status_code == 413
            r = await http.post("/hooks/phish", content=body, headers=signed(body, "wrong-secret"))
            assert r.status_code == 401 and "signature" in r.json()["error"]
            assert (await http.post("/hooks/phish", content=body)).status_code == 401
            bad = b'{"not json'
            r = await http.post("/hooks/phish", content=bad, headers=signed(bad))
            assert r.status_code == 400 and "not JSON" in r.json()["error"]
            assert service.inbox.count() == 0  # nothing refused was recorded
            r = await http.post("/hooks/phish", content=body, headers=signed(body))
            assert r.status_code == 202, r.text
            doc = r.json()
            event = service.inbox.get(doc["event_id"])
            assert event is not None and event.run_id == doc["run_id"]  # recorded before the answer
            dup = await http.post("/hooks/phish", content=body, headers=signed(body))
            assert dup.status_code == 200 and dup.json()["run_id"] == doc["run_id"]
            assert dup.json()["status"] == "duplicate"
        store = service.store
        await until(lambda: run_status(store, doc["run_id"]) == "succeeded", what="the webhook run")
        run = store.get_run(doc["run_id"])
        assert run.outputs == {"got": {"delivery": {"id": "d-1"}, "subject": "phish"}, "type": "webhook"}
        assert run.trigger["event_id"] == doc["event_id"]
        assert len(store.list_runs(limit=None)) == 1
        await harness.stop()

    asyncio.run(main())


def test_accepted_event_survives_a_crash_before_its_run_starts(harness):
    async def main():
        harness.write("hook.yaml", HOOK)
        service = await harness.start()
        service.dispatcher.submit = lambda event: None  # the process "dies" right after the 202
        async with harness.client() as http:
            body = b'{"delivery": {"id": "x"}}'
            r = await http.post("/hooks/phish", content=body, headers=signed(body))
        assert r.status_code == 202
        run_id = r.json()["run_id"]
        await harness.stop()
        assert run_status(RunStore.open(harness.url), run_id) is None
        service = await harness.start()  # the restart finds the event and starts its run
        assert harness.summary["started"] == 1
        await until(lambda: run_status(service.store, run_id) == "succeeded", what="the recovered run")
        await harness.stop()

    asyncio.run(main())


def test_bearer_token_webhook_and_secrets_never_leak(harness, caplog, tmp_path):
    async def main():
        harness.write("tok.yaml", """
name: tokened
on:
  - webhook: {path: /hooks/alerts, token: env:SOAR_TEST_HOOK_SECRET}
steps:
  - id: a
    action: core.log
    with: {message: "got ${{ trigger.payload.n }}"}
""")
        service = await harness.start()
        async with harness.client() as http:
            body = b'{"n": 1}'
            r = await http.post("/hooks/alerts", content=body, headers={"Authorization": "Bearer nope"})
            assert r.status_code == 401 and SECRET not in r.text
            r = await http.post("/hooks/alerts", content=body, headers={"Authorization": f"Bearer {SECRET}"})
            assert r.status_code == 202
        await until(lambda: run_status(service.store, r.json()["run_id"]) == "succeeded")
        await harness.stop()

    with caplog.at_level(logging.DEBUG):
        asyncio.run(main())
    assert SECRET not in caplog.text
    for f in tmp_path.glob("soar.db*"):
        assert SECRET.encode() not in f.read_bytes()


def test_unprotected_or_conflicting_webhooks_are_refused_with_a_location(harness):
    async def main():
        harness.write("a.yaml", HOOK)
        harness.write("b.yaml", HOOK.replace("name: hooked", "name: second"))
        harness.write("c.yaml", "name: open\non:\n  - webhook: {path: /open}\nsteps:\n  - {id: a, action: core.log, with: {message: x}}\n")
        harness.write("d.yaml", HOOK.replace("name: hooked", "name: unset").replace(
            "/phish", "/unset").replace("SOAR_TEST_HOOK_SECRET", "SOAR_TEST_NOT_SET"))
        service = await harness.start()
        assert sorted(harness.summary["playbooks"]) == ["hooked"]
        text = {k.split("/")[-1]: str(v) for k, v in service.catalog.errors.items()}
        assert "already used by playbook 'hooked'" in text["b.yaml"] and "b.yaml:4:" in text["b.yaml"]
        assert "neither `secret` nor `token`" in text["c.yaml"] and "c.yaml:3:" in text["c.yaml"]
        assert "'env:SOAR_TEST_NOT_SET' is not set" in text["d.yaml"] and "d.yaml:4:" in text["d.yaml"]
        await harness.stop()

    asyncio.run(main())


def test_required_input_without_default_is_refused_for_a_triggered_playbook(harness):
    harness.write("x.yaml", "name: needs\non:\n  - every: 1h\ninputs:\n  who: {type: string}\n"
                            "steps:\n  - {id: a, action: core.log, with: {message: '${{ inputs.who }}'}}\n")

    async def main():
        service = await harness.start()
        change = service.catalog.scan(force=True)
        (error,) = change.rejected.values()
        assert isinstance(error, ConfigError) and "x.yaml:5:" in str(error) and "no default" in str(error)
        await harness.stop()

    asyncio.run(main())
