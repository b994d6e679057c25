"""A registered API says which of its 429s is a resource quota with a distant reset
(ApiSpec.quota_reset); the core knows no such quota by itself."""

from __future__ import annotations

import httpx

from runner.apis.responses import api_error, quota_reset
from runner.errors import RateLimited
from runner.plugin import ApiSpec, QuotaReset

BODY = {"error": {"code": "TooManyRequests",
                  "message": "The tenant used all its query units. They reset in 600 seconds."}}


def _answer() -> httpx.Response:
    request = httpx.Request("POST", "https://api.example.com/v1/query")
    return httpx.Response(429, json=BODY, request=request)


PLAIN = ApiSpec(name="example", title="Example API", base_url="https://api.example.com")
UNITS = ApiSpec(name="example", title="Example API", base_url="https://api.example.com",
                quota_reset=QuotaReset(r"query units", "the tenant's query units", "ask for fewer rows"))


def test_without_a_quota_reset_a_429_is_a_call_count_429():
    assert quota_reset(_answer(), PLAIN) is None
    err = api_error(_answer(), tenant="t", api="example", spec=PLAIN)
    assert isinstance(err, RateLimited) and "still throttling" in err.message


def test_the_api_names_its_resource_quota_and_what_to_do():
    assert quota_reset(_answer(), UNITS) is UNITS.quota_reset
    err = api_error(_answer(), tenant="t", api="example", spec=UNITS)
    assert isinstance(err, RateLimited)
    assert "the tenant's query units is used up" in err.message
    assert err.hint == "the quota resets in 10 minutes; ask for fewer rows"
    ok = httpx.Response(200, json={}, request=_answer().request)
    assert quota_reset(ok, UNITS) is None
