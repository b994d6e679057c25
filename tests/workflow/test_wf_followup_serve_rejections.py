"""`soar serve` logs each refused webhook request (404, 401, 413, 400) at WARNING — method, path,
status, why (which credential failed), the client's address — never the body or a token; a
flood logs one line per route and status every 10 s, and the next line counts what was held back."""

from __future__ import annotations

import json
import logging

import httpx
from wf_log_helpers import HOOK_TOKEN, Served

HOOK = """
name: hunt-hook
on:
  - webhook: {path: /hunt, token: env:WF_HOOK_TOKEN}
tenants: [contoso]
steps:
  - id: noted
    action: core.set
    with: {got: "${{ trigger.payload }}"}
"""

TOKEN_CANARY = "wrong-token-canary-7f3a"
BODY_CANARY = "body-canary-19c4"


def _refused(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("WARNING soar.serve.http")]


def test_refused_webhooks_are_logged_without_their_body_or_token(tmp_path):
    served = Served(tmp_path, {"hook.yaml": HOOK})
    try:
        with httpx.Client(base_url=served.url, timeout=10) as http:
            for i in range(3):  # a scan of unknown paths: one line
                assert http.post(f'/hooks/nope {i}"', json={"k": BODY_CANARY}).status_code == 404
            wrong = http.post("/hooks/hunt", json={"k": BODY_CANARY},
                              headers={"Authorization": f"Bearer {TOKEN_CANARY}"})
            assert wrong.status_code == 401
            assert http.post("/hooks/hunt", json={"k": BODY_CANARY}).status_code == 401  # held back
            big = http.post("/hooks/hunt", content=(BODY_CANARY * 100_000).encode(),
                            headers={"Authorization": f"Bearer {HOOK_TOKEN}"})
            assert big.status_code == 413
            bad = http.post("/hooks/hunt", content=f"{{{BODY_CANARY}".encode(),
                            headers={"Authorization": f"Bearer {HOOK_TOKEN}"})
            assert bad.status_code == 400
            assert http.post("/hooks/hunt", json={"k": 1},
                             headers={"Authorization": f"Bearer {HOOK_TOKEN}"}).status_code == 202
    finally:
        err = served.stop()
    lines = _refused(err)
    assert lines == [
        'WARNING soar.serve.http: POST "/hooks/nope 0\\"" refused 404: no webhook at this path (client 127.0.0.1)',
        "WARNING soar.serve.http: POST /hooks/hunt refused 401: bearer token does not match (client 127.0.0.1)",
        f"WARNING soar.serve.http: POST /hooks/hunt refused 413: the body is larger than 1048576 bytes "
        "(client 127.0.0.1)",
        "WARNING soar.serve.http: POST /hooks/hunt refused 400: the body is not JSON soar accepts (client 127.0.0.1)",
    ], err
    assert TOKEN_CANARY not in err and HOOK_TOKEN not in err and BODY_CANARY not in err


def test_json_lines_carry_the_fields(tmp_path):
    served = Served(tmp_path, {"hook.yaml": HOOK}, "--log-format", "json")
    try:
        with httpx.Client(base_url=served.url, timeout=10) as http:
            assert http.post("/hooks/x y", json={}).status_code == 404
    finally:
        err = served.stop()
    docs = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    refused = [d for d in docs if d["logger"] == "soar.serve.http"]
    assert len(refused) == 1, err
    doc = refused[0]
    assert (doc["level"], doc["method"], doc["status"], doc["client"]) == ("WARNING", "POST", 404, "127.0.0.1")
    assert doc["path"] == "/hooks/x y" and doc["reason"] == "no webhook at this path"
    assert doc["message"] == 'POST "/hooks/x y" refused 404: no webhook at this path (client 127.0.0.1)'


def test_the_next_line_counts_what_the_window_held_back(caplog):
    from runner.serve.rejections import RejectionLog

    now = [100.0]
    rejections = RejectionLog(window=10.0, clock=lambda: now[0])
    caplog.set_level(logging.WARNING, logger="soar.serve.http")
    for _ in range(5):
        rejections.refused(route="/hooks/*", method="POST", path="/hooks/a", status=404,
                           reason="no webhook at this path", client="10.0.0.7")
    rejections.refused(route="/hooks/hunt", method="POST", path="/hooks/hunt", status=401, reason="no bearer token",
                       client="10.0.0.7")  # another route: its own line
    now[0] += 12
    rejections.refused(route="/hooks/*", method="POST", path="/hooks/b", status=404, reason="no webhook at this path",
                       client="10.0.0.8")
    assert [r.getMessage() for r in caplog.records] == [
        "POST /hooks/a refused 404: no webhook at this path (client 10.0.0.7)",
        "POST /hooks/hunt refused 401: no bearer token (client 10.0.0.7)",
        "POST /hooks/b refused 404: no webhook at this path (client 10.0.0.8); 4 more like it in the last 12s "
        "not logged",
    ]
