"""runner.apis against small MockTransport handlers shaped like Microsoft's API reference."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from runner.apis import ApiClients, QuotaBucket, RetryPolicy, quota_limits, retry_after
from runner.engine.context import TenantInfo
from runner.errors import ApiError, AuthError, ConfigError, PermissionMissing, RateLimited, TransientApiError
from runner.http import Network

T = TenantInfo("contoso", "0b9d2f3e-0000-0000-0000-000000000001")
MDE = "https://api.securitycenter.microsoft.com"


def err(status, code, message, **headers):
    return httpx.Response(status, json={"error": {"code": code, "message": message, "target": "trk-1"}},
                          headers=headers)


class Recorder:
    def __init__(self):
        self.sleeps: list[float] = []

    async def __call__(self, seconds):
        self.sleeps.append(seconds)
        await asyncio.sleep(0)


def make(handler, **kw):
    kw.setdefault("sleep", Recorder())
    return ApiClients(Network.simulated(handler), **kw)


def run(coro):
    return asyncio.run(coro)


# ---- quotas --------------------------------------------------------------------------------

def test_default_quotas_are_the_documented_limits():
    limits = quota_limits({})
    assert limits["mde"] == [(100, 60.0), (1500, 3600.0)]
    assert limits["xdr"] == [(50, 60.0), (1500, 3600.0)]
    assert limits["hunting"][0] == (45, 60.0)
    assert limits["live_response"] == [(10, 60.0)]
    assert quota_limits(False) == {} and quota_limits({"enabled": False}) == {}
    assert quota_limits({"mde": "off"})["mde"] == []
    assert quota_limits({"mde": {"per_minute": 7}})["mde"] == [(7, 60.0)]
    with pytest.raises(ConfigError, match="per_minute"):
        quota_limits({"mde": {"per_fortnight": 1}})


def test_requests_wait_for_quota_and_none_fail():
    calls: list[float] = []

    def handler(request):
        return httpx.Response(200, json={"value": []})

    apis = make(handler, quotas={"mde": {"per_second": 5}}, time_scale=0.2)  # 5 per 0.2 s

    async def go():
        client = apis.client(T, "mde")
        real = client.bucket.acquire

        async def acquire(**kw):  # when each call got its budget
            waited = await real(**kw)
            calls.append(time.monotonic())
            return waited

        client.bucket.acquire = acquire
        t0 = time.monotonic()
        results = await asyncio.gather(*(client.get("/api/machines") for _ in range(12)))
        return results, time.monotonic() - t0

    results, elapsed = run(go())
    assert len(results) == 12 and all(r == {"value": []} for r in results)
    # 12 calls at 5 per 0.2 s need two full windows of waiting
    assert elapsed >= 0.38
    for i in range(5, 12):  # no window ever held more than 5 calls
        assert calls[i] - calls[i - 5] >= 0.2 - 1e-3
    assert apis.stats()["quota_waits"]["contoso/mde"] > 0


def test_bucket_is_fifo():
    order: list[int] = []

    async def go():
        b = QuotaBucket("x", [(2, 0.05)])

        async def one(i):
            await b.acquire()
            order.append(i)

        await asyncio.gather(*(one(i) for i in range(8)))

    run(go())
    assert order == list(range(8))


def test_quota_buckets_are_per_tenant():
    apis = make(lambda r: httpx.Response(200, json={}))
    assert apis.bucket("contoso", "mde") is apis.bucket("contoso", "mde")
    assert apis.bucket("contoso", "mde") is not apis.bucket("fabrikam", "mde")
    assert apis.client(T, "xdr").bucket.limits == [(50, 60.0), (1500, 3600.0)]
    assert apis.client(T, "mde", quota="live_response").bucket.limits == [(10, 60.0)]


# ---- 429 and retries -----------------------------------------------------------------------

def test_retry_after_header_is_honoured():
    answers = [err(429, "TooManyRequests", "slow down", **{"Retry-After": "7"}),
               httpx.Response(200, json={"value": [1]})]
    apis = make(lambda r: answers.pop(0))
    assert run(apis.client(T, "mde").get("/api/alerts")) == {"value": [1]}
    assert apis._sleep.sleeps == [7.0]
    assert apis.stats()["throttled"] == {"contoso": {"mde": 1}}


def test_xdr_body_states_the_reset():
    resp = err(429, "TooManyRequests", "Rate limit is exceeded. Try again in 23 seconds.")
    assert retry_after(resp) == 23.0
    resp = httpx.Response(429, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    assert retry_after(resp, now=1445412480 - 30) == 30.0


def test_body_window_is_not_mistaken_for_the_wait():
    # The simulator's (and XDR's) text names the window before the wait: take the wait.
    resp = err(429, "TooManyRequests", "API calls quota exceeded! Maximum allowed 50 per 60 s. "
                                       "Quota resets at 2026-11-23T10:00:02Z (try again in 2 seconds).")
    assert retry_after(resp) == 2.0
    resp = err(429, "TooManyRequests", "Maximum allowed 45 per 60 s. Quota resets at 2026-11-23T10:00:30Z.")
    assert retry_after(resp, now=1795428000.0) == 30.0  # 2026-11-23T10:00:00Z + 30 s
    assert retry_after(err(429, "TooManyRequests", "Maximum allowed 45 per 60 s.")) is None


def test_429_is_retried_for_post_too_but_bounded():
    apis = make(lambda r: err(429, "TooManyRequests", "no", **{"Retry-After": "1"}),
                retry=RetryPolicy(throttled=3))
    with pytest.raises(RateLimited) as info:
        run(apis.client(T, "mde").post("/api/indicators", {"x": 1}))
    assert info.value.status == 429 and info.value.retryable
    assert apis._sleep.sleeps == [1.0, 1.0, 1.0]


def test_a_retry_after_beyond_the_cap_fails_instead_of_stalling():
    apis = make(lambda r: err(429, "TooManyRequests", "no", **{"Retry-After": "3600"}))
    with pytest.raises(RateLimited):
        run(apis.client(T, "mde").get("/api/alerts"))


def test_5xx_is_retried_for_get():
    answers = [err(500, "InternalServerError", "boom"), err(503, "ServiceUnavailable", "busy"),
               httpx.Response(200, json={"id": "m1"})]
    apis = make(lambda r: answers.pop(0))
    assert run(apis.client(T, "mde").get("/api/machines/m1")) == {"id": "m1"}
    assert len(apis._sleep.sleeps) == 2 and apis._sleep.sleeps[1] >= apis._sleep.sleeps[0] * 0.5
    assert apis.stats()["retries"] == {"contoso": {"mde": 2}}


def test_5xx_is_not_blindly_retried_for_post():
    seen = []

    def handler(request):
        seen.append(request.method)
        return err(500, "InternalServerError", "boom")

    apis = make(handler)
    with pytest.raises(TransientApiError) as info:
        run(apis.client(T, "mde").post("/api/machines/m1/isolate", {"Comment": "x"}))
    assert seen == ["POST"]
    assert info.value.retryable is False and "not safe to repeat" in info.value.hint


def test_idempotent_post_and_timeouts():
    state = {"n": 0}

    def handler(request):
        state["n"] += 1
        if state["n"] < 3:
            raise httpx.ReadTimeout("slow", request=request)
        return httpx.Response(200, json={"Results": []})

    apis = make(handler)
    assert run(apis.client(T, "mde").post("/api/advancedqueries/run", {"Query": "x"}, idempotent=True)) \
        == {"Results": []}
    state["n"] = 0
    with pytest.raises(TransientApiError) as info:
        run(apis.client(T, "mde").post("/api/machines/m1/isolate", {"Comment": "x"}))
    assert state["n"] == 1 and info.value.code == "Timeout" and not info.value.retryable


def test_connect_errors_are_retried_for_any_method():
    state = {"n": 0}

    def handler(request):
        state["n"] += 1
        if state["n"] == 1:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(201, json={"id": "a1"})

    apis = make(handler)
    assert run(apis.client(T, "mde").post("/api/machines/m1/isolate", {})) == {"id": "a1"}


# ---- error mapping -------------------------------------------------------------------------

@pytest.mark.parametrize("response, kind, status, text", [
    (err(400, "InvalidRequestBody", "Comment is required"), ApiError, 400, "Comment is required"),
    (err(404, "ResourceNotFound", "Machine 123 was not found"), ApiError, 404, "not found"),
    (err(403, "Forbidden", "Missing application roles. API required roles: Machine.Isolate."),
     PermissionMissing, None, "Machine.Isolate"),
    (err(403, "DisabledFeature", "Live response is off"), ApiError, 403, "DisabledFeature"),
    (err(401, "Unauthorized", "bad token"), AuthError, None, "rejected the token"),
])
def test_error_bodies_are_mapped(response, kind, status, text):
    apis = make(lambda r: response)
    with pytest.raises(kind) as info:
        run(apis.client(T, "mde").get("/api/machines/123"))
    e = info.value
    assert type(e) is kind
    assert text in e.message and e.where.tenant == "contoso" and e.hint
    if status:
        assert e.status == status
    if kind is ApiError and status == 400:
        assert e.code == "InvalidRequestBody" and not e.retryable
    if kind is PermissionMissing:
        assert "Machine.Isolate" in e.hint


def test_500_after_budget_is_transient():
    apis = make(lambda r: err(500, "InternalServerError", "boom"))
    with pytest.raises(TransientApiError) as info:
        run(apis.client(T, "mde").get("/api/alerts"))
    assert info.value.status == 500 and info.value.retryable
    assert apis.stats()["calls"]["contoso"]["mde"] == RetryPolicy().attempts


# ---- paging --------------------------------------------------------------------------------

def test_paging_with_top_and_skip_until_a_short_page():
    data = list(range(250))
    seen = []

    def handler(request):
        top, skip = int(request.url.params["$top"]), int(request.url.params["$skip"])
        seen.append((top, skip, request.url.params.get("$filter")))
        return httpx.Response(200, json={"value": data[skip:skip + top]})

    apis = make(handler)
    items = run(apis.client(T, "xdr").list("/api/incidents", {"$filter": "status eq 'Active'"}))
    assert items == data
    assert seen == [(100, 0, "status eq 'Active'"), (100, 100, "status eq 'Active'"),
                    (100, 200, "status eq 'Active'")]
    capped = run(apis.client(T, "xdr").list("/api/incidents", max_items=120))
    assert capped == data[:120]


def test_paging_follows_next_link():
    pages = {
        None: {"value": [1, 2], "@odata.nextLink": "https://graph.microsoft.com/v1.0/security/incidents?$skiptoken=a"},
        "a": {"value": [3, 4], "@odata.nextLink": "https://graph.microsoft.com/v1.0/security/incidents?$skiptoken=b"},
        "b": {"value": [5]},
    }
    urls = []

    def handler(request):
        urls.append(str(request.url))
        return httpx.Response(200, json=pages[request.url.params.get("$skiptoken")])

    apis = make(handler)
    assert run(apis.client(T, "graph").list("/v1.0/security/incidents", page_size=2)) == [1, 2, 3, 4, 5]
    assert urls[0].startswith("https://graph.microsoft.com/v1.0/security/incidents?")
    assert len(urls) == 3


def test_regional_and_cloud_hosts():
    apis = make(lambda r: httpx.Response(200, json={}))
    assert apis.client(TenantInfo("a", region="eu"), "mde").base_url == "https://api-eu.securitycenter.microsoft.com"
    assert apis.client(TenantInfo("a", region="swa"), "xdr").base_url == "https://swa.api.security.microsoft.com"
    assert apis.client(TenantInfo("a", cloud="gcc_high"), "graph").base_url == "https://graph.microsoft.us"


def test_for_services_caches_on_services():
    class S:
        network = Network.simulated(lambda r: httpx.Response(200))
        auth = None
        config = None
        apis = None

    s = S()
    a = ApiClients.for_services(s)
    assert s.apis is a and ApiClients.for_services(s) is a
