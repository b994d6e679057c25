""""Run now" on a served playbook, from the playbooks page and the API: a manual run with the
inputs' defaults, started by serve as the signed-in user (audited, named in the trigger's
payload); a Viewer is refused, a form needs the CSRF token, an unknown playbook is 404 and a
playbook with an input that has no default is refused before anything is recorded."""

from __future__ import annotations

import asyncio

from console_harness import CSRF, form, status, text_of, until

GATED = """
name: gated
inputs:
  who: {type: string, default: "someone"}
steps:
  - id: ask
    action: core.log
    approval: {message: "go on?"}
    with: {message: "approved for ${{ inputs.who }}"}
"""
NEEDS_INPUT = """
name: needs-input
inputs:
  host: {type: string}
steps:
  - id: say
    action: core.log
    with: {message: "${{ inputs.host }}"}
"""


def test_run_now_in_the_page_and_the_api(console):
    async def main():
        console.write("gated.yaml", GATED)
        console.write("needs.yaml", NEEDS_INPUT)
        service = await console.start()
        async with console.client("viewer") as http:
            page = await http.get("/playbooks")
            assert page.status_code == 200 and "Run now" not in page.text  # a Viewer sees no button
            r = await http.post("/playbooks/gated/run", **form())
            assert r.status_code == 403 and "Responder" in r.text
            r = await http.post("/api/v1/playbooks/gated/run", json={}, headers={"X-CSRF-Token": CSRF})
            assert r.status_code == 403
        assert service.store.list_runs() == []
        async with console.client("responder") as http:
            assert "Run now" in (await http.get("/playbooks")).text
            r = await http.post("/playbooks/gated/run", data={})
            assert r.status_code == 403 and "CSRF" in r.text
            r = await http.post("/playbooks/gated/run", **form())
            assert r.status_code == 303, r.text
            run_id = r.headers["location"].split("/runs/")[1].split("?")[0]
            assert r.headers["location"].endswith("?done=started")
            page = await http.get(r.headers["location"])
            assert "Run started" in page.text and "rick@contoso.test" in text_of(page.text)
            await until(lambda: status(service.store, run_id) == "waiting_approval", what="the started run")
            run = service.store.get_run(run_id)
            assert run.trigger == {"type": "manual", "payload": {"started_by": "rick@contoso.test"}}
            assert run.inputs == {"who": "someone"}
            [event] = [e for e in service.store.events(run_id) if e.kind == "run_started_from_console"]
            assert event.actor == "rick@contoso.test" and event.data["actor_oid"] == "oid-rick"

            r = await http.post("/api/v1/playbooks/gated/run", json={}, headers={"X-CSRF-Token": CSRF})
            assert r.status_code == 202 and r.json()["playbook"] == "gated" and r.json()["started"] is True
            assert r.json()["run_id"] != run_id
            r = await http.post("/api/v1/playbooks/nope/run", json={}, headers={"X-CSRF-Token": CSRF})
            assert r.status_code == 404 and "nope" in r.json()["error"]
            before = len(service.store.list_runs())
            r = await http.post("/api/v1/playbooks/needs-input/run", json={}, headers={"X-CSRF-Token": CSRF})
            assert r.status_code == 409 and "host" in r.json()["error"]
            r = await http.post("/playbooks/needs-input/run", **form())
            assert r.status_code == 409 and "needs input" in text_of(r.text)
            assert len(service.store.list_runs()) == before
        await console.stop()

    asyncio.run(main())
