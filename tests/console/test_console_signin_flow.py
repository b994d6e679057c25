"""Sign-in to the console through the simulated Entra ID, in process (serve's whole app):
cookies, CSRF, roles in pages and API, bearer tokens of scripts."""

from __future__ import annotations

import asyncio
import base64
import logging

import httpx
import pytest
from test_console_signin_kit import GATED, HOOK_SECRET, Browser, ConsoleHarness, gates, set_cookies

from runner.sim import SimulatedCloud


@pytest.fixture(autouse=True)
def _hook_secret(monkeypatch):
    monkeypatch.setenv("SOAR_TEST_CONSOLE_HOOK", HOOK_SECRET)


@pytest.fixture
def cloud():
    return SimulatedCloud()


def test_alice_signs_in_and_decides_with_the_csrf_token_only(tmp_path, cloud, caplog):
    caplog.set_level(logging.DEBUG)
    harness = ConsoleHarness(tmp_path, cloud)
    (harness.dir / "gated.yaml").write_text(GATED)
    alice = cloud.entra.signin.users["alice"]

    async def main():
        await harness.start()
        async with harness.client() as http:
            run_id = await harness.gated_run(http)
            first = await http.get("/runs", headers={"Accept": "text/html"})
            assert first.status_code == 303 and first.headers["location"] == "/signin?next=/runs"
            assert (await http.get("/api/v1/runs")).status_code == 401
            browser = Browser(http)
            done = await browser.sign_in("alice")
            assert done.status_code == 303 and done.headers["location"] == "/runs"
            cookie = set_cookies(done)["soar_session"]
            flags = [p.strip() for p in cookie.split(";")[1:]]
            assert {"HttpOnly", "SameSite=Lax", "Path=/"} <= set(flags) and "Secure" not in flags  # loopback
            assert set_cookies(done)["soar_signin"].split(";")[0] == "soar_signin="  # flow cookie cleared
            # the session holds no token: not in clear, not base64 of one
            value = cookie.split(";")[0].split("=", 1)[1]
            assert "eyJ" not in value and b"eyJ" not in base64.urlsafe_b64decode(value + "==")
            page = await http.get("/runs")
            assert page.status_code == 200 and alice.display in page.text
            me = (await http.get("/api/v1/me")).json()
            assert me["name"] == alice.username and "Responder" in me["roles"]
            token = me["csrf_token"]
            url = f"/api/v1/approvals/{run_id}/ask"
            refused = await http.post(url, json={"decision": "approve", "reason": "ok"})
            assert refused.status_code == 403 and "CSRF" in refused.json()["error"]
            wrong = await http.post(url, json={"decision": "approve"}, headers={"X-CSRF-Token": token[::-1]})
            assert wrong.status_code == 403
            assert {g.status for g in gates(harness.service.store, run_id)} == {"pending"}
            ok = await http.post(url, json={"decision": "approve", "reason": "ok"}, headers={"X-CSRF-Token": token})
            assert ok.status_code == 200, ok.text
        decided = gates(harness.service.store, run_id)
        assert len(decided) == 2 and {(g.status, g.decided_by) for g in decided} == {("approved", alice.username)}
        store = harness.service.store
        trail = [e for g in decided for e in store.events(g.run_id) if e.kind.startswith("approval")]
        assert trail and all(e.actor == alice.username and e.data.get("actor_oid") == alice.oid for e in trail)
        await harness.stop()

    asyncio.run(main())
    # the client secret never reaches a log line
    secret = cloud.app.secret.reveal()
    assert secret not in caplog.text and "signed in" in caplog.text and alice.oid in caplog.text


def test_a_viewer_is_refused_a_decision_in_the_page_and_in_the_api(tmp_path, cloud):
    harness = ConsoleHarness(tmp_path, cloud)
    (harness.dir / "gated.yaml").write_text(GATED)

    async def main():
        await harness.start()
        async with harness.client() as http:
            run_id = await harness.gated_run(http)
            browser = Browser(http)
            await browser.sign_in("victor")
            token = await browser.csrf()
            page = await http.get(f"/approvals/{run_id}/ask")
            assert page.status_code == 200  # a Viewer reads
            form = await http.post(f"/approvals/{run_id}/ask/decision",
                                   data={"decision": "approve", "reason": "x", "csrf_token": token})
            assert form.status_code == 403 and "Responder" in form.text and "text/html" in form.headers["content-type"]
            api = await http.post(f"/api/v1/approvals/{run_id}/ask", json={"decision": "approve"},
                                  headers={"X-CSRF-Token": token})
            assert api.status_code == 403 and "Responder" in api.json()["error"]
        assert {g.status for g in gates(harness.service.store, run_id)} == {"pending"}
        await harness.stop()

    asyncio.run(main())


