"""defender.run_hunting_query against the simulated tenants: one normalized shape on Graph, XDR
and MDE, the API choice, quotas (calls and CPU), timeouts, limits and refused queries."""

from __future__ import annotations

import asyncio
import datetime as dt

import httpx
import pytest

from runner import ActionContext, Services, TenantInfo, errors
from runner.apis import ApiClients, RetryPolicy
from runner.config import SoarConfig
from runner.http import Network
from runner.sim import SimulatedCloud
from soar_defender.kql.tables import KNOWN_BAD_IP, KNOWN_BAD_SHA256
from soar_defender import hunting

from hunting_env import START, Env, plugin_host

BAD_HOSTS_QUERY = ("DeviceProcessEvents | where SHA256 == sha | summarize n = count(), first = min(Timestamp) "
                   "by DeviceId, DeviceName | order by DeviceName asc")
C2_QUERY = ("DeviceNetworkEvents | where RemoteIP == ip | project Timestamp, DeviceId, DeviceName, RemoteUrl, "
            "RemotePort | order by Timestamp asc")


@pytest.fixture
def env():
    e = Env()
    yield e
    e.close()


def test_same_normalized_rows_from_graph_xdr_and_mde(env):
    answers = {api: env.call(api=api, query=C2_QUERY, parameters={"ip": KNOWN_BAD_IP}) for api in ("graph", "xdr", "mde")}
    graph = answers["graph"]
    assert graph["schema"] == [{"name": "Timestamp", "type": "DateTime"}, {"name": "DeviceId", "type": "String"},
                               {"name": "DeviceName", "type": "String"}, {"name": "RemoteUrl", "type": "String"},
                               {"name": "RemotePort", "type": "Int32"}]
    bad = env.cloud.defender.hunting.known_bad_hosts("contoso")[KNOWN_BAD_SHA256]
    assert graph["row_count"] == 3 * len(bad) and {r["DeviceId"] for r in graph["results"]} == set(bad)
    for api, out in answers.items():
        assert out["api"] == api and out["chosen_by"] == "input"
        assert out["schema"] == graph["schema"] and out["results"] == graph["results"], api
        assert out["endpoint"].endswith(hunting.PATHS[api])
    assert graph["stats"] is None and answers["xdr"]["stats"]["dataset_statistics"][0]["table_row_count"] == 6
    assert graph["warnings"] == [] and all("2027-02-01" in answers[a]["warnings"][0] for a in ("xdr", "mde"))
    assert {r["api"] for r in env.hunting_requests()} == {"graph", "xdr", "mde"}


def test_the_planted_hash_ran_exactly_where_the_seed_says(env):
    out = env.call(query=BAD_HOSTS_QUERY, parameters={"sha": KNOWN_BAD_SHA256})
    expected = env.cloud.defender.hunting.known_bad_hosts("contoso")[KNOWN_BAD_SHA256]
    assert sorted(r["DeviceId"] for r in out["results"]) == sorted(expected)
    machines = {d["id"]: d["computerDnsName"] for d in env.cloud.defender.tenant("contoso").devices}
    assert all(machines[r["DeviceId"]] == r["DeviceName"] for r in out["results"])


# ---- which API answers ---------------------------------------------------------------------------

def test_auto_is_graph_by_default(env):
    out = env.call(query="DeviceInfo | count")
    assert (out["api"], out["chosen_by"], out["results"]) == ("graph", "default", [{"Count": 50}])


def test_auto_follows_the_tenant_config():
    cloud = SimulatedCloud(defender={"time_scale": 0, "start": START})
    base = cloud.demo_config().model_dump()
    base["tenants"]["contoso"]["apis"] = {"incidents": "graph", "hunting": "mde"}
    e = Env(cloud, config=SoarConfig.model_validate(base))
    try:
        out = e.call(query="DeviceInfo | count")
        assert (out["api"], out["chosen_by"]) == ("mde", "tenant config")
        assert "retired" in out["warnings"][0]
    finally:
        e.close()


def test_auto_uses_the_role_the_app_holds(env):
    env.cloud.set_roles("contoso", "graph", ["SecurityIncident.Read.All"])
    out = env.call(query="DeviceInfo | count")
    assert (out["api"], out["chosen_by"]) == ("xdr", "roles")
    assert [r["api"] for r in env.hunting_requests()] == ["xdr"]


def test_no_hunting_role_at_all_names_the_roles_and_calls_nothing(env):
    for api in ("graph", "xdr", "mde"):
        env.cloud.set_roles("contoso", api, ["Machine.Read.All"] if api == "mde" else [])
    with pytest.raises(errors.PermissionMissing) as info:
        env.call(query="DeviceInfo | count")
    message = info.value.message
    for role in ("ThreatHunting.Read.All", "AdvancedHunting.Read.All", "AdvancedQuery.Read.All"):
        assert role in message
    assert "no API call was made" in message and "adminconsent" in info.value.hint
    assert env.hunting_requests() == []


