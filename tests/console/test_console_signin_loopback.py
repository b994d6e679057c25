"""Without ``console:`` in soar.yaml the console answers on loopback only, as the local Admin,
and still refuses what a browser on another site would send it."""

from __future__ import annotations

import asyncio

import pytest
from test_console_signin_kit import GATED, HOOK_SECRET, ConsoleHarness, gates

from runner.sim import SimulatedCloud

ORIGIN = "http://127.0.0.1:8080"


@pytest.fixture(autouse=True)
def _hook_secret(monkeypatch):
    monkeypatch.setenv("SOAR_TEST_CONSOLE_HOOK", HOOK_SECRET)


def test_everyone_on_loopback_is_the_local_admin_and_the_page_says_so(tmp_path):
    harness = ConsoleHarness(tmp_path, SimulatedCloud(), signin=False)

    async def main():
        await harness.start()
        async with harness.client() as http:
            me = await http.get("/api/v1/me")
            assert me.status_code == 200, me.text
            assert me.json()["name"] == "local" and me.json()["roles"] == ["Admin"]
            assert me.json()["signin_note"] == "sign-in not configured: loopback only"
            page = await http.get("/runs")
            assert page.status_code == 200 and "sign-in not configured: loopback only" in page.text
            signin = await http.get("/signin")
            assert signin.status_code == 200 and "not configured" in signin.text
            assert not signin.headers.get_list("set-cookie")
        async with harness.client(base_url="http://localhost:8080", client=("::1", 5000)) as http:
            assert (await http.get("/api/v1/me")).status_code == 200
        await harness.stop()

    asyncio.run(main())


@pytest.mark.parametrize("client, base, headers, why", [
    (("203.0.113.9", 4000), ORIGIN, {}, "comes from 203.0.113.9"),
    (("10.1.2.3", 4000), "http://10.0.0.5:8080", {}, "comes from 10.1.2.3"),
    (("127.0.0.1", 4000), "http://rebind.example:8080", {}, "addressed to 'rebind.example:8080'"),
    (("127.0.0.1", 4000), ORIGIN, {"X-Forwarded-For": "198.51.100.7"}, "forwarded by a proxy"),
])
def test_other_machines_are_refused(tmp_path, client, base, headers, why):
    harness = ConsoleHarness(tmp_path, SimulatedCloud(), signin=False)

    async def main():
        await harness.start()
        async with harness.client(base_url=base, client=client, headers=headers) as http:
            api = await http.get("/api/v1/runs")
            assert api.status_code == 403 and why in api.json()["error"]
            assert "loopback only" in api.json()["error"] and "console:" in api.json()["hint"]
            page = await http.get("/runs")
            assert page.status_code == 403 and "loopback only" in page.text
            assert (await http.get("/signin")).status_code == 403
            # serve's own endpoints keep answering (webhooks come from other machines)
            assert (await http.get("/healthz")).status_code == 200
        await harness.stop()

    asyncio.run(main())


def test_unsafe_requests_from_a_browser_need_the_token_and_the_same_origin(tmp_path):
    harness = ConsoleHarness(tmp_path, SimulatedCloud(), signin=False)
    (harness.dir / "gated.yaml").write_text(GATED)

    async def main():
        await harness.start()
        async with harness.client() as http:
            run_id = await harness.gated_run(http)
            token = (await http.get("/api/v1/me")).json()["csrf_token"]
            assert token
            url = f"/api/v1/approvals/{run_id}/ask"
            body = {"decision": "approve", "reason": "ok"}
            same = {"Origin": ORIGIN}
            # another site's page posting to the console: refused, token or not
            for hdrs in ({"Origin": "http://evil.example"}, {"Origin": "http://localhost:3000"},
                         {"Sec-Fetch-Site": "cross-site"}, {"Origin": "null"}):
                r = await http.post(url, json=body, headers={**hdrs, "X-CSRF-Token": token})
                assert r.status_code == 403, hdrs
            form = await http.post(f"/approvals/{run_id}/ask/decision", headers={"Origin": "http://evil.example"},
                                   data={"decision": "approve", "csrf_token": token})
            assert form.status_code == 403
            # this console's own page without the token: refused
            r = await http.post(url, json=body, headers=same)
            assert r.status_code == 403 and "CSRF" in r.json()["error"]
            assert {g.status for g in gates(harness.service.store, run_id)} == {"pending"}
            # with it (form field): accepted
            form = await http.post(f"/approvals/{run_id}/ask/decision", headers=same,
                                   data={"decision": "approve", "reason": "ok", "csrf_token": token})
            assert form.status_code in (200, 303), form.text
        decided = gates(harness.service.store, run_id)
        assert {(g.status, g.decided_by) for g in decided} == {("approved", "local")}
        await harness.stop()

    asyncio.run(main())


def test_a_script_on_this_machine_needs_no_token(tmp_path):
    harness = ConsoleHarness(tmp_path, SimulatedCloud(), signin=False)
    (harness.dir / "gated.yaml").write_text(GATED)

    async def main():
        await harness.start()
        async with harness.client() as http:
            run_id = await harness.gated_run(http)
            r = await http.post(f"/api/v1/approvals/{run_id}/ask", json={"decision": "deny", "reason": "curl"})
            assert r.status_code == 200, r.text
        assert {g.status for g in gates(harness.service.store, run_id)} == {"denied"}
        await harness.stop()

    asyncio.run(main())
