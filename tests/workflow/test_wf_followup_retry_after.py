"""A step's `retry:` honours a 429's Retry-After: it waits at least as long as the server asked
(not only its own, shorter, backoff), and fails at once — saying so — when the server asks for
longer than a step retry waits (300 s). Against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import time

import pytest
import wf_receiver


@pytest.fixture
def receiver(tmp_path, monkeypatch):
    monkeypatch.delenv("SOAR_OFFLINE", raising=False)  # the real network; the socket guard keeps it on loopback
    rec = wf_receiver.start(tmp_path)
    yield rec
    wf_receiver.stop(rec)


def _attempts(soar, run_id: str, step: str) -> list[dict]:
    shown = soar.json("runs", "show", run_id)
    return sorted((s for s in shown["steps"] if s["step_id"] == step), key=lambda s: s["attempt"])


def _at(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value)


def test_retry_waits_what_a_429_asks_not_only_its_backoff(soar, receiver):
    receiver.answer("/throttled", (429, {"Retry-After": "1"}, "slow down"), (200, {}, "ok"))
    pb = soar.write("throttled.yaml", f"""name: throttled
steps:
  - id: notify
    action: core.http_request
    retry: {{attempts: 3, backoff: 10ms, jitter: false}}
    with: {{method: POST, url: "{receiver.url('/throttled')}", json: {{text: hi}}}}
""")
    t0 = time.monotonic()
    doc = soar.json("run", str(pb))
    assert time.monotonic() - t0 >= 1.0
    assert doc["status"] == "succeeded"
    assert receiver.paths() == ["/throttled", "/throttled"]
    first, second = _attempts(soar, doc["run_id"], "notify")
    assert first["status"] == "failed" and "it asks to wait 1s" in first["error"]["message"]
    assert second["status"] == "succeeded"
    assert (_at(second["started_at"]) - _at(first["finished_at"])).total_seconds() >= 0.95


def test_a_retry_after_beyond_the_cap_fails_at_once_and_says_why(soar, receiver):
    receiver.answer("/later", (429, {"Retry-After": "3600"}, "come back in an hour"), (200, {}, "ok"))
    pb = soar.write("later.yaml", f"""name: later
steps:
  - id: notify
    action: core.http_request
    retry: {{attempts: 3, backoff: 10ms, jitter: false}}
    with: {{url: "{receiver.url('/later')}"}}
""")
    t0 = time.monotonic()
    result = soar("run", str(pb), "--json")
    assert time.monotonic() - t0 < 30
    assert result.exit_code == 1, result.output
    assert receiver.paths() == ["/later"]  # not tried again, and no hour-long wait
    (only,) = _attempts(soar, soar.json("runs", "list")[0]["run_id"], "notify")
    assert "it asks to wait 3600s" in only["error"]["message"]
    assert "longer than a step's `retry:` waits (300s)" in only["error"]["hint"]
