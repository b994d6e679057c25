"""notify.teams, notify.slack and notify.email as playbook actions, against local receivers:
what reaches them, and every way a send fails the step — never a silent success, never a secret
in the error."""

from __future__ import annotations

import pytest

from runner.plugin import ActionInputError, ApiError, AuthError, RateLimited, TransientApiError, UnservedHostError

import notify_receivers as rx

TOKEN = "sig-0123456789abcdef"  # the webhook URL's credential: never in an error or a log


@pytest.fixture
def hooks():
    receiver = rx.HttpReceiver()
    yield receiver
    receiver.close()


@pytest.fixture
def runner(make_soar_runner, hooks):
    return make_soar_runner(allow_hosts=[hooks.host])


def card(url: str, **more) -> dict:
    return {"webhook": url, "title": "Host isolated", "text": "laptop-17 was isolated",
            "facts": {"Tenant": "contoso", "Device": "laptop-17"},
            "links": [{"title": "Open", "url": "https://soar.contoso.example/runs/r-1", "style": "primary"}], **more}


def test_teams_posts_an_adaptive_card(runner, hooks):
    hooks.answer("/teams", 202)  # what a Teams Workflows webhook answers
    out = runner.action("notify.teams", **card(hooks.url("/teams")))
    assert out == {"channel": "teams", "status": 202}
    [got] = hooks.posts("/teams")
    body = got.json()
    assert got.headers["content-type"] == "application/json"
    assert body["type"] == "message"
    attachment = body["attachments"][0]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card_ = attachment["content"]
    assert card_["type"] == "AdaptiveCard" and card_["version"] == "1.4"
    assert card_["actions"] == [{"type": "Action.OpenUrl", "title": "Open",
                                 "url": "https://soar.contoso.example/runs/r-1", "style": "positive"}]
    texts = [run["text"] for block in card_["body"] for run in block.get("inlines", [])]
    assert "Host isolated" in texts and "laptop-17 was isolated" in texts and "laptop-17" in texts


def test_slack_posts_block_kit(runner, hooks):
    out = runner.action("notify.slack", **card(hooks.url("/slack")))
    assert out == {"channel": "slack", "status": 200}
    body = hooks.posts("/slack")[0].json()
    assert [b["type"] for b in body["blocks"]] == ["header", "section", "section", "actions"]
    assert body["blocks"][3]["elements"][0]["url"] == "https://soar.contoso.example/runs/r-1"
    assert body["text"].startswith("Host isolated")


@pytest.mark.parametrize("status, body, error, retryable", [
    (400, "invalid_blocks", ApiError, False),
    (404, "no_service", ApiError, False),
    (410, "channel_is_archived", ApiError, False),
    (429, "rate_limited", RateLimited, True),
    (500, "oops", TransientApiError, False),
    (503, "unavailable", TransientApiError, True),
])
def test_an_answer_other_than_2xx_fails_the_step(runner, hooks, status, body, error, retryable):
    path = f"/services/T0/B0/{TOKEN}"
    hooks.answer(path, status, body)
    with pytest.raises(error) as err:
        runner.action("notify.slack", **card(hooks.url(path)))
    assert err.value.status == status and err.value.retryable is retryable
    assert f"answered HTTP {status}: {body}" in err.value.message
    assert hooks.host in err.value.message
    assert TOKEN not in err.value.message and TOKEN not in (err.value.hint or "")
    if status == 404:
        assert "create a new Slack webhook" in err.value.hint


def test_teams_throttling_in_a_200_body_is_not_a_success(runner, hooks):
    """Older Teams webhooks answer 200 with Teams' own 429 in the body."""
    hooks.answer("/teams", 200, "Microsoft Teams endpoint returned HTTP error 429 with ContextId ...")
    with pytest.raises(RateLimited):
        runner.action("notify.teams", **card(hooks.url("/teams")))


def test_a_simulated_run_sends_nothing_to_a_host_it_was_not_allowed(make_soar_runner, hooks):
    runner = make_soar_runner()  # no allow_hosts
    with pytest.raises(UnservedHostError) as err:
        runner.action("notify.teams", **card(hooks.url(f"/teams/{TOKEN}")))
    assert err.value.host == hooks.host and TOKEN not in str(err.value)
    assert hooks.got == []


@pytest.mark.parametrize("url, says", [
    ("http://hooks.example.com/x", "plain http to hooks.example.com"),
    ("ftp://hooks.example.com/x", "not an absolute https:// URL"),
    ("hooks.example.com/x", "not an absolute https:// URL"),
])
def test_a_webhook_url_that_would_leak_or_cannot_work_is_refused(runner, url, says):
    with pytest.raises(ActionInputError) as err:
        runner.action("notify.slack", **card(url))
    assert says in err.value.message and "/x" not in err.value.message


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_refused_connection_is_transient_and_retryable(make_soar_runner):
    port = free_port()  # nobody listens there
    runner = make_soar_runner(allow_hosts=[f"127.0.0.1:{port}"])
    with pytest.raises(TransientApiError) as err:
        runner.action("notify.teams", **card(f"http://127.0.0.1:{port}/teams/{TOKEN}"))
    assert err.value.retryable is True and "cannot connect" in err.value.message
    assert TOKEN not in err.value.message


