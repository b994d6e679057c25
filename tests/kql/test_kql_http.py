"""The KQL simulator through the simulated HTTP endpoints (Graph runHuntingQuery, XDR
advancedhunting/run, MDE advancedqueries/run), with real tokens from the simulated Entra ID.

The known-answer and refused queries of test_kql_queries / test_kql_errors run again over HTTP on
the hand-made dataset (served as contoso's tables); the seeded tables are checked against the
tenant's own devices and alerts.
"""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from runner.auth import TokenProvider
from runner.auth.cache import MemoryCacheStore
from runner.sim import SimulatedCloud
from soar_defender.kql import API_TYPE_NAMES
from soar_defender.kql.tables import KNOWN_BAD_SHA256, known_bad_hosts

from kql_dataset import NOW, make_tables
from test_kql_errors import CASES as REFUSED
from test_kql_errors import end_of, pos_of
from test_kql_queries import CASES as ANSWERED

URLS = {"graph": "https://graph.microsoft.com/v1.0/security/runHuntingQuery",
        "xdr": "https://api.security.microsoft.com/api/advancedhunting/run",
        "mde": "https://api.securitycenter.microsoft.com/api/advancedqueries/run"}


class Hunter:
    """POSTs hunting queries for a tenant, holding a real token per API."""

    def __init__(self, cloud: SimulatedCloud) -> None:
        self.cloud = cloud
        self.http = httpx.Client(transport=httpx.MockTransport(cloud.handler))
        self.provider = TokenProvider(cloud.demo_config(), cloud.network(), cache_store=MemoryCacheStore())
        self.tokens: dict[tuple[str, str], str] = {}

    def post(self, api: str, body: dict, tenant: str = "contoso") -> httpx.Response:
        if (tenant, api) not in self.tokens:
            self.tokens[(tenant, api)] = asyncio.run(self.provider.get_token(tenant, api)).value.reveal()
        return self.http.post(URLS[api], json=body, headers={"Authorization": f"Bearer {self.tokens[(tenant, api)]}"})

    def rows(self, api: str, query: str, tenant: str = "contoso") -> list[dict]:
        r = self.post(api, {"Query": query}, tenant)
        assert r.status_code == 200, r.text
        body = r.json()
        return body["results"] if api == "graph" else body["Results"]

    def close(self) -> None:
        self.http.close()
        self.provider.close()


@pytest.fixture(scope="module")
def handmade():
    """contoso serves the hand-made dataset of kql_dataset.py, at its NOW."""
    cloud = SimulatedCloud(defender={"time_scale": 0, "start": NOW.timestamp(), "quotas": False})
    cloud.defender.hunting.set_tables("contoso", make_tables())
    hunter = Hunter(cloud)
    yield hunter
    hunter.close()


@pytest.fixture(scope="module")
def seeded():
    hunter = Hunter(SimulatedCloud(defender={"time_scale": 0, "start": NOW.timestamp(), "quotas": False}))
    yield hunter
    hunter.close()


def _answer_cases():
    for name, query, columns, rows in ANSWERED:
        for api in ("graph", "xdr", "mde"):
            if api == "mde" and "Extra" in query:
                continue  # MDE sees the Device* tables only
            yield pytest.param(api, query, columns, rows, id=f"{api}-{name}")


def test_enough_cases_go_through_http():
    answered = list(_answer_cases())
    assert len({p.values[1] for p in answered}) >= 40 and len(REFUSED) >= 15


@pytest.mark.parametrize("api,query,columns,rows", list(_answer_cases()))
def test_known_answers_over_http(handmade, api, query, columns, rows):
    r = handmade.post(api, {"Query": query})
    assert r.status_code == 200, r.text
    body = r.json()
    schema = body["schema"] if api == "graph" else body["Schema"]
    name, type_ = ("name", "type") if api == "graph" else ("Name", "Type")
    expected = [(c.split(":")[0], API_TYPE_NAMES[c.split(":")[1]]) for c in columns]
    assert [(c[name], c[type_]) for c in schema] == expected
    names = [c[name] for c in schema]
    results = body["results"] if api == "graph" else body["Results"]
    assert [tuple(row[n] for n in names) for row in results] == rows


@pytest.mark.parametrize("api", ["graph", "xdr", "mde"])
@pytest.mark.parametrize("query,code,operator,name,where,fragment", [c[1:] for c in REFUSED],
                         ids=[c[0] for c in REFUSED])
def test_refused_queries_are_located_400s(handmade, api, query, code, operator, name, where, fragment):
    r = handmade.post(api, {"Query": query})
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["code"] == "BadRequest" and fragment in error["message"]
    assert ("innerError" in error) if api == "graph" else ("target" in error)
    if where is not None:
        line, column = end_of(query) if where == "END" else pos_of(query, where)
        assert f"line [{line},{column}]" in error["message"] or f"(line {line}, column {column})" in error["message"]
    if operator:
        assert operator in error["message"]


