"""The HTTP surface of `soar serve` under arbitrary input (hypothesis): /hooks/<path> signed and
unsigned with arbitrary bodies and headers, /approvals (GET, and POST with arbitrary JSON, with and
without the bearer token), /healthz, /metrics. No answer is a 5xx, none carries a traceback, and
every error answer is JSON saying what went wrong."""

from __future__ import annotations

import asyncio
import json
import string

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from serve_helpers import HOOK, SECRET, Harness
from serve_helpers import signed as signed_headers

from runner.secrets import Secret
from runner.serve.app import build_app
from runner.serve.webhooks import sign

TOKEN = "api-token-canary-51d0"
FUZZ = settings(max_examples=120, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

_HEADER_TEXT = st.text(alphabet=string.ascii_letters + string.digits + " -_=:;,./+*", max_size=40)
_HEADERS = st.dictionaries(st.text(alphabet=string.ascii_letters + "-", min_size=1, max_size=20)
                           .filter(lambda k: k.lower() not in ("content-length", "host", "transfer-encoding")),
                           _HEADER_TEXT, max_size=4)
_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
                     | st.text(max_size=20),
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                     max_leaves=20)
_BODIES = st.one_of(
    _JSON.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=300),
    st.sampled_from([b"", b"[" * 5000, b'{"n": ' + b"9" * 5000 + b"}", b'{"n": NaN}', b"\xff\xfe", b"null",
                     b'{"decision": "approve", "actor": {"x": 1}}', b'{"decision": "deny", "reason": []}',
                     json.dumps({"delivery": {"id": "x" * 300}}).encode()]),
    st.builds(lambda d: json.dumps({"delivery": {"id": d}, "decision": "approve"}).encode(), _HEADER_TEXT),
)
_SEGMENT = st.text(alphabet=string.ascii_letters + string.digits + "-_.~%", min_size=1, max_size=12)


class Surface:
    """One served app on its own event loop, shared by every example of a test."""

    def __init__(self, tmp_path):
        self.loop = asyncio.new_event_loop()
        self.harness = Harness(tmp_path)
        self.harness.write("hook.yaml", HOOK)
        self.service = self.loop.run_until_complete(self.harness.start(api_token=Secret(TOKEN)))
        transport = httpx.ASGITransport(app=build_app(self.service), raise_app_exceptions=False)
        self.client = httpx.AsyncClient(transport=transport, base_url="http://serve")

    def request(self, method: str, path: str, **kw) -> httpx.Response:
        return self.loop.run_until_complete(self.client.request(method, path, **kw))

    def close(self) -> None:
        self.loop.run_until_complete(self.client.aclose())
        self.loop.run_until_complete(self.harness.stop())
        self.loop.close()


@pytest.fixture(scope="module")
def surface(tmp_path_factory):
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SOAR_TEST_HOOK_SECRET", SECRET)
        served = Surface(tmp_path_factory.mktemp("fuzz"))
        try:
            yield served
        finally:
            served.close()


def _sound(answer: httpx.Response) -> None:
    assert answer.status_code < 500, (answer.status_code, answer.text[:300])
    assert "Traceback" not in answer.text and 'File "' not in answer.text
    if answer.status_code >= 400:
        doc = answer.json()
        assert isinstance(doc.get("error") or doc.get("message"), str), doc


@FUZZ
@given(path=st.one_of(st.just("phish"), _SEGMENT, st.lists(_SEGMENT, min_size=1, max_size=3).map("/".join)),
       body=_BODIES, headers=_HEADERS,
       signing=st.sampled_from(["right", "wrong", "none", "garbage"]))
@example(path="phish", body=b"[" * 5000, headers={}, signing="right")  # the known hostile bodies,
@example(path="phish", body=b'{"n": ' + b"9" * 5000 + b"}", headers={}, signing="right")  # always tried
def test_hooks(surface, path, body, headers, signing):
    headers = dict(headers)
    if signing == "right":
        headers.update(signed_headers(body))
    elif signing == "wrong":
        headers["X-Hub-Signature-256"] = sign("not-the-secret", body)
    elif signing == "garbage":
        headers["X-Hub-Signature-256"] = "sha256=" + "zz" * 40
    _sound(surface.request("POST", f"/hooks/{path}", content=body, headers=headers))


@FUZZ
@given(run=_SEGMENT, step=_SEGMENT, body=_BODIES, headers=_HEADERS,
       auth=st.sampled_from([f"Bearer {TOKEN}", "Bearer wrong", "Basic abc", "", "Bearer"]))
def test_approvals(surface, run, step, body, headers, auth):
    headers = {**headers, "Authorization": auth}
    _sound(surface.request("POST", f"/approvals/{run}/{step}", content=body, headers=headers))
    _sound(surface.request("GET", "/approvals", headers=headers))


@settings(FUZZ, max_examples=40)
@given(headers=_HEADERS, path=st.sampled_from(["/healthz", "/metrics", "/approvals", "/hooks", "/nowhere"]),
       method=st.sampled_from(["GET", "POST", "PUT", "DELETE"]))
def test_health_metrics_and_the_rest(surface, headers, path, method):
    _sound_or_text(surface.request(method, path, headers=headers))


def _sound_or_text(answer: httpx.Response) -> None:
    """/metrics answers Prometheus text and unknown routes Starlette's plain 404/405."""
    assert answer.status_code < 500, (answer.status_code, answer.text[:300])
    assert "Traceback" not in answer.text


def test_an_unexpected_error_is_a_json_500_without_internals(surface, monkeypatch, caplog):
    def broken():
        raise RuntimeError("secret-internal-detail")

    monkeypatch.setattr(surface.service, "health", broken)
    answer = surface.request("GET", "/healthz")
    assert answer.status_code == 500
    assert answer.json() == {"error": "internal error; see the soar serve log"}
    assert "secret-internal-detail" not in answer.text and "Traceback" not in answer.text
    assert "secret-internal-detail" in caplog.text  # the log has it, for the operator
