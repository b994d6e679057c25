"""Approve, deny, cancel and rerun from the console's pages and its API: each is made as the
signed-in user (name and object id in the audit trail), roles are enforced on the server
(a Viewer gets 403 in the page and in the API), forms need the CSRF token, and the gate's
``approvers:`` still decide who may decide."""

from __future__ import annotations

import asyncio

from console_harness import CSRF, GATED, SLOW, form, status, text_of, until


def _events(store, run_id, kind):
    return [e for e in store.events(run_id) if e.kind == kind]


def test_approve_in_the_page_as_a_responder_continues_the_run_and_is_audited(console):
    async def main():
        console.write("gated.yaml", GATED % "")
        service = await console.start()
        run_id = await console.fire("gated", b'{"n": 3}')
        await until(lambda: status(service.store, run_id) == "waiting_approval")
        async with console.client("viewer") as http:  # a Viewer: refused, in the page and the API
            r = await http.post(f"/approvals/{run_id}/ask/decision", **form(decision="approve"))
            assert r.status_code == 403 and "Responder" in r.text and "text/html" in r.headers["content-type"]
            r = await http.post(f"/api/v1/approvals/{run_id}/ask", json={"decision": "approve"},
                                headers={"X-CSRF-Token": CSRF})
            assert r.status_code == 403 and "Responder" in r.json()["error"]
        assert service.store.get_approval(run_id, "ask").status == "pending"
        async with console.client("responder") as http:
            r = await http.post(f"/approvals/{run_id}/ask/decision", data={"decision": "approve"})
            assert r.status_code == 403 and "CSRF" in r.text  # no token: refused
            assert service.store.get_approval(run_id, "ask").status == "pending"
            r = await http.post(f"/approvals/{run_id}/ask/decision", **form(decision="approve", reason="host-3 is ours"))
            assert r.status_code == 303 and r.headers["location"].endswith(f"/approvals/{run_id}/ask?done=approved")
            page = await http.get(r.headers["location"])
            assert "Approved." in page.text and "approved by rick@contoso.test" in text_of(page.text)
            await until(lambda: status(service.store, run_id) == "succeeded", what="the approved run")
            again = await http.post(f"/approvals/{run_id}/ask/decision", **form(decision="deny"))
            assert again.status_code == 409 and "not pending" in text_of(again.text)
        record = service.store.get_approval(run_id, "ask")
        assert record.decided_by == "rick@contoso.test" and record.reason == "host-3 is ours"
        [event] = _events(service.store, run_id, "approval.approved")
        assert event.actor == "rick@contoso.test" and event.data["actor_oid"] == "oid-rick"
        await console.stop()

    asyncio.run(main())


def test_deny_through_the_api_and_approvers_are_enforced(console):
    async def main():
        console.write("gated.yaml", GATED % ', approvers: ["ada@contoso.test"]')
        service = await console.start()
        run_id = await console.fire("gated")
        await until(lambda: status(service.store, run_id) == "waiting_approval")
        async with console.client("responder") as http:  # a Responder, but not one of the approvers
            r = await http.post(f"/api/v1/approvals/{run_id}/ask", json={"decision": "deny"},
                                headers={"X-CSRF-Token": CSRF})
            assert r.status_code == 403 and "ada@contoso.test" in r.json()["error"]
            assert _events(service.store, run_id, "approval.refused")[0].actor == "rick@contoso.test"
            r = await http.post(f"/approvals/{run_id}/ask/decision", **form(decision="deny"))
            assert r.status_code == 403 and "ada@contoso.test" in text_of(r.text)  # the page says who may
        async with console.client("admin") as http:
            r = await http.post(f"/api/v1/approvals/{run_id}/ask", json={"decision": "maybe"},
                                headers={"X-CSRF-Token": CSRF})
            assert r.status_code == 400
            r = await http.post(f"/api/v1/approvals/{run_id}/nope", json={"decision": "deny"},
                                headers={"X-CSRF-Token": CSRF})
            assert r.status_code == 404
            r = await http.post(f"/api/v1/approvals/{run_id}/ask", json={"decision": "deny", "reason": "not ours"},
                                headers={"X-CSRF-Token": CSRF})
            assert r.status_code == 200, r.text
            assert r.json()["decided"][0]["status"] == "denied"
            await until(lambda: status(service.store, run_id) == "failed", what="the denied run")
            doc = (await http.get(f"/api/v1/approvals/{run_id}/ask")).json()
            assert doc["approvals"][0]["decided_by"] == "ada@contoso.test" and doc["approvals"][0]["reason"] == "not ours"
        [event] = _events(service.store, run_id, "approval.denied")
        assert event.actor == "ada@contoso.test" and event.data["actor_oid"] == "oid-ada"
        await console.stop()

    asyncio.run(main())


