"""A Defender 429 that outlasts the API client's own retries carries the server's Retry-After
(``retry_after``), so a step's `retry:` waits at least that long (runner.engine.steps.retry_delay)."""

from __future__ import annotations

import httpx

from runner.apis.responses import api_error
from runner.engine.steps import retry_delay
from runner.errors import RateLimited


def _answer(status: int, headers: dict, body: dict) -> httpx.Response:
    request = httpx.Request("POST", "https://api.security.microsoft.com/api/machines/abc/isolate")
    return httpx.Response(status, headers=headers, json=body, request=request)


def test_a_throttled_defender_call_says_how_long_to_wait():
    err = api_error(_answer(429, {"Retry-After": "7"}, {"error": {"code": "TooManyRequests", "message": "slow down"}}),
                    tenant="contoso", api="mde")
    assert isinstance(err, RateLimited) and err.retry_after == 7.0
    # the step's retry waits the server's 7 s, not its own shorter backoff
    from runner.playbook.model import RetrySpec

    assert retry_delay(RetrySpec(attempts=3, backoff=1), 1, err.retry_after) >= 7.0


def test_a_429_without_a_wait_leaves_the_step_backoff_alone():
    err = api_error(_answer(429, {}, {"error": {"code": "TooManyRequests", "message": "Rate limit exceeded"}}),
                    tenant="contoso", api="xdr")
    assert isinstance(err, RateLimited) and err.retry_after is None
