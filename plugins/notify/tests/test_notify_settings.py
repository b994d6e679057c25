"""SOAR_NOTIFY_* read into settings — a setting that cannot be used is named, never raised — and
the outbox that sends them off the event loop."""

from __future__ import annotations

import logging
import threading

from soar_notify.outbox import Outbox
from soar_notify.settings import DEFAULT_CONSOLE, load


def test_nothing_set_is_nothing_to_send():
    settings = load({})
    assert settings.channels == [] and settings.problems == ()
    assert settings.console_url == DEFAULT_CONSOLE and settings.events == {"approval", "failed"}


def test_a_file_wins_over_the_variable_and_the_value_is_a_secret(tmp_path):
    (tmp_path / "hook").write_text("https://prod-1.westus.logic.azure.com/workflows/abc?sig=s3cr3t\n")
    settings = load({"SOAR_NOTIFY_TEAMS_WEBHOOK": "https://other.example/x",
                     "SOAR_NOTIFY_TEAMS_WEBHOOK_FILE": str(tmp_path / "hook")})
    assert settings.teams.reveal() == "https://prod-1.westus.logic.azure.com/workflows/abc?sig=s3cr3t"
    assert "s3cr3t" not in repr(settings)


def test_unusable_settings_are_named_and_left_out(tmp_path):
    settings = load({
        "SOAR_NOTIFY_CONSOLE_URL": "soar.contoso.example",
        "SOAR_NOTIFY_ON": "failed, approvals",
        "SOAR_NOTIFY_SLACK_WEBHOOK_FILE": str(tmp_path / "missing"),
        "SOAR_NOTIFY_TEAMS_WEBHOOK": "http://hooks.example.com/x",
        "SOAR_NOTIFY_SMTP_HOST": "smtp.example.com",
        "SOAR_NOTIFY_SMTP_PORT": "99999",
        "SOAR_NOTIFY_TIMEOUT": "-1",
    })
    assert settings.channels == [] and settings.events == {"failed"}
    assert settings.console_url == DEFAULT_CONSOLE and settings.timeout == 10.0
    said = "\n".join(settings.problems)
    for name in ("CONSOLE_URL", "SOAR_NOTIFY_ON: unknown event(s) approvals", "SLACK_WEBHOOK_FILE: cannot read",
                 "TEAMS_WEBHOOK: it is plain http to hooks.example.com", "SMTP_PORT: '99999'", "TIMEOUT"):
        assert name in said, name
    assert "/x" not in said  # a webhook URL is never repeated


def test_email_needs_a_sender_and_recipients_and_tls_for_a_password():
    base = {"SOAR_NOTIFY_SMTP_HOST": "smtp.example.com"}
    assert load(base).email is None and "EMAIL_FROM or" in load(base).problems[0]
    full = {**base, "SOAR_NOTIFY_EMAIL_FROM": "soar@contoso.example", "SOAR_NOTIFY_EMAIL_TO": "a@x.example, b@x.example",
            "SOAR_NOTIFY_SMTP_SECURITY": "tls"}
    email = load(full).email
    assert (email.server.port, email.server.security, email.to) == (465, "tls", ("a@x.example", "b@x.example"))
    plain = load({**full, "SOAR_NOTIFY_SMTP_SECURITY": "none", "SOAR_NOTIFY_SMTP_PASSWORD": "pw"})
    assert plain.email is None and "never sent without TLS" in plain.problems[0]
    assert load({**full, "SOAR_NOTIFY_ON": "none"}).events == frozenset()


def test_the_outbox_sends_in_order_off_the_calling_thread_and_drops_when_full(caplog):
    box = Outbox(max_queued=2, idle=0.05)
    gate = threading.Event()
    done: list[tuple[str, str]] = []
    started = threading.Event()
    box.put("first", lambda: (started.set(), gate.wait(5), done.append(("first", threading.current_thread().name))))
    assert started.wait(5)  # being sent: no longer in the queue
    box.put("second", lambda: done.append(("second", threading.current_thread().name)))
    box.put("third", lambda: done.append(("third", "")))
    with caplog.at_level(logging.ERROR, logger="soar.notify"):
        assert box.put("fourth", lambda: None) is False  # two wait behind the one being sent
    assert "notification dropped (fourth)" in caplog.text
    assert box.flush(0.05) is False  # still held
    gate.set()
    assert box.flush(5)
    assert done == [("first", "soar-notify"), ("second", "soar-notify"), ("third", "")]


def test_a_job_that_raises_is_logged_and_the_next_one_still_runs(caplog):
    box = Outbox(idle=0.05)
    done = []
    box.put("broken", lambda: 1 / 0)
    box.put("fine", lambda: done.append(1))
    assert box.flush(5) and done == [1]
    assert "notification failed (broken)" in caplog.text
