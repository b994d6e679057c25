"""externaldata over the local copies the simulator was given for its URLs (it fetches none)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import httpx
import pytest

from soar_defender.kql import KqlError, run_query

NOW = datetime(2026, 11, 23, tzinfo=timezone.utc)
FEED = "https://feeds.example/ips.csv"
COPIES = {
    FEED: "first_seen,ip,port\n2026-11-20 10:00:00,192.0.2.66,443\n2026-11-21 11:00:00,198.51.100.7,\n",
    "https://feeds.example/hashes.txt": "aaa\n\nbbb\n",
    "https://feeds.example/t.tsv": "x\t1\ny\t2\n",
    "https://feeds.example/objs.json": '{"name": "a", "n": 1, "tags": ["t"]}\n{"name": "b", "n": 2}\n',
}


def run(query: str):
    return run_query(query, {}, now=NOW, external=COPIES.get)


def test_csv_columns_are_typed_by_position_and_the_header_skipped():
    result = run(f'externaldata(first_seen:datetime, ip:string, port:int)["{FEED}"] '
                 'with (format="csv", ignoreFirstRecord=true)')
    assert [(c.name, c.type) for c in result.columns] == [("first_seen", "datetime"), ("ip", "string"), ("port", "int")]
    assert result.rows == [
        {"first_seen": datetime(2026, 11, 20, 10, tzinfo=timezone.utc), "ip": "192.0.2.66", "port": 443},
        {"first_seen": datetime(2026, 11, 21, 11, tzinfo=timezone.utc), "ip": "198.51.100.7", "port": None}]


@pytest.mark.parametrize("query, rows", [
    ('externaldata(h:string)["https://feeds.example/hashes.txt"] with (format="txt")', [{"h": "aaa"}, {"h": "bbb"}]),
    ('externaldata(k:string, v:long)["https://feeds.example/t.tsv"] with (format="tsv")',
     [{"k": "x", "v": 1}, {"k": "y", "v": 2}]),
    ('externaldata(name:string, n:long, tags:dynamic)["https://feeds.example/objs.json"] with (format="multijson")',
     [{"name": "a", "n": 1, "tags": ["t"]}, {"name": "b", "n": 2, "tags": None}]),
    ('externaldata(name:string)["https://feeds.example/objs.json"] with (format=multijson)',  # a bare word
     [{"name": "a"}, {"name": "b"}]),
])
def test_other_formats(query, rows):
    assert run(query).rows == rows


def test_a_feed_joins_the_tables_like_any_other_table():
    q = (f'let Bad = externaldata(first_seen:datetime, ip:string, port:int)["{FEED}"] with (ignoreFirstRecord=true); '
         'datatable(RemoteIP:string)["192.0.2.66", "203.0.113.1"] | where RemoteIP in ((Bad | project ip))')
    assert run(q).rows == [{"RemoteIP": "192.0.2.66"}]


def test_a_url_with_no_local_copy_is_refused_saying_how_to_give_one():
    with pytest.raises(KqlError) as err:
        run('externaldata(a:string)["https://elsewhere.example/x.csv"]')
    message = err.value.message
    assert err.value.code == "NotSupported" and "is not supported by the simulated hunting service" in message
    assert "https://elsewhere.example/x.csv" in message and "hunting_external_data" in message
    with pytest.raises(KqlError, match="not supported"):
        run_query('externaldata(a:string)["https://elsewhere.example/x.csv"]', {}, now=NOW)  # no copies at all


def test_the_simulated_service_reads_the_copies_it_was_given(tmp_path):
    from runner.auth import TokenProvider
    from runner.auth.cache import MemoryCacheStore
    from runner.sim import SimulatedCloud

    copy = tmp_path / "ips.csv"
    copy.write_text(COPIES[FEED], encoding="utf-8")
    missing = str(tmp_path / "gone.csv")
    cloud = SimulatedCloud(defender={"time_scale": 0, "quotas": False, "hunting_external_data": {
        FEED: str(copy), "https://feeds.example/gone.csv": missing}})
    provider = TokenProvider(cloud.demo_config(), cloud.network(), cache_store=MemoryCacheStore())
    try:
        token = asyncio.run(provider.get_token("contoso", "xdr")).value.reveal()
    finally:
        provider.close()
    with httpx.Client(transport=httpx.MockTransport(cloud.handler)) as http:
        def post(query):
            return http.post("https://api.security.microsoft.com/api/advancedhunting/run", json={"Query": query},
                             headers={"Authorization": f"Bearer {token}"})
        ok = post(f'externaldata(first_seen:datetime, ip:string, port:int)["{FEED}"] with (ignoreFirstRecord=true) '
                  "| project ip")
        assert ok.status_code == 200 and ok.json()["Results"] == [{"ip": "192.0.2.66"}, {"ip": "198.51.100.7"}]
        gone = post('externaldata(a:string)["https://feeds.example/gone.csv"]')
        assert gone.status_code == 400 and "gone.csv" in gone.json()["error"]["message"]