def test_cancel_a_waiting_and_a_running_run(console):
    async def main():
        console.write("gated.yaml", GATED % "")
        console.write("slow.yaml", SLOW % "2s")
        service = await console.start()
        waiting = await console.fire("gated")
        running = await console.fire("slow")
        await until(lambda: status(service.store, waiting) == "waiting_approval")
        await until(lambda: status(service.store, running) == "running")
        async with console.client("viewer") as http:
            r = await http.post(f"/runs/{waiting}", **form(action="cancel"))
            assert r.status_code == 403
            r = await http.post(f"/api/v1/runs/{waiting}/cancel", json={}, headers={"X-CSRF-Token": CSRF})
            assert r.status_code == 403
        async with console.client("responder") as http:
            r = await http.post(f"/runs/{waiting}", **form(action="cancel", reason="false positive"))
            assert r.status_code == 303 and r.headers["location"].endswith(f"/runs/{waiting}?done=cancelled")
            assert status(service.store, waiting) == "cancelled"
            assert service.store.get_approval(waiting, "ask").status == "cancelled"
            r = await http.post(f"/api/v1/runs/{running}/cancel", json={"reason": "too slow"},
                                headers={"X-CSRF-Token": CSRF})
            assert r.status_code == 202 and r.json()["requested"] == [running]
            await until(lambda: status(service.store, running) == "cancelled", what="the running run to stop")
            again = await http.post(f"/api/v1/runs/{running}/cancel", json={}, headers={"X-CSRF-Token": CSRF})
            assert again.status_code == 409 and "nothing to cancel" in again.json()["error"]
            page = await http.post(f"/runs/{running}", **form(action="cancel"))
            assert page.status_code == 409 and "nothing to cancel" in text_of(page.text)
        [event] = _events(service.store, waiting, "run_cancelled")
        assert event.actor == "rick@contoso.test" and event.data == {"reason": "false positive", "actor_oid": "oid-rick"}
        assert _events(service.store, running, "run_cancel_requested")[0].actor == "rick@contoso.test"
        await console.stop()

    asyncio.run(main())


def test_rerun_starts_a_new_run_with_the_same_inputs_and_playbook_version(console):
    async def main():
        path = console.write("slow.yaml", SLOW % "10ms")
        service = await console.start()
        first = await console.fire("slow", b'{"n": 1}')
        await until(lambda: status(service.store, first) == "succeeded")
        path.write_text((SLOW % "10ms").replace("done: true", "done: edited"))  # the file changes meanwhile
        service.reload(force=True)
        async with console.client("viewer") as http:
            assert (await http.post(f"/runs/{first}", **form(action="rerun"))).status_code == 403
        async with console.client("responder") as http:
            r = await http.post(f"/runs/{first}", **form(action="rerun"))
            assert r.status_code == 303, r.text
            second = r.headers["location"].split("/runs/")[1].split("?")[0]
            assert second != first
            await until(lambda: status(service.store, second) == "succeeded", what="the rerun")
            r = await http.post(f"/api/v1/runs/{first}/rerun", headers={"X-CSRF-Token": CSRF})
            assert r.status_code == 202 and r.json()["rerun_of"] == first
            third = r.json()["run_id"]
            await until(lambda: status(service.store, third) == "succeeded", what="the API rerun")
            assert (await http.post("/api/v1/runs/r-nope/rerun", headers={"X-CSRF-Token": CSRF})).status_code == 404
        store = service.store
        for new in (second, third):
            run = store.get_run(new)
            assert run.rerun_of == first and run.trigger == store.get_run(first).trigger
            assert run.playbook_text == store.get_run(first).playbook_text  # the version that ran
            [step] = [s for s in store.step_records(new) if s.step_id == "after"]
            assert step.output == {"done": True}
            [event] = _events(store, new, "run_rerun")
            assert event.actor == "rick@contoso.test" and event.data["actor_oid"] == "oid-rick"
        await console.stop()

    asyncio.run(main())