def test_graph_timespan_over_http(handmade):
    r = handmade.post("graph", {"Query": "DeviceProcessEvents | count", "Timespan": "P2D"})
    assert r.json()["results"] == [{"Count": 4}]
    r = handmade.post("graph", {"Query": "DeviceProcessEvents | count", "Timespan": "two days"})
    assert r.status_code == 400 and "ISO 8601" in r.json()["error"]["message"]


# ---- the seeded tables are the tenant's --------------------------------------------------------

def test_device_tables_name_the_tenants_machines(seeded):
    devices = {d["id"]: d for d in seeded.cloud.defender.tenant("contoso").devices}
    info = seeded.rows("xdr", "DeviceInfo | summarize arg_max(Timestamp, *) by DeviceId | project DeviceId, "
                              "DeviceName, OSPlatform")
    assert {r["DeviceId"] for r in info} == set(devices)
    assert all(devices[r["DeviceId"]]["computerDnsName"] == r["DeviceName"] for r in info)
    assert all(devices[r["DeviceId"]]["osPlatform"] == r["OSPlatform"] for r in info)
    seen = seeded.rows("mde", "DeviceProcessEvents | distinct DeviceId")
    assert {r["DeviceId"] for r in seen} <= set(devices)


def test_alert_tables_hold_the_tenants_alerts_and_their_evidence(seeded):
    alerts = seeded.cloud.defender.tenant("contoso").alerts
    info = seeded.rows("graph", "AlertInfo | project AlertId, Title")
    assert sorted((r["AlertId"], r["Title"]) for r in info) == sorted((a["id"], a["title"]) for a in alerts)
    alert = next(a for a in alerts if any(ev.get("sha1") for ev in a["evidence"]) and a.get("machineId"))
    sha1 = next(ev["sha1"] for ev in alert["evidence"] if ev.get("sha1"))
    hits = seeded.rows("xdr", f'DeviceProcessEvents | where SHA1 == "{sha1}" | distinct DeviceId')
    assert alert["machineId"] in {r["DeviceId"] for r in hits}
    assert seeded.post("mde", {"Query": "AlertInfo | count"}).status_code == 400  # not an MDE table


def test_known_bad_hash_per_tenant(seeded):
    for tenant in ("contoso", "fabrikam"):
        rows = seeded.rows("graph", f'DeviceProcessEvents | where SHA256 == "{KNOWN_BAD_SHA256}" '
                                    "| distinct DeviceId", tenant)
        expected = known_bad_hosts(seeded.cloud.defender.tenant(tenant).devices)[KNOWN_BAD_SHA256]
        assert sorted(r["DeviceId"] for r in rows) == sorted(expected) and len(expected) == 2
    contoso = seeded.rows("xdr", "DeviceInfo | distinct DeviceId")
    fabrikam = seeded.rows("xdr", "DeviceInfo | distinct DeviceId", "fabrikam")
    assert not {r["DeviceId"] for r in contoso} & {r["DeviceId"] for r in fabrikam}


# ---- limits and the CPU quota, as the wire shows them ----------------------------------------------

def test_result_size_limit_is_the_services_400():
    hunter = Hunter(SimulatedCloud(defender={"time_scale": 0, "hunting_max_result_bytes": {"mde": 10_000}}))
    try:
        r = hunter.post("mde", {"Query": "DeviceProcessEvents"})
        assert r.status_code == 400
        assert r.json()["error"]["message"].startswith("Query execution has exceeded the allowed result size.")
        assert hunter.post("xdr", {"Query": "DeviceProcessEvents"}).status_code == 200
    finally:
        hunter.close()


def test_cpu_quota_429_names_its_reset_in_the_body():
    cloud = SimulatedCloud(defender={"time_scale": 0, "start": NOW.timestamp()})
    hunter = Hunter(cloud)
    try:
        reset = cloud.defender.hunting.exhaust_cpu("contoso")
        r = hunter.post("xdr", {"Query": "DeviceInfo | count"})
        assert r.status_code == 429 and "retry-after" not in r.headers
        message = r.json()["error"]["message"]
        assert "CPU" in message and "2026-11-23T12:15:00.000Z" in message and "try again in 900 seconds" in message
        assert hunter.post("xdr", {"Query": "DeviceInfo | count"}, "fabrikam").status_code == 200  # per tenant
        cloud.defender.advance(reset - cloud.defender.clock.now())
        assert hunter.post("xdr", {"Query": "DeviceInfo | count"}).status_code == 200
    finally:
        hunter.close()


def test_hunting_count_quota_is_45_per_minute():
    cloud = SimulatedCloud(defender={"time_scale": 0, "start": NOW.timestamp()})
    hunter = Hunter(cloud)
    try:
        statuses = [hunter.post("graph", {"Query": "DeviceInfo | take 1"}).status_code for _ in range(46)]
        assert statuses == [200] * 45 + [429]
        assert json.loads(hunter.post("xdr", {"Query": "DeviceInfo | take 1"}).text)["Results"]  # its own bucket
    finally:
        hunter.close()