def test_forced_api_without_its_role_calls_nothing(env):
    env.cloud.set_roles("contoso", "graph", ["SecurityIncident.Read.All"])
    with pytest.raises(errors.PermissionMissing) as info:
        env.call(api="graph", query="DeviceInfo | count")
    assert "ThreatHunting.Read.All" in info.value.message and info.value.where.tenant == "contoso"
    assert env.hunting_requests() == []


def test_retirement_warning_counts_down_then_says_it_is_gone():
    assert "(70 days from now)" in hunting.retirement_warning("xdr", dt.date(2026, 11, 23))
    assert "stopped returning data on 2027-02-01" in hunting.retirement_warning("mde", dt.date(2027, 3, 1))


# ---- quotas --------------------------------------------------------------------------------------

def test_hunting_calls_draw_on_the_hunting_bucket():
    e = Env(quotas={"hunting": {"per_minute": 2}}, time_scale=0.001)  # a "minute" of 60 ms
    try:
        for _ in range(5):
            assert e.call(query="DeviceInfo | count")["row_count"] == 1
        apis = e.services.apis
        assert apis.bucket("contoso", "hunting").waits >= 1 and "contoso/hunting" in apis.stats()["quota_waits"]
        assert apis.bucket("contoso", "graph").waits == 0
        assert [r["status"] for r in e.hunting_requests()] == [200] * 5
    finally:
        e.close()


def _advancing_sleep(cloud, slept):
    async def sleep(seconds):
        slept.append(seconds)
        cloud.defender.advance(seconds)  # frozen clock: real seconds == simulated seconds
    return sleep


@pytest.mark.parametrize("api", ["xdr", "mde", "graph"])
def test_cpu_quota_429_waits_for_the_reset_its_body_names(api):
    cloud = SimulatedCloud(defender={"time_scale": 0, "start": START})
    slept: list[float] = []
    e = Env(cloud, sleep=_advancing_sleep(cloud, slept))
    try:
        reset = cloud.defender.hunting.exhaust_cpu("contoso")
        out = e.call(api=api, query="DeviceInfo | count")
        assert out["results"] == [{"Count": 50}]
        assert slept == [reset - START] == [900.0]
        first, second = e.hunting_requests()
        assert (first["status"], second["status"]) == (429, 200)
        assert e.services.apis.stats()["throttled"] == {"contoso": {api: 1}}
    finally:
        e.close()


def test_cpu_quota_reset_too_far_away_is_a_clear_error():
    cloud = SimulatedCloud(defender={"time_scale": 0, "start": START})
    e = Env(cloud, retry=RetryPolicy(max_quota_reset=600))
    try:
        cloud.defender.hunting.exhaust_cpu("contoso")
        with pytest.raises(errors.RateLimited) as info:
            e.call(api="xdr", query="DeviceInfo | count")
        assert "CPU quota is used up" in info.value.message and "15 minutes" in info.value.hint
        assert len(e.hunting_requests()) == 1
    finally:
        e.close()


def test_queries_spend_the_tenant_cpu_budget():
    cloud = SimulatedCloud(defender={"time_scale": 0, "start": START, "hunting_cpu_seconds": 0.001})
    slept: list[float] = []
    e = Env(cloud, sleep=_advancing_sleep(cloud, slept))
    try:
        e.call(api="xdr", query="DeviceProcessEvents | count")  # scans ~1,300 rows: 1.3 ms of "CPU"
        assert cloud.defender.hunting.cpu_used("contoso") > 0.001 and slept == []
        e.call(api="xdr", query="DeviceInfo | count")
        assert slept == [900.0]  # blocked until the next 15-minute cycle
        assert cloud.defender.hunting.cpu_used("fabrikam") == 0
    finally:
        e.close()


# ---- limits and refusals ---------------------------------------------------------------------------

def test_result_too_large_is_a_clear_error():
    e = Env(SimulatedCloud(defender={"time_scale": 0, "start": START, "hunting_max_result_bytes": {"graph": 5000}}))
    try:
        with pytest.raises(errors.ApiError) as info:
            e.call(api="graph", query="DeviceProcessEvents")
        err = info.value
        assert err.code == "ResultTooLarge" and "50 MB" in err.message and "project" in err.hint
        assert "exceeded the allowed result size" in err.message
        assert e.call(api="xdr", query="DeviceProcessEvents | take 10")["row_count"] == 10
    finally:
        e.close()


def test_row_limit_and_max_rows(monkeypatch):
    monkeypatch.setattr(hunting, "ROW_LIMIT", 50)
    e = Env(SimulatedCloud(defender={"time_scale": 0, "start": START, "hunting_max_rows": 50}))
    try:
        with pytest.raises(errors.ApiError) as info:
            e.call(query="DeviceProcessEvents")
        assert info.value.code == "RowLimitReached" and "allow_truncated" in info.value.hint
        assert e.call(query="DeviceProcessEvents", allow_truncated=True)["row_count"] == 50
        with pytest.raises(errors.ApiError) as info:
            e.call(query="DeviceInfo | take 5", max_rows=3)
        assert info.value.code == "TooManyRows" and "more than max_rows (3)" in info.value.message
    finally:
        e.close()


