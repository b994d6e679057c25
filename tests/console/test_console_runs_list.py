"""The runs list: filters (playbook, status, tenant, trigger, time) and keyset paging, in the
API and the page, against runs written straight into the store."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

from console_harness import fill_runs

from runner.console.runlist import RunFilter, list_page

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


async def _all_pages(http, params: dict, limit: int) -> list[str]:
    ids, after, pages = [], None, 0
    while True:
        query = {**params, "limit": limit, **({"after": after} if after else {})}
        r = await http.get("/api/v1/runs", params=query)
        assert r.status_code == 200, r.text
        doc = r.json()
        assert len(doc["runs"]) <= limit
        ids += [row["run_id"] for row in doc["runs"]]
        pages += 1
        after = doc["next"]
        if after is None:
            return ids
        assert pages < 100


def test_filters_and_keyset_paging_through_the_api(console):
    async def main():
        await console.start()
        made = fill_runs(console.service.store, 130)
        cases = [
            ({}, lambda m: True),
            ({"playbook": "pb-1"}, lambda m: m["playbook"] == "pb-1"),
            ({"status": "failed"}, lambda m: m["status"] == "failed"),
            ({"tenant": "woodgrove"}, lambda m: "woodgrove" in m["tenants"]),
            ({"tenant": "fabrikam"}, lambda m: "fabrikam" in m["tenants"]),  # single-tenant runs and families
            ({"trigger": "poll"}, lambda m: m["trigger"] == "poll"),
            ({"since": "2026-01-01T00:30:00Z", "until": "2026-01-01T01:00:00"},
             lambda m: T0 + timedelta(minutes=30) <= m["created_at"] < T0 + timedelta(minutes=60)),
            ({"playbook": "pb-0", "status": "succeeded", "tenant": "contoso"},
             lambda m: m["playbook"] == "pb-0" and m["status"] == "succeeded" and "contoso" in m["tenants"]),
            ({"tenant": "nobody"}, lambda m: False),
        ]
        async with console.client("viewer") as http:
            for params, keep in cases:
                expected = [m["run_id"] for m in made if keep(m)]
                assert await _all_pages(http, params, limit=7) == expected, params
            first = (await http.get("/api/v1/runs", params={"limit": 5})).json()
            row = first["runs"][0]
            assert row["run_id"] == made[0]["run_id"] and row["duration_s"] == 3.0
            family = next(r for r in (await http.get("/api/v1/runs", params={"limit": 200})).json()["runs"]
                          if r["tenant"] is None)
            assert family["tenants"] == ["contoso", "fabrikam"]
            for bad in ({"status": "nope"}, {"since": "yesterday"}, {"after": "garbage!"}, {"limit": "0"},
                        {"limit": "x"}):
                r = await http.get("/api/v1/runs", params=bad)
                assert r.status_code == 400 and r.json()["error"], bad
        await console.stop()

    asyncio.run(main())


def test_a_new_run_does_not_shift_the_next_page(console):
    async def main():
        await console.start()
        store = console.service.store
        made = fill_runs(store, 30)
        page1, cursor = list_page(store, RunFilter(), limit=10)
        fill_runs(store, 5, start=T0 + timedelta(days=1))  # newer runs arrive meanwhile
        page2, _ = list_page(store, RunFilter(), after=cursor, limit=10)
        assert [r.id for r in page1 + page2] == [m["run_id"] for m in made[:20]]
        await console.stop()

    asyncio.run(main())


def test_the_runs_page_filters_and_links_to_the_next_page(console):
    async def main():
        await console.start()
        made = fill_runs(console.service.store, 100)
        async with console.client("viewer") as http:
            r = await http.get("/runs", params={"status": "failed", "limit": "4"})
            assert r.status_code == 200
            failed = [m["run_id"] for m in made if m["status"] == "failed"]
            assert all(run_id in r.text for run_id in failed[:4]) and failed[4] not in r.text
            assert made[1]["run_id"] not in r.text  # not failed
            assert 'value="failed" selected' in r.text  # the form shows the filter
            next_url = r.text.split('rel="next"')[0].rsplit('href="', 1)[1].split('"')[0].replace("&amp;", "&")
            assert "status=failed" in next_url and "after=" in next_url and "limit=4" in next_url
            r2 = await http.get(next_url)
            assert failed[4] in r2.text and failed[0] not in r2.text and "Newest" in r2.text
            assert failed[5] in r2.text and failed[8] not in r2.text  # four a page
            r = await http.get("/runs", params={"since": "not a time"})
            assert r.status_code == 400 and "since" in r.text and "ISO 8601" in r.text
        await console.stop()

    asyncio.run(main())
