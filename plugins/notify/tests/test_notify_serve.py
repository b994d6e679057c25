"""The notifications a process that runs playbooks sends by itself (soar serve, soar run): when
an approval waits — a Teams card, a Slack message and an email, each with the approve/deny
links to that approval in the console — and when a run fails. Against local receivers; a
channel that fails is logged and never changes the run."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

import notify_receivers as rx
from soar_notify import notifier
from soar_notify.outbox import OUTBOX

TRIAGE = Path(__file__).resolve().parents[2] / "defender" / "soar_defender" / "playbooks" / \
    "triage-high-severity-incidents.yaml"
CONSOLE = "https://soar.contoso.example"
TOKEN = "sig-teams-5ecret"  # the Teams webhook URL's credential
SLACK_TOKEN = "XXslack5ecretXX"
PASSWORD = "smtp-pa55-5ecret"

FAILING = """
name: nightly-sweep
steps:
  - id: sweep
    action: core.fail
    with: {message: "the sweep found 3 devices it could not reach"}
"""


@pytest.fixture
def receivers(tmp_path):
    hooks = rx.HttpReceiver()
    hooks.answer(f"/workflows/{TOKEN}", 202)
    mail = rx.start_smtp(tmp_path, users={"soar": PASSWORD})
    yield hooks, mail
    OUTBOX.flush(30)
    hooks.close()
    mail.close()


def notify_env(tmp_path: Path, hooks: rx.HttpReceiver, mail: rx.SmtpReceiver) -> dict[str, str]:
    secret = tmp_path / "smtp-password"
    secret.write_text(PASSWORD + "\n")
    return {
        "SOAR_NOTIFY_CONSOLE_URL": CONSOLE + "/",
        "SOAR_NOTIFY_TEAMS_WEBHOOK": hooks.url(f"/workflows/{TOKEN}"),
        "SOAR_NOTIFY_SLACK_WEBHOOK": hooks.url(f"/services/T0/B0/{SLACK_TOKEN}"),
        "SOAR_NOTIFY_SMTP_HOST": "127.0.0.1",
        "SOAR_NOTIFY_SMTP_PORT": str(mail.port),
        "SOAR_NOTIFY_SMTP_USERNAME": "soar",
        "SOAR_NOTIFY_SMTP_PASSWORD_FILE": str(secret),
        "SOAR_NOTIFY_SMTP_CA_BUNDLE": str(mail.cert),
        "SOAR_NOTIFY_EMAIL_FROM": "SOAR <soar@contoso.example>",
        "SOAR_NOTIFY_EMAIL_TO": "soc@contoso.example, oncall@contoso.example",
    }


def allowed(hooks: rx.HttpReceiver, mail: rx.SmtpReceiver) -> list[str]:
    """The receivers' hosts, let out of the simulated network (--allow-host)."""
    return [hooks.url("/").split("/")[2], f"127.0.0.1:{mail.port}"]


@pytest.fixture
def soar_runner(make_soar_runner, receivers):
    """The simulated runtime, with the local receivers let out (as `--allow-host` does)."""
    return make_soar_runner(allow_hosts=allowed(*receivers))


@pytest.fixture
def configured(tmp_path, receivers, monkeypatch):
    hooks, mail = receivers
    for name, value in notify_env(tmp_path, hooks, mail).items():
        monkeypatch.setenv(name, value)
    return hooks, mail


def teams_cards(hooks):
    return [g.json()["attachments"][0]["content"] for g in hooks.posts(f"/workflows/{TOKEN}")]


def slack_messages(hooks):
    return [g.json() for g in hooks.posts(f"/services/T0/B0/{SLACK_TOKEN}")]


def card_links(card) -> dict[str, str]:
    return {a["title"]: a["url"] for a in card.get("actions", [])}


def slack_links(message) -> dict[str, str]:
    return {e["text"]["text"]: e["url"] for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]}


