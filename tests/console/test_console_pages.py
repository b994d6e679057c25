"""The console's pages render through serve's own app (the mount line), with their key content,
for a Viewer and through the real identity middleware (no sign-in: loopback only)."""

from __future__ import annotations

import asyncio

from console_harness import FAILING, GATED, status, text_of, until


def test_every_page_renders_with_its_key_content(console):
    async def main():
        console.write("gated.yaml", GATED % "")
        console.write("failing.yaml", FAILING)
        console.write("broken.yaml", "name: broken\nsteps:\n  - id: x\n    action: core.nope\n")
        service = await console.start()
        gated = await console.fire("gated", b'{"n": 7}')
        failed = await console.fire("failing")
        await until(lambda: status(service.store, gated) == "waiting_approval")
        await until(lambda: status(service.store, failed) == "failed")
        async with console.client("viewer") as http:
            r = await http.get("/")
            assert r.status_code == 303 and r.headers["location"].endswith("/runs")

            r = await http.get("/runs")
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
            page = text_of(r.text)
            assert gated in r.text and failed in r.text and "waiting approval" in page and "failed" in page
            assert "vera@contoso.test" in page and "Sign out" in page  # who is signed in, and a way out
            assert "frame-ancestors 'none'" in r.headers["content-security-policy"]

            r = await http.get(f"/runs/{gated}")
            assert r.status_code == 200
            page = text_of(r.text)
            assert "isolate host-7?" in page  # the gate's rendered message
            assert "prepare" in page and "core.set" in page and "host-7" in page  # a step, its inputs/output
            assert "Approve" not in page and "Cancel run" not in page  # a Viewer gets no buttons
            assert "needs the Responder role" in page

            r = await http.get(f"/runs/{failed}")
            page = text_of(r.text)
            assert r.status_code == 200 and "the check failed on purpose" in page and "core.fail" in page

            r = await http.get("/approvals/")
            page = text_of(r.text)
            assert r.status_code == 200 and "isolate host-7?" in page and "gated" in page and "core.log" in page
            assert "anyone with the Responder role" in page and "Expires" in page

            r = await http.get(f"/approvals/{gated}/ask")  # where notifications link to
            assert r.status_code == 200 and "isolate host-7?" in text_of(r.text)
            assert (await http.get(f"/approvals/{gated}/nope")).status_code == 404

            r = await http.get("/playbooks")
            page = text_of(r.text)
            assert r.status_code == 200 and "gated" in page and "failing" in page
            assert "http://127.0.0.1/hooks/gated" in page  # the webhook URL
            assert "env:SOAR_CONSOLE_HOOK_SECRET" in page  # the reference, never the value
            assert "broken.yaml" in page and "core.nope" in page  # a rejected file with its error

            r = await http.get("/tenants")
            assert r.status_code == 200 and "No tenant is configured" in text_of(r.text)

            r = await http.get("/runs/r-nothing-like-this")
            assert r.status_code == 404 and "no run with id" in r.text
            assert (await http.get("/static/console.css")).status_code == 200
        await console.stop()

    asyncio.run(main())


def test_nobody_signed_in_gets_401_and_the_real_middleware_serves_loopback(console):
    async def main():
        console.write("gated.yaml", GATED % "")
        await console.start()
        async with console.client() as http:  # the test middleware sets no user
            assert (await http.get("/runs")).status_code == 401
            r = await http.get("/api/v1/runs")
            assert r.status_code == 401 and r.json()["error"]
        async with console.loopback() as http:  # no sign-in configured: the local administrator
            r = await http.get("/runs")
            assert r.status_code == 200 and "sign-in not configured: loopback only" in r.text
            assert (await http.get("/api/v1/me")).json()["via"] == "loopback"
            # serve's own endpoints keep their answers
            assert (await http.get("/healthz")).json()["status"] == "ok"
            assert (await http.get("/approvals")).status_code == 403  # bearer API, disabled without tokens
        await console.stop()

    asyncio.run(main())


def test_a_browser_typing_approvals_is_sent_to_the_queue_page_and_a_script_still_gets_json(console):
    async def main():
        console.write("gated.yaml", GATED % "")
        await console.start()
        async with console.loopback() as http:
            browser = await http.get("/approvals", headers={"Accept": "text/html,application/xhtml+xml"})
            assert browser.status_code == 303 and browser.headers["location"] == "/approvals/"
            script = await http.get("/approvals", headers={"Accept": "application/json"})
            assert script.status_code == 403 and script.headers["content-type"].startswith("application/json")
        await console.stop()

    asyncio.run(main())
