"""Issue #15: `core.http_request` never looks like success when the request failed.

A non-2xx answer fails the step — naming the method, the URL without its query, the status and
the start of the body — unless the step lists the statuses it accepts (`expect:`). 429 and 5xx
are retried by the step's `retry:` (a POST only when `idempotent: true`). Form bodies, raw
bodies, basic auth (the password never recorded), TLS options (`verify: false` warns,
`ca_bundle:`) and `follow_redirects`.

Every test runs `soar run` on the real network — the suite lets it reach loopback only — against
a real HTTP server on 127.0.0.1 (tests/workflow/wf_receiver.py).
"""

from __future__ import annotations

import base64
import json

import pytest
import wf_receiver


@pytest.fixture
def receiver(tmp_path, monkeypatch):
    monkeypatch.delenv("SOAR_OFFLINE", raising=False)  # the real network; the socket guard keeps it on loopback
    rec = wf_receiver.start(tmp_path)
    yield rec
    wf_receiver.stop(rec)


@pytest.fixture
def tls_receiver(tmp_path, monkeypatch):
    monkeypatch.delenv("SOAR_OFFLINE", raising=False)
    rec = wf_receiver.start(tmp_path, tls=True)
    yield rec
    wf_receiver.stop(rec)


def _playbook(soar, steps: str, secrets: str = ""):
    return soar.write("http.yaml", f"name: http\n{secrets}steps:\n{steps}")


def _step(doc: dict, step_id: str) -> dict:
    return next(s for s in doc["steps"] if s["id"] == step_id)


def _errors(soar, run_id: str) -> dict[str, dict]:
    """Step id → the recorded error (message, hint) of its last failed attempt."""
    shown = soar.json("runs", "show", run_id)
    return {s["step_id"]: s["error"] for s in shown["steps"] if s["status"] == "failed"}


def test_a_non_2xx_answer_fails_the_step_and_the_run(soar, receiver):
    receiver.answer("/hook", (404, {"Content-Type": "text/plain"}, "no such hook\n  here"))
    pb = _playbook(soar, f"""
  - id: post
    action: core.http_request
    with:
      method: POST
      url: "{receiver.url('/hook')}?token=q-s3cr3t-q"
      json: {{text: hello}}
  - id: after
    action: core.log
    with: {{message: "must not run"}}
""")
    result = soar("run", str(pb))
    assert result.exit_code == 1, result.output
    assert f"POST http://{receiver.host}/hook?… answered HTTP 404" in result.output
    assert "no such hook here" in result.output  # the body's start, whitespace folded
    assert "expect:" in result.output  # the hint says how to accept it
    assert "q-s3cr3t-q" not in result.output  # the query is never shown
    doc = soar.json("run", str(pb), code=1)
    assert _step(doc, "post")["status"] == "failed"
    assert "after" not in {s["id"] for s in doc["steps"] if s["status"] == "succeeded"}
    assert [g.json() for g in receiver.got] == [{"text": "hello"}] * 2  # it was sent, and answered 404


def test_expect_lists_the_statuses_that_mean_success(soar, receiver):
    receiver.answer("/gone", (404, {}, "gone"))
    receiver.answer("/conflict", (409, {}, "exists"))
    pb = _playbook(soar, f"""
  - id: exact
    action: core.http_request
    with: {{url: "{receiver.url('/gone')}", expect: [200, 404]}}
  - id: cls
    action: core.http_request
    with: {{url: "{receiver.url('/conflict')}", expect: [2xx, 4xx]}}
  - id: ok
    action: core.http_request
    with: {{url: "{receiver.url('/fine')}"}}
  - id: not_listed
    action: core.http_request
    with: {{url: "{receiver.url('/conflict')}", expect: [2xx, 404]}}
outputs:
  statuses: ["${{{{ steps.exact.output.status }}}}", "${{{{ steps.cls.output.status }}}}", "${{{{ steps.ok.output.status }}}}"]
""")
    doc = soar.json("run", str(pb), code=1)
    assert [_step(doc, s)["status"] for s in ("exact", "cls", "ok", "not_listed")] == \
        ["succeeded", "succeeded", "succeeded", "failed"]
    assert "answered HTTP 409" in doc["error"]["message"] and "2xx, 404" in doc["error"]["hint"]


