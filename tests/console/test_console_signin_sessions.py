"""Console sessions: sealed cookies (expiry, tampering, another key), signing out, a callback
whose cookie a cross-site post left behind, and a client secret that no page or log shows."""

from __future__ import annotations

import asyncio
import logging

import pytest
from test_console_signin_kit import Browser, ConsoleHarness, action_of, fields_of, set_cookies

from runner.console.sessions import SESSION, Sealer, Session, cookie_header
from runner.sim import SimulatedCloud


class Clock:
    now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_sealed_session_opens_only_with_its_key_until_it_expires():
    clock = Clock()
    sealer = Sealer(b"k" * 32, clock=clock)
    session = Session.start(name="alice@x", display="Alice", oid="o-1", tid="t", roles=("Responder",),
                            lifetime=3600, now=clock())
    sealed = sealer.seal_session(session)
    assert "alice" not in sealed and "Responder" not in sealed  # encrypted, not just signed
    assert sealer.open_session(sealed, 3600) == session
    assert Sealer(b"j" * 32, clock=clock).open_session(sealed, 3600) is None
    assert sealer.open_session(sealed[:-6] + ("A" if sealed[-6] != "A" else "B") + sealed[-5:], 3600) is None
    assert sealer.open_session("garbage", 3600) is None
    assert sealer.open(FLOW := "soar_signin", sealed, 3600) is None and FLOW  # another purpose, another key
    clock.now += 3601
    assert sealer.open_session(sealed, 3600) is None
    clock.now -= 1800
    sealer.revoke(session)
    assert sealer.open_session(sealed, 3600) is None


def test_cookie_attributes():
    assert cookie_header(SESSION, "v", secure=True, max_age=60) == \
        "__Host-soar_session=v; Path=/; HttpOnly; SameSite=Lax; Max-Age=60; Secure"
    assert cookie_header(SESSION, "", secure=False, max_age=0) == \
        "soar_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"


@pytest.fixture
def cloud():
    return SimulatedCloud()


def test_signing_out_needs_the_token_and_ends_the_session_for_good(tmp_path, cloud):
    harness = ConsoleHarness(tmp_path, cloud)

    async def main():
        await harness.start()
        async with harness.client() as http:
            done = await Browser(http).sign_in("ada")
            kept = set_cookies(done)["soar_session"].split(";")[0].split("=", 1)[1]
            token = (await http.get("/api/v1/me")).json()["csrf_token"]
            assert (await http.post("/signout")).status_code == 403
            page = await http.get("/signout")
            assert page.status_code == 200 and 'name="csrf_token"' in page.text
            out = await http.post("/signout", data={"csrf_token": token})
            assert out.status_code == 303 and "Max-Age=0" in set_cookies(out)["soar_session"]
            assert "signed out" in (await http.get("/signout")).text
            assert (await http.get("/api/v1/me")).status_code == 401
            # the old cookie, replayed: revoked
            http.cookies.set("soar_session", kept)
            assert (await http.get("/api/v1/me")).status_code == 401
            http.cookies.set("soar_session", kept[:-4] + "AAAA")
            assert (await http.get("/api/v1/me")).status_code == 401
        await harness.stop()

    asyncio.run(main())


def test_a_callback_without_the_sign_in_cookie_posts_again_from_the_console(tmp_path, cloud):
    harness = ConsoleHarness(tmp_path, cloud)

    async def main():
        await harness.start()
        async with harness.client() as http:
            start = await http.get("/signin?next=/approvals/")
            login = start.headers["location"]
            answer = await http.post(login, data={"user": "alice"})
            flow_cookie = http.cookies.get("soar_signin")
            http.cookies.delete("soar_signin")  # what a cross-site form post does with a Lax cookie
            relay = await http.post(action_of(answer.text), data=fields_of(answer.text))
            assert relay.status_code == 200 and 'src="/auth/submit.js"' in relay.text
            fields = fields_of(relay.text)
            assert fields["soar_relay"] == "1" and fields["code"] == fields_of(answer.text)["code"]
            assert (await http.get("/auth/submit.js")).headers["content-type"].startswith("text/javascript")
            # posted again without the cookie: it is gone for good
            lost = await http.post(action_of(relay.text), data=fields)
            assert lost.status_code == 400 and "no sign-in under way" in lost.text
            http.cookies.set("soar_signin", flow_cookie)
            done = await http.post(action_of(relay.text), data=fields)
            assert done.status_code == 303 and done.headers["location"] == "/approvals/"
            assert (await http.get("/api/v1/me")).json()["name"].startswith("alice@")
        await harness.stop()

    asyncio.run(main())


def test_a_forged_or_replayed_answer_opens_no_session(tmp_path, cloud):
    harness = ConsoleHarness(tmp_path, cloud)

    async def main():
        await harness.start()
        async with harness.client() as http:
            start = await http.get("/signin")
            answer = await http.post(start.headers["location"], data={"user": "alice"})
            fields = fields_of(answer.text)
            bad_state = await http.post("/auth/callback", data={**fields, "state": "not-mine"})
            assert bad_state.status_code == 400 and "does not belong" in bad_state.text
            assert "soar_session" not in http.cookies
            denied = await http.get("/auth/callback?error=access_denied&error_description=AADSTS65004:+declined")
            assert denied.status_code == 400 and "AADSTS65004" in denied.text
            assert (await http.get("/api/v1/me")).status_code == 401
            assert (await http.get("/signin?next=//evil.example/x")).status_code == 303
            # the relay passes on the simulated sign-in pages only, not the token endpoint
            tid = cloud.entra.signin.tenant.id
            for method in ("GET", "POST"):
                r = await http.request(method, f"/_sim/login/{tid}/oauth2/v2.0/token")
                assert r.status_code == 404
            for asset in ("submit.js", "signin.css"):
                assert (await http.get(f"/_sim/login/{tid}/oauth2/v2.0/{asset}")).status_code == 200
        await harness.stop()

    asyncio.run(main())


def test_the_client_secret_shows_nowhere(tmp_path, cloud, caplog):
    caplog.set_level(logging.DEBUG)
    harness = ConsoleHarness(tmp_path, cloud)
    secret = cloud.app.secret.reveal()

    async def main():
        await harness.start()
        texts = []
        async with harness.client() as http:
            browser = Browser(http)
            await browser.sign_in("alice")
            texts += [r.text + str(r.headers) for r in browser.steps]
            for path in ("/runs", "/api/v1/me", "/signout", "/tenants", "/api/v1/tenants"):
                r = await http.get(path)
                texts.append(r.text + str(r.headers))
        await harness.stop()
        return texts

    texts = asyncio.run(main())
    assert all(secret not in t for t in texts)
    assert secret not in caplog.text and "signed in" in caplog.text


@pytest.mark.parametrize("given, kept", [
    ("/runs?status=failed", "/runs?status=failed"), ("//evil.example/x", "/"), ("/\\evil.example", "/"),
    ("https://evil.example/", "/"), ("", "/"), (None, "/"), ("/signout", "/"), ("/a\r\nSet-Cookie: x", "/"),
])
def test_after_sign_in_the_browser_goes_to_a_path_of_this_console_only(given, kept):
    from runner.console.gate import _safe_next

    assert _safe_next(given) == kept