def card_text(card) -> str:
    return "\n".join("".join(i["text"] for i in b.get("inlines", [])) or b.get("text", "") for b in card["body"])


def assert_approval_everywhere(hooks, mail, run_id: str, step: str) -> None:
    """One card, one Slack message and one email, each with the links to this approval."""
    page = f"{CONSOLE}/approvals/{run_id}/{step}"
    [card] = teams_cards(hooks)
    assert card_links(card) == {"Approve": f"{page}?decision=approve", "Deny": f"{page}?decision=deny",
                                "Open the run": f"{CONSOLE}/runs/{run_id}"}
    [message] = slack_messages(hooks)
    assert slack_links(message) == card_links(card)
    assert message["blocks"][0]["type"] == "header" and "Approval needed" in message["blocks"][0]["text"]["text"]
    [email] = mail.mails
    assert email.tls and email.login == "soar"
    assert email.rcpt_tos == ["soc@contoso.example", "oncall@contoso.example"]
    assert email.message["Subject"].startswith("Approval needed")
    assert f"Approve: {page}?decision=approve" in email.text and f"Deny: {page}?decision=deny" in email.text


def test_a_waiting_approval_reaches_teams_slack_and_email_with_its_links(configured, soar_runner):
    """Must show: the Defender triage playbook stops at its isolation gate under the testing kit;
    the approval that waits is announced on the three local receivers, linking to itself."""
    hooks, mail = configured
    outcome = soar_runner.run(TRIAGE, tenant="contoso")
    assert outcome.status == "waiting_approval"
    assert OUTBOX.flush(30)
    [gate] = soar_runner.services.store.pending_approvals()
    assert (gate.run_id, gate.step_id) == (outcome.run_id, "isolate")
    assert_approval_everywhere(hooks, mail, gate.run_id, gate.step_id)

    card = teams_cards(hooks)[0]
    text = card_text(card)
    assert gate.message in text  # the question, rendered, as the store keeps it
    assert "Tenant: contoso" in text and "Playbook: triage-high-severity-incidents" in text
    assert "Action: defender.isolate_machine (destructive)" in text
    assert "Who may decide: anyone allowed to approve" in text
    assert all(b["type"] == "RichTextBlock" for b in card["body"])  # alert data never read as Markdown
    assert gate.message in mail.mails[0].text


