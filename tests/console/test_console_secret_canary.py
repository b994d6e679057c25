"""No page and no API answer of the console shows a secret's value: a canary secret goes
through a step's inputs and output, an approval message and plan, a run's error and outputs, and
a webhook's credential; every page and API document is read and searched for it."""

from __future__ import annotations

import asyncio
import re

from console_harness import HOOK_SECRET, status, until

CANARY = "canary-s3cr3t-value-9d41f7"

PLAYBOOK = """
name: leaky
on:
  - webhook: {path: /leaky, secret: env:SOAR_CONSOLE_HOOK_SECRET}
secrets:
  api_key: env:SOAR_CONSOLE_CANARY
steps:
  - id: use
    action: core.set
    with: {key: "${{ secrets.api_key }}", header: "Bearer ${{ secrets.api_key }}"}
  - id: ask
    action: core.set
    approval: {message: "send ${{ steps.use.output.header }} to the API?"}
    with: {again: "${{ secrets.api_key }}"}
outputs:
  header: "${{ steps.use.output.header }}"
"""

FAILING = """
name: leaky-failure
on:
  - webhook: {path: /leaky-failure, secret: env:SOAR_CONSOLE_HOOK_SECRET}
secrets:
  api_key: env:SOAR_CONSOLE_CANARY
steps:
  - id: boom
    action: core.fail
    with: {message: "the key ${{ secrets.api_key }} was refused"}
"""


def test_no_page_or_api_answer_shows_a_secret(console, monkeypatch):
    monkeypatch.setenv("SOAR_CONSOLE_CANARY", CANARY)

    async def main():
        console.write("leaky.yaml", PLAYBOOK)
        console.write("leaky-failure.yaml", FAILING)
        service = await console.start()
        waiting = await console.fire("leaky")
        failed = await console.fire("leaky-failure")
        await until(lambda: status(service.store, waiting) == "waiting_approval")
        await until(lambda: status(service.store, failed) == "failed")
        paths = ["/runs", f"/runs/{waiting}", f"/runs/{failed}", "/approvals/", f"/approvals/{waiting}/ask",
                 "/playbooks", "/tenants", "/api/v1/me", "/api/v1/runs", f"/api/v1/runs/{waiting}",
                 f"/api/v1/runs/{failed}", "/api/v1/approvals", f"/api/v1/approvals/{waiting}/ask",
                 "/api/v1/playbooks", "/api/v1/tenants", "/api/v1/openapi.json"]
        seen = {}
        async with console.client("admin") as http:
            for path in paths:
                r = await http.get(path)
                assert r.status_code == 200, (path, r.status_code)
                seen[path] = r.text
            # a refusal quoting what the caller sent is masked too
            r = await http.get(f"/runs/{CANARY}")
            assert r.status_code == 404
            seen["404"] = r.text
        for path, body in seen.items():
            assert CANARY not in body, f"{path} shows the secret"
            assert HOOK_SECRET not in body, f"{path} shows the webhook secret"
        # the places the secret went show the mask (the test reads the fields it means to)
        detail = seen[f"/api/v1/runs/{waiting}"]
        assert re.search(r'"key":\s*"\*\*\*"', detail) and "Bearer ***" in detail
        assert "send Bearer *** to the API?" in seen["/api/v1/approvals"]
        assert "the key *** was refused" in seen[f"/runs/{failed}"]
        await console.stop()

    asyncio.run(main())