def test_an_expect_that_is_no_status_is_refused_by_validate(soar):
    pb = _playbook(soar, """
  - id: a
    action: core.http_request
    with: {url: "https://hooks.example.invalid/x", expect: [2xx, 99]}
  - id: b
    action: core.http_request
    with: {method: POST, url: "https://hooks.example.invalid/x", json: {a: 1}, form: {b: 2}}
""")
    result = soar("validate", str(pb))
    assert result.exit_code == 2, result.output
    assert "input 'expect'" in result.output and "99 is not an HTTP status" in result.output
    assert "input 'form'" in result.output and "give one body" in result.output


def test_5xx_is_retried_when_safe_and_429_always(soar, receiver):
    receiver.answer("/flaky", (503, {}, "busy"), (200, {}, "ok"))
    receiver.answer("/post-flaky", (502, {}, "bad gateway"), (200, {}, "ok"))
    receiver.answer("/idem", (500, {}, "oops"), (200, {}, "ok"))
    receiver.answer("/throttled", (429, {"Retry-After": "0"}, "slow down"), (200, {}, "ok"))
    retry = "retry: {attempts: 2, backoff: 10ms, jitter: false}"
    pb = _playbook(soar, f"""
  - id: get
    action: core.http_request
    {retry}
    with: {{url: "{receiver.url('/flaky')}"}}
  - id: throttled
    action: core.http_request
    {retry}
    with: {{method: POST, url: "{receiver.url('/throttled')}", json: {{}}}}
  - id: idem
    action: core.http_request
    {retry}
    with: {{method: POST, url: "{receiver.url('/idem')}", json: {{}}, idempotent: true}}
  - id: post
    action: core.http_request
    {retry}
    on_error: continue
    with: {{method: POST, url: "{receiver.url('/post-flaky')}", json: {{}}}}
""")
    doc = soar.json("run", str(pb))  # `on_error: continue`: the run goes on
    assert [_step(doc, s)["status"] for s in ("get", "throttled", "idem", "post")] == \
        ["succeeded", "succeeded", "succeeded", "failed"]
    # a POST answered 5xx may have taken effect: sent once, and the error says why
    assert receiver.paths().count("/post-flaky") == 1
    assert receiver.paths().count("/flaky") == receiver.paths().count("/idem") == 2
    post = _errors(soar, doc["run_id"])["post"]
    assert "answered HTTP 502" in post["message"] and "idempotent: true" in post["hint"]


def test_form_raw_body_and_basic_auth_reach_the_server_and_the_password_is_never_recorded(soar, receiver):
    password = "Pw-c4nary-7781"
    receiver.answer("/echo-auth", (200, {"Content-Type": "application/json"}, "{}"))
    pb = _playbook(soar, f"""
  - id: form
    action: core.http_request
    with:
      method: POST
      url: "{receiver.url('/form')}"
      form: {{text: "a b&c", n: [1, 2], flag: true}}
      basic_auth: {{username: soc, password: "${{{{ secrets.pw }}}}"}}
  - id: raw
    action: core.http_request
    with:
      method: PUT
      url: "{receiver.url('/raw')}"
      body: "<alert id='1'/>"
      content_type: application/xml
  - id: text
    action: core.http_request
    with: {{method: POST, url: "{receiver.url('/text')}", body: "plain words"}}
""", secrets="secrets:\n  pw: env:WF_BASIC_PW\n")
    result = soar("run", str(pb), "--json", env={"WF_BASIC_PW": password})
    assert result.exit_code == 0, result.output
    form, raw, text = receiver.got
    assert form.headers["content-type"] == "application/x-www-form-urlencoded"
    assert form.body == b"text=a+b%26c&n=1&n=2&flag=true"
    assert form.headers["authorization"] == "Basic " + base64.b64encode(f"soc:{password}".encode()).decode()
    assert (raw.method, raw.headers["content-type"], raw.body) == ("PUT", "application/xml", b"<alert id='1'/>")
    assert (text.headers["content-type"], text.body) == ("text/plain; charset=utf-8", b"plain words")
    shown = soar("runs", "show", json.loads(result.stdout)["run_id"], "--json").output
    assert '"password": "***"' in shown
    encoded = base64.b64encode(f"soc:{password}".encode()).decode()
    for text_out in (result.output, shown, *(p.read_bytes().decode("latin-1") for p in soar.tmp.glob("soar.db*"))):
        assert password not in text_out and encoded not in text_out


