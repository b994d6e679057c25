"""Under a real `soar serve` process (no sign-in configured: the console on loopback), a webhook
starts a run that stops at an approval gate; the Teams card, the Slack message and the email
each carry links that open that approval in the console — followed here, over HTTP."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import time

import httpx

import notify_receivers as rx

HOOK_SECRET = "notify-hook-secret-7d1a"
GATED = """
name: contain-host
on:
  - webhook: {path: /contain, secret: env:NOTIFY_TEST_HOOK_SECRET}
steps:
  - id: target
    action: core.set
    with: {host: "${{ trigger.payload.host }}"}
  - id: contain
    name: Contain ${{ steps.target.output.host }}
    action: core.log
    approval: {message: "Contain ${{ steps.target.output.host }}?"}
    with: {message: "contained ${{ steps.target.output.host }}"}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(cond, timeout=60.0, what="condition"):
    deadline = time.monotonic() + timeout
    while not (value := cond()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
    return value


def test_every_channel_links_to_the_waiting_approval_in_the_console(tmp_path):
    hooks = rx.HttpReceiver()
    mail = rx.start_smtp(tmp_path)
    pb = tmp_path / "playbooks"
    pb.mkdir()
    (pb / "contain.yaml").write_text(GATED)
    port = free_port()
    console = f"http://127.0.0.1:{port}"
    env = {**os.environ, "NOTIFY_TEST_HOOK_SECRET": HOOK_SECRET,
           "SOAR_NOTIFY_CONSOLE_URL": console,
           "SOAR_NOTIFY_TEAMS_WEBHOOK": hooks.url("/teams/sig-1"),
           "SOAR_NOTIFY_SLACK_WEBHOOK": hooks.url("/slack/sig-2"),
           "SOAR_NOTIFY_SMTP_HOST": "127.0.0.1", "SOAR_NOTIFY_SMTP_PORT": str(mail.port),
           "SOAR_NOTIFY_SMTP_CA_BUNDLE": str(mail.cert),
           "SOAR_NOTIFY_EMAIL_FROM": "soar@contoso.example", "SOAR_NOTIFY_EMAIL_TO": "soc@contoso.example"}
    proc = subprocess.Popen([sys.executable, "-m", "runner.cli", "--store", f"sqlite:///{tmp_path}/soar.db",
                             "serve", str(pb), "--port", str(port), "--grace", "2s"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    try:
        line = proc.stdout.readline()
        assert line, proc.stderr.read()
        assert json.loads(line)["url"].rstrip("/") == console
        with httpx.Client(base_url=console, timeout=10) as http:
            body = b'{"host": "laptop-17"}'
            signature = "sha256=" + hmac.new(HOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
            started = http.post("/hooks/contain", content=body, headers={"X-Hub-Signature-256": signature})
            assert started.status_code in (200, 202), started.text
            run_id = started.json()["run_id"]
            wait_for(lambda: len(hooks.got) == 2 and len(mail.mails) == 1, what="the three notifications")

            card = next(g for g in hooks.got if g.path == "/teams/sig-1").json()["attachments"][0]["content"]
            slack = next(g for g in hooks.got if g.path == "/slack/sig-2").json()
            links = {
                "teams": {a["title"]: a["url"] for a in card["actions"]},
                "slack": {e["text"]["text"]: e["url"] for b in slack["blocks"] if b["type"] == "actions"
                          for e in b["elements"]},
                "email": dict(line.split(": ", 1) for line in mail.mails[0].text.splitlines()
                              if line.startswith(("Approve: ", "Deny: ", "Open the run: "))),
            }
            page = f"{console}/approvals/{run_id}/contain"
            for channel, found in links.items():
                assert found == {"Approve": f"{page}?decision=approve", "Deny": f"{page}?decision=deny",
                                 "Open the run": f"{console}/runs/{run_id}"}, channel
            for url in links["teams"].values():  # each link opens its page on the console
                opened = http.get(url)
                assert opened.status_code == 200, (url, opened.status_code)
                assert run_id in opened.text
            approval = http.get(links["teams"]["Approve"]).text
            assert "Contain laptop-17?" in approval
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=30)
        hooks.close()
        mail.close()
    assert proc.returncode == 0, err
    assert "sig-1" not in out + err and "sig-2" not in out + err
