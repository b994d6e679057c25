"""`soar events list` / `soar events replay EVENT`: a webhook `soar serve` recorded is run again,
with the same payload, as a new run recorded as a replay — also once the inbox has pruned the
event, and against the playbook as it is now (the fix for what made the first run fail)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import httpx
import pytest
from click.testing import CliRunner

from runner.cli import main
from runner.serve.webhooks import sign

SECRET = "wf-events-secret"
BROKEN = """\
name: contain
tenants: [contoso]
on:
  - webhook: {path: /contain, secret: env:WF_EVENTS_SECRET, dedup_window: 0}
steps:
  - id: note
    action: core.log
    with: {message: "contain ${{ trigger.payload.machine_id }}"}
outputs:
  machine: "${{ trigger.payload.machine_id }}"
"""
FIXED = BROKEN.replace("machine_id", "machineId")
PAYLOAD = {"machineId": "4f6a1c0e9d", "reporter": "alice"}


def soar(store: str, *args: str):
    return CliRunner().invoke(main, ["--store", store, *args])


@pytest.fixture
def recorded(tmp_path):
    """`soar serve --simulate` received one webhook, whose run failed; serve is stopped again."""
    books = tmp_path / "books"
    books.mkdir()
    (books / "contain.yaml").write_text(BROKEN)
    store = f"sqlite:///{tmp_path}/soar.db"
    env = {**os.environ, "WF_EVENTS_SECRET": SECRET}
    proc = subprocess.Popen([sys.executable, "-m", "runner.cli", "--store", store, "serve", str(books),
                             "--simulate", "--port", "0", "--watch-interval", "off"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    try:
        line = proc.stdout.readline()
        assert line, proc.stderr.read()
        url = json.loads(line)["url"]
        body = json.dumps(PAYLOAD).encode()
        answer = httpx.post(f"{url}/hooks/contain", content=body,
                            headers={"X-Hub-Signature-256": sign(SECRET, body), "content-type": "application/json"})
        assert answer.status_code == 202, answer.text
        accepted = answer.json()
        deadline = time.monotonic() + 30
        while True:
            runs = soar(store, "runs", "list", "--json")
            done = [r for r in json.loads(runs.stdout) if r["run_id"] == accepted["run_id"] and r["status"] == "failed"]
            if done:
                break
            assert time.monotonic() < deadline, runs.output
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    return store, books / "contain.yaml", accepted


def test_list_shows_the_event_with_its_run(recorded):
    store, _pb, accepted = recorded
    result = soar(store, "events", "list", "--json")
    assert result.exit_code == 0, result.output
    [event] = json.loads(result.stdout)["events"]
    assert event["event_id"] == accepted["event_id"] and event["run_id"] == accepted["run_id"]
    assert event["playbook"] == "contain" and event["source"] == "webhook" and event["key"] == "/hooks/contain"
    assert event["payload"] == PAYLOAD and event["run_status"] == "failed" and event["replay_of"] is None
    table = soar(store, "events", "list")
    [row] = [line for line in table.stdout.splitlines() if accepted["event_id"] in line]
    assert accepted["run_id"] in row and "failed" in row and "contain" in row


def test_replay_runs_the_fixed_playbook_with_the_same_payload(recorded):
    store, pb, accepted = recorded
    pb.write_text(FIXED)
    result = soar(store, "events", "replay", accepted["event_id"], "--simulate", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["status"] == "succeeded" and doc["outputs"] == {"machine": "4f6a1c0e9d"}
    shown = json.loads(soar(store, "runs", "show", doc["run_id"], "--json").stdout)
    trigger = shown["trigger"]
    assert trigger["type"] == "webhook" and trigger["payload"] == PAYLOAD and trigger["key"] == "/hooks/contain"
    assert trigger["replay_of"] == accepted["event_id"] and trigger["replay_of_run"] == accepted["run_id"]
    assert trigger["event_id"] is None
    listed = json.loads(soar(store, "events", "list", "--json").stdout)["events"]
    assert [(e["run_id"], e["replay_of"]) for e in listed] == [(doc["run_id"], accepted["event_id"]),
                                                                (accepted["run_id"], None)]
    # by the run id the event started, too (and a replay of the replay names the first event)
    again = soar(store, "events", "replay", doc["run_id"], "--simulate", "--json")
    assert again.exit_code == 0, again.output
    again_trigger = json.loads(soar(store, "runs", "show", json.loads(again.stdout)["run_id"], "--json").stdout)["trigger"]
    assert again_trigger["replay_of"] == accepted["event_id"] and again_trigger["replay_of_run"] == doc["run_id"]


def test_replay_after_the_inbox_pruned_the_event(recorded):
    from runner.store import RunStore
    from runner.store.inbox import TriggerInbox

    store_url, pb, accepted = recorded
    store = RunStore.open(store_url)
    try:
        inbox = TriggerInbox(store)
        assert inbox.prune() == 1 and inbox.get(accepted["event_id"]) is None
    finally:
        store.close()
    pb.write_text(FIXED)
    result = soar(store_url, "events", "replay", accepted["event_id"], "--simulate")
    assert result.exit_code == 0, result.output
    assert "succeeded" in result.stdout


def test_replay_errors_say_what_to_do(recorded, tmp_path):
    store, pb, accepted = recorded
    unknown = soar(store, "events", "replay", "e-nosuchevent", "--simulate")
    assert unknown.exit_code == 2 and "no recorded event 'e-nosuchevent'" in unknown.output
    pb.unlink()
    gone = soar(store, "events", "replay", accepted["event_id"], "--simulate")
    assert gone.exit_code == 2 and "--playbook FILE" in gone.output
    other = tmp_path / "other.yaml"
    other.write_text(FIXED)
    moved = soar(store, "events", "replay", accepted["event_id"], "--simulate", "--playbook", str(other))
    assert moved.exit_code == 0, moved.output
    manual = soar(store, "run", str(other), "--simulate", "--json")
    manual_run = json.loads(manual.stdout)["run_id"]
    refused = soar(store, "events", "replay", manual_run, "--simulate")
    assert refused.exit_code == 2 and "was not started by a trigger event" in refused.output