def test_the_server_echoing_the_basic_auth_header_is_masked(soar, receiver):
    password = "Echo-pw-99812"
    encoded = base64.b64encode(f"soc:{password}".encode()).decode()
    receiver.answer("/echo", (200, {"Content-Type": "application/json"},
                              json.dumps({"authorization": f"Basic {encoded}"})))
    pb = _playbook(soar, f"""
  - id: a
    action: core.http_request
    with: {{url: "{receiver.url('/echo')}", basic_auth: {{username: soc, password: {password}}}}}
outputs:
  echoed: "${{{{ steps.a.output.json.authorization }}}}"
""")
    result = soar("run", str(pb), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["outputs"]["echoed"] == "Basic ***"
    assert password not in result.output and encoded not in result.output


def test_tls_verification_ca_bundle_and_verify_false(soar, tls_receiver):
    url = tls_receiver.url("/hook")
    pb = _playbook(soar, f"""
  - id: checked
    action: core.http_request
    on_error: continue
    with: {{url: "{url}"}}
  - id: own_ca
    action: core.http_request
    with: {{url: "{url}", ca_bundle: "{tls_receiver.cert}"}}
  - id: unchecked
    action: core.http_request
    with: {{url: "{url}", verify: false}}
  - id: missing_ca
    action: core.http_request
    with: {{url: "{url}", ca_bundle: no-such-ca.pem}}
""")
    doc = soar.json("run", str(pb), code=1)
    checked, own_ca, unchecked, missing = (_step(doc, s) for s in ("checked", "own_ca", "unchecked", "missing_ca"))
    assert checked["status"] == "failed" and "certificate is not trusted" in checked["error"]
    assert "ca_bundle" in _errors(soar, doc["run_id"])["checked"]["hint"]
    assert own_ca["status"] == "succeeded" and unchecked["status"] == "succeeded"
    assert any("TLS certificate verification is off for 127.0.0.1" in w for w in unchecked["warnings"])
    assert missing["status"] == "failed" and "ca_bundle no-such-ca.pem: cannot be read" in missing["error"]
    assert len(tls_receiver.got) == 2  # own_ca and unchecked; the refused handshakes sent nothing


def test_redirects_fail_unless_followed(soar, receiver):
    receiver.answer("/old", (302, {"Location": "/new"}, ""))
    pb = _playbook(soar, f"""
  - id: followed
    action: core.http_request
    with: {{url: "{receiver.url('/old')}", follow_redirects: true}}
  - id: not_followed
    action: core.http_request
    with: {{url: "{receiver.url('/old')}"}}
outputs:
  status: "${{{{ steps.followed.output.status }}}}"
""")
    doc = soar.json("run", str(pb), code=1)
    assert _step(doc, "followed")["status"] == "succeeded"
    assert receiver.paths() == ["/old", "/new", "/old"]
    err = _step(doc, "not_followed")["error"]
    assert "answered HTTP 302" in err and f"redirect to http://{receiver.host}/new" in err
    assert "follow_redirects: true" in _errors(soar, doc["run_id"])["not_followed"]["hint"]


def test_no_answer_fails_with_a_message_not_a_plugin_bug(soar, receiver):
    port = receiver.port
    wf_receiver.stop(receiver)  # nothing listens there any more
    pb = _playbook(soar, f"""
  - id: a
    action: core.http_request
    with: {{method: POST, url: "http://127.0.0.1:{port}/hook", json: {{}}}}
""")
    doc = soar.json("run", str(pb), code=1)
    err = _step(doc, "a")["error"]
    assert f"POST http://127.0.0.1:{port}/hook: cannot connect" in err and "plugin" not in err