def test_a_user_without_a_console_role_reads_nothing(tmp_path, cloud):
    harness = ConsoleHarness(tmp_path, cloud)

    async def main():
        await harness.start()
        async with harness.client() as http:
            await Browser(http).sign_in("nora")
            assert (await http.get("/api/v1/runs")).status_code == 403
            assert (await http.get("/runs")).status_code == 403
        await harness.stop()

    asyncio.run(main())


def test_bearer_tokens_of_scripts(tmp_path, cloud):
    harness = ConsoleHarness(tmp_path, cloud)
    (harness.dir / "gated.yaml").write_text(GATED)
    directory = cloud.entra.signin

    async def main():
        await harness.start()
        async with harness.client() as http:
            run_id = await harness.gated_run(http)
            url = f"/api/v1/approvals/{run_id}/ask"

            def bearer(raw: str) -> dict:
                return {"Authorization": f"Bearer {raw}"}

            # a token from the token endpoint, as a script gets it (client credentials)
            automation = directory.clients["automation"]
            answer = cloud.handler(httpx.Request(
                "POST", f"https://login.microsoftonline.com/{directory.tenant.id}/oauth2/v2.0/token",
                data={"grant_type": "client_credentials", "client_id": automation.client_id,
                      "client_secret": automation.secret.reveal(),
                      "scope": f"api://{directory.console_client_id}/.default"}))
            assert answer.status_code == 200, answer.text
            responder = answer.json()["access_token"]
            viewer = directory.app_token("reporting")
            nobody = directory.app_token("unassigned")
            other_audience = directory.app_token("automation", audience="api://some-other-app")
            other_tenant = cloud.issue_token("contoso", roles=["Responder"], aud=directory.console_client_id)
            forged = directory.app_token("automation")[:-4] + "AAAA"
            id_token_like = directory.app_token("automation", nonce="n")

            assert (await http.get("/api/v1/runs", headers=bearer(viewer))).status_code == 200
            assert (await http.get("/api/v1/runs", headers=bearer(nobody))).status_code == 403
            refused = await http.post(url, json={"decision": "approve"}, headers=bearer(viewer))
            assert refused.status_code == 403 and "Responder" in refused.json()["error"]
            for raw in (other_audience, other_tenant, forged, id_token_like, "not-a-jwt"):
                r = await http.get("/api/v1/runs", headers=bearer(raw))
                assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer"), raw[:20]
            # a bearer call needs no CSRF token
            ok = await http.post(url, json={"decision": "deny", "reason": "script"}, headers=bearer(responder))
            assert ok.status_code == 200, ok.text
        decided = {(g.status, g.decided_by) for g in gates(harness.service.store, run_id)}
        assert decided == {("denied", f"app:{automation.client_id}")}
        await harness.stop()

    asyncio.run(main())


def test_cookies_are_secure_off_loopback(tmp_path, cloud):
    harness = ConsoleHarness(tmp_path, cloud, redirect_uri="https://soar.example.com/auth/callback")

    async def main():
        await harness.start()
        async with harness.client(base_url="https://soar.example.com", client=("203.0.113.9", 4000)) as http:
            done = await Browser(http).sign_in("ada")
            assert done.status_code == 303, done.text
            cookies = set_cookies(done)
            assert "__Host-soar_session" in cookies
            flags = [p.strip() for p in cookies["__Host-soar_session"].split(";")[1:]]
            assert {"HttpOnly", "SameSite=Lax", "Path=/", "Secure"} <= set(flags)
            me = await http.get("/api/v1/me")
            assert me.status_code == 200 and me.json()["roles"] == ["Admin"]
        await harness.stop()

    asyncio.run(main())