def test_soar_run_simulate_announces_the_gate_before_the_process_ends(tmp_path, receivers):
    """`soar run --simulate` as a separate process: it pauses at the gate and exits (code 3);
    what it queued was sent before it ended — nothing waits on this test to flush it."""
    hooks, mail = receivers
    env = {**os.environ, **notify_env(tmp_path, hooks, mail)}
    store = f"sqlite:///{tmp_path}/cli.db"
    soar = [sys.executable, "-m", "runner.cli"]
    hosts = [arg for host in allowed(hooks, mail) for arg in ("--allow-host", host)]
    done = subprocess.run([*soar, "--store", store, "run", str(TRIAGE), "--simulate", "--tenant", "contoso", *hosts],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 3, done.stdout + done.stderr
    listed = subprocess.run([*soar, "--store", store, "approvals", "list", "--json"], env=env,
                            capture_output=True, text=True, timeout=60)
    import json

    [gate] = json.loads(listed.stdout)
    assert_approval_everywhere(hooks, mail, gate["run_id"], gate["step"])
    for secret in (TOKEN, SLACK_TOKEN, PASSWORD):
        assert secret not in done.stdout + done.stderr


def test_a_failed_run_is_announced_once_with_its_error_and_link(configured, soar_runner):
    hooks, mail = configured
    outcome = soar_runner.run(FAILING)
    assert outcome.status == "failed"
    assert OUTBOX.flush(30)
    [card] = teams_cards(hooks)
    assert "Run failed: nightly-sweep" in card_text(card)
    assert "the sweep found 3 devices it could not reach" in card_text(card)
    assert card_links(card) == {"Open the run": f"{CONSOLE}/runs/{outcome.run_id}"}
    [message] = slack_messages(hooks)
    assert slack_links(message) == {"Open the run": f"{CONSOLE}/runs/{outcome.run_id}"}
    [email] = mail.mails
    assert email.message["Subject"] == "Run failed: nightly-sweep"


def test_a_run_over_every_tenant_is_announced_once(configured, soar_runner):
    hooks, _mail = configured
    outcome = soar_runner.run(FAILING.replace("name: nightly-sweep", "name: nightly-sweep\ntenants: all"))
    assert outcome.status == "failed" and len(outcome.run_ids()) == 3  # the parent and its 2 tenant runs
    assert OUTBOX.flush(30)
    assert len(teams_cards(hooks)) == 1


def test_a_dry_run_or_a_run_that_succeeds_announces_nothing(configured, soar_runner):
    hooks, mail = configured
    assert soar_runner.run(FAILING, dry_run=True).status == "failed"
    assert soar_runner.run("name: fine\nsteps:\n  - id: a\n    action: core.log\n    with: {message: hi}\n").status \
        == "succeeded"
    assert OUTBOX.flush(30)
    assert hooks.got == [] and mail.mails == []


def test_a_failing_channel_is_logged_and_the_others_still_get_it(configured, soar_runner, caplog):
    hooks, mail = configured
    hooks.answer(f"/workflows/{TOKEN}", 500, "flow failed")
    caplog.set_level(logging.INFO, logger="soar.notify")
    outcome = soar_runner.run(TRIAGE, tenant="contoso")
    assert outcome.status == "waiting_approval"  # the run is what it is, whatever the channels do
    assert OUTBOX.flush(30)
    assert len(slack_messages(hooks)) == 1 and len(mail.mails) == 1
    failed = [r.getMessage() for r in caplog.records if r.name == "soar.notify" and r.levelno == logging.WARNING]
    assert len(failed) == 1 and "could not notify teams" in failed[0]
    assert f"the Teams webhook on {hooks.host} answered HTTP 500: flow failed" in failed[0]
    assert all(TOKEN not in r.getMessage() and SLACK_TOKEN not in r.getMessage() and PASSWORD not in r.getMessage()
               for r in caplog.records)


def test_nothing_is_sent_or_queued_without_configuration(monkeypatch, soar_runner):
    for name in list(os.environ):
        if name.startswith("SOAR_NOTIFY_"):
            monkeypatch.delenv(name)
    before = OUTBOX._busy
    assert soar_runner.run(FAILING).status == "failed"
    assert OUTBOX._busy == before


def test_settings_that_cannot_be_used_are_logged_once_and_left_out(configured, soar_runner, monkeypatch, caplog):
    hooks, mail = configured
    monkeypatch.setenv("SOAR_NOTIFY_SLACK_WEBHOOK", f"http://hooks.slack.example/services/{SLACK_TOKEN}")
    monkeypatch.setenv("SOAR_NOTIFY_ON", "failed")
    caplog.set_level(logging.ERROR, logger="soar.notify")
    notifier._said.clear()
    soar_runner.run(FAILING)
    soar_runner.run(FAILING)
    assert OUTBOX.flush(30)
    errors = [r.getMessage() for r in caplog.records if r.name == "soar.notify" and r.levelno == logging.ERROR]
    assert errors == ["notifications: SOAR_NOTIFY_SLACK_WEBHOOK: it is plain http to hooks.slack.example: "
                      "the URL is a credential, send it over https only"]
    assert len(teams_cards(hooks)) == 2 and slack_messages(hooks) == [] and len(mail.mails) == 2
    # SOAR_NOTIFY_ON=failed: a waiting approval is not announced
    assert soar_runner.run(TRIAGE, tenant="contoso").status == "waiting_approval"
    assert OUTBOX.flush(30)
    assert len(teams_cards(hooks)) == 2