def test_a_link_must_be_an_absolute_url(runner, hooks):
    with pytest.raises(Exception) as err:
        runner.action("notify.slack", **card(hooks.url("/s"), links=[{"title": "x", "url": "javascript:alert(1)"}]))
    assert "not an absolute http:// or https:// URL" in str(err.value)
    assert hooks.got == []


# ---- email -----------------------------------------------------------------------------------------

@pytest.fixture
def mailer(make_soar_runner):
    """The simulated runtime with this machine's SMTP receivers let out (any port)."""
    return make_soar_runner(allow_hosts=["127.0.0.1"])


@pytest.fixture
def smtp_server(tmp_path):
    server = rx.start_smtp(tmp_path, users={"soar": "pa55-word-xyz"})
    yield server
    server.close()


def mail(server, **more) -> dict:
    return {"host": "127.0.0.1", "port": server.port, "username": "soar", "password": "pa55-word-xyz",
            "from": "SOAR <soar@contoso.example>", "to": ["soc@contoso.example", "lead@contoso.example"],
            "subject": "Host isolated", "body": "laptop-17 was isolated.\nhttps://soar.contoso.example/runs/r-1",
            "ca_bundle": str(server.cert) if server.cert else None, **more}


def test_email_goes_over_starttls_with_a_login(mailer, smtp_server):
    out = mailer.action("notify.email", **mail(smtp_server))
    assert out == {"recipients": ["soc@contoso.example", "lead@contoso.example"], "refused": {}}
    [got] = smtp_server.mails
    assert got.tls is True and got.login == "soar"
    assert got.mail_from == "soar@contoso.example"
    assert got.rcpt_tos == ["soc@contoso.example", "lead@contoso.example"]
    assert got.message["Subject"] == "Host isolated"
    assert "https://soar.contoso.example/runs/r-1" in got.text


def test_a_wrong_password_is_an_auth_error_without_the_password(mailer, smtp_server):
    with pytest.raises(AuthError) as err:
        mailer.action("notify.email", **mail(smtp_server, password="not-the-one-123"))
    assert "refused the login of 'soar'" in err.value.message
    assert "not-the-one-123" not in err.value.message + (err.value.hint or "")
    assert smtp_server.mails == [] and smtp_server.logins and set(smtp_server.logins) == {("soar", False)}


def test_a_server_without_starttls_is_refused_before_anything_is_sent(mailer, tmp_path):
    plain = rx.start_smtp(tmp_path, starttls=False)
    try:
        with pytest.raises(ApiError) as err:
            mailer.action("notify.email", **mail(plain, username=None, password=None))
        assert "does not offer STARTTLS" in err.value.message
        assert plain.mails == []
    finally:
        plain.close()


def test_an_untrusted_certificate_is_refused(mailer, smtp_server):
    with pytest.raises(ApiError) as err:
        mailer.action("notify.email", **mail(smtp_server, ca_bundle=None))
    assert "TLS certificate is not trusted" in err.value.message and "ca_bundle" in err.value.hint
    assert smtp_server.mails == []


def test_no_server_is_a_retryable_connection_error(mailer, smtp_server):
    port = free_port()
    with pytest.raises(TransientApiError) as err:
        mailer.action("notify.email", **mail(smtp_server, port=port, ca_bundle=None))
    assert err.value.retryable is True and f"127.0.0.1:{port}" in err.value.message


def test_a_password_is_never_sent_without_tls(mailer, smtp_server):
    with pytest.raises(ActionInputError) as err:
        mailer.action("notify.email", **mail(smtp_server, security="none"))
    assert "never sent without TLS" in err.value.message
    assert smtp_server.mails == []


@pytest.mark.parametrize("field, value", [("subject", "hi\r\nBcc: everyone@example.com"),
                                          ("to", ["soc@contoso.example\r\nBcc: x@y.example"]),
                                          ("to", ["not an address"]), ("from", "nobody")])
def test_header_injection_and_bad_addresses_are_input_errors(mailer, smtp_server, field, value):
    with pytest.raises(Exception) as err:
        mailer.action("notify.email", **mail(smtp_server, **{field: value}))
    assert "validation error" in str(err.value).lower()
    assert smtp_server.mails == []


def test_a_simulated_run_connects_to_no_smtp_server_it_was_not_allowed(make_soar_runner, smtp_server):
    runner = make_soar_runner(allow_hosts=["127.0.0.2"])  # another host only
    with pytest.raises(UnservedHostError) as err:
        runner.action("notify.email", **mail(smtp_server))
    assert f"an SMTP connection to 127.0.0.1:{smtp_server.port} was not sent" in err.value.message
    assert f"--allow-host 127.0.0.1:{smtp_server.port}" in err.value.hint
    assert smtp_server.mails == [] and smtp_server.logins == []