def test_refused_query_names_operator_and_position(env):
    with pytest.raises(errors.ApiError) as info:
        env.call(api="xdr", query="DeviceProcessEvents | facet by FileName")
    err = info.value
    assert err.status == 400 and "Query could not be parsed at 'facet' on line [1,23]" in err.message
    assert "docs/kql.md" in err.hint and "let" not in err.hint
    with pytest.raises(errors.ApiError) as info:
        env.call(api="graph", query="DeviceInfo\n| where DeviceNme == x", parameters={"x": "pc"})
    assert "'where' operator: Failed to resolve scalar expression named 'DeviceNme' (line 3, column 9)" \
        in info.value.message
    assert "`let`s for `parameters`" in info.value.hint


def test_timespan_is_graphs_and_refused_elsewhere(env):
    everything = env.call(api="graph", query="DeviceProcessEvents | count")["results"][0]["Count"]
    last_day = env.call(api="graph", query="DeviceProcessEvents | count", timespan="1d")["results"][0]["Count"]
    assert 0 < last_day < everything
    assert env.call(api="graph", query="DeviceProcessEvents | count", timespan="P1D")["results"][0]["Count"] == last_day
    assert env.call(api="xdr", query="DeviceProcessEvents | count", timespan="P30D")["results"][0]["Count"] == everything
    with pytest.raises(errors.ActionInputError) as info:
        env.call(api="xdr", query="DeviceProcessEvents | count", timespan="7d")
    assert "ago(7d)" in info.value.hint
    with pytest.raises(errors.ActionInputError):
        env.call(api="graph", query="DeviceInfo", timespan="a week")


def test_parameters_are_quoted_not_pasted(env):
    tricky = 'x" or 1 == 1 or "\\ \n\t\'end'
    out = env.call(query="DeviceInfo | take 1 | project v = p, n = k, b = flag", parameters={"p": tricky, "k": 7,
                                                                                            "flag": True})
    assert out["results"] == [{"v": tricky, "n": 7, "b": True}]
    action = plugin_host().actions.get("defender.run_hunting_query")
    for bad in ({"1x": "a"}, {"p": "a\x00b"}, {"p": float("nan")}):
        with pytest.raises(ValueError):
            action.input_model.model_validate({"query": "DeviceInfo", "parameters": bad})


# ---- casing, timeouts, headers (a mock endpoint) -------------------------------------------------

ANSWERS = {
    "graph": {"@odata.context": "x", "schema": [{"name": "A", "type": "String"}], "results": [{"A": "g"}]},
    "xdr": {"Stats": {"ExecutionTime": 0.1}, "Schema": [{"Name": "A", "Type": "String"}], "Results": [{"A": "x"}]},
    "mde": {"SCHEMA": [{"NAME": "A", "TYPE": "String"}], "RESULTS": [{"A": "m"}]},
}


def test_every_casing_is_normalized_and_each_endpoint_gets_its_timeout():
    seen = {}

    def handler(request: httpx.Request) -> httpx.Response:
        api = next(a for a, p in hunting.PATHS.items() if request.url.path == p)
        seen[api] = (request.extensions["timeout"]["read"], request.headers["content-type"], request.content)
        return httpx.Response(200, json=ANSWERS[api])

    net = Network.simulated(handler)
    services = Services(plugins=plugin_host(), store=None, network=net)
    services.apis = ApiClients(net)
    ctx = ActionContext(run_id="r", step_id="s", item=None, attempt=1, tenant=TenantInfo("t"), dry_run=False,
                        services=services)
    action = plugin_host().actions.get("defender.run_hunting_query")
    for api, letter in (("graph", "g"), ("xdr", "x"), ("mde", "m")):
        inputs = action.input_model.model_validate({"api": api, "query": "T | where A == 'é'"})
        out = asyncio.run(action.func(ctx, inputs)).model_dump(by_alias=True)
        assert out["schema"] == [{"name": "A", "type": "String"}] and out["results"] == [{"A": letter}]
        assert out["stats"] == ({"ExecutionTime": 0.1} if api == "xdr" else None)
    assert {api: s[0] for api, s in seen.items()} == {"graph": 195.0, "xdr": 195.0, "mde": 215.0}
    assert all(s[1] == "application/json; charset=utf-8" for s in seen.values())
    assert "é".encode() in seen["graph"][2]


def test_normalize_refuses_an_answer_without_results():
    with pytest.raises(errors.ApiError):
        hunting.normalize({"error": "nope"})
    assert hunting.normalize({"Results": [], "Schema": []}) == ([], [], None)
