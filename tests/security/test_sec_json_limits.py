"""Finding 14: a validly signed (or authorized) but hostile JSON body — 100,000 levels deep, a
5,000-digit integer, NaN — answers 400 with a JSON error on /hooks/... and on /approvals, never a
500 or a traceback; and nothing is recorded."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from serve_helpers import HOOK, SECRET, Harness, signed

from runner.secrets import Secret
from runner.serve.app import build_app

DEEP = b"[" * 100_000 + b"]" * 100_000
HOSTILE = {
    "deep array": DEEP,
    "deep object": b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
    "5000-digit integer": b'{"n": ' + b"9" * 5000 + b"}",
    "NaN": b'{"n": NaN}',
    "overflowing float": b'{"n": 1e999}',
}


async def _answers(tmp_path) -> dict:
    harness = Harness(tmp_path)
    harness.write("hook.yaml", HOOK)
    service = await harness.start(api_token=Secret("api-token-canary-51d0"))
    transport = httpx.ASGITransport(app=build_app(service), raise_app_exceptions=False)
    out = {}
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://serve") as http:
            for name, body in HOSTILE.items():
                hook = await http.post("/hooks/phish", content=body, headers=signed(body))
                decide = await http.post("/approvals/r-1/step", content=body,
                                         headers={"Authorization": "Bearer api-token-canary-51d0"})
                out[name] = (hook, decide)
            out["recorded"] = service.inbox.count()
    finally:
        await harness.stop()
    return out


@pytest.fixture(scope="module")
def answers(tmp_path_factory):
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SOAR_TEST_HOOK_SECRET", SECRET)
        return asyncio.run(_answers(tmp_path_factory.mktemp("json")))


@pytest.mark.parametrize("name", list(HOSTILE))
@pytest.mark.parametrize("endpoint", ["hook", "approvals"])
def test_hostile_json_is_a_400_with_a_json_error(answers, name, endpoint):
    answer = answers[name][0 if endpoint == "hook" else 1]
    assert answer.status_code == 400, (answer.status_code, answer.text[:200])
    assert "Traceback" not in answer.text
    error = answer.json()["error"]
    assert isinstance(error, str) and error


def test_nothing_hostile_was_recorded(answers):
    assert answers["recorded"] == 0


def test_parse_json_limits_directly():
    from runner.serve.webhooks import MAX_JSON_DEPTH, BadPayload, parse_json

    assert parse_json(b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH)
    assert parse_json(b'{"s": "' + b"[" * 10_000 + b'"}')["s"].startswith("[")  # brackets in a string
    assert parse_json(b'{"n": ' + b"9" * 100 + b"}")["n"] == int("9" * 100)
    for body in (b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1), b"-" + b"1" * 101,
                 b"Infinity", b"[-Infinity]"):
        with pytest.raises(BadPayload):
            parse_json(body)
