"""The triage playbook's isolation gates under a real ``soar serve``, in a real browser: a Viewer
sees them but is refused (403) in the page and through /api/v1; a form whose CSRF token is
wrong or missing is refused and decides nothing; a second run, started from the playbooks page,
is cancelled while it waits; alice (Responder) approves the first in the page, watches the run
finish, and the audit trail names her. In this order: once a triage run has isolated the
devices and updated the incidents, the next one finds nothing to approve."""

from __future__ import annotations

import re

from .browser_kit import TRIAGE_NAME, USERNAMES, run_id_of, shot, top
from playwright.sync_api import expect

from runner.console.csrf import REFUSED


def _gates(served, run_id: str) -> dict[str, dict]:
    """tenant -> its gate of the isolate step."""
    return {a["tenant"]: a for a in served.run(run_id)["approvals"] if a["step"] == "isolate"}


def test_a_viewer_sees_the_gate_but_is_refused_in_the_page_and_the_api(served, signed_in, triage_run):
    gate = _gates(served, triage_run)["contoso"]
    page = signed_in("victor").new_page()
    page.goto(f"/approvals/{gate['run_id']}/isolate")
    expect(page.locator("article.gate")).to_contain_text("Isolate (Selective) the devices")
    expect(page.get_by_text("deciding it needs the Responder role")).to_be_visible()
    expect(page.get_by_role("button", name="Approve")).to_have_count(0)
    shot(page, "approval-viewer")

    token = page.evaluate("fetch('/api/v1/me').then(r => r.json()).then(me => me.csrf_token)")
    assert token
    refused = page.request.post(f"/api/v1/approvals/{gate['run_id']}/isolate", data={"decision": "approve"},
                                headers={"X-CSRF-Token": token})
    assert refused.status == 403 and "Responder" in refused.json()["error"]

    # the same form a Responder gets, with victor's own CSRF token, submitted from the page
    page.evaluate("""([action, token]) => {
        const f = document.createElement('form');
        f.method = 'post'; f.action = action;
        for (const [k, v] of [['csrf_token', token], ['decision', 'approve']]) {
            const i = document.createElement('input'); i.type = 'hidden'; i.name = k; i.value = v; f.append(i);
        }
        document.body.append(f); f.submit();
    }""", [f"/approvals/{gate['run_id']}/isolate/decision", token])
    page.wait_for_url("**/decision")
    expect(page.get_by_role("heading", name="Forbidden")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("needs the Responder role")
    shot(page, "viewer-forbidden")
    assert {t: g["status"] for t, g in _gates(served, triage_run).items()} == {"contoso": "pending",
                                                                              "fabrikam": "pending"}
    page.close()


def test_a_form_with_a_wrong_or_missing_csrf_token_is_refused(served, signed_in, triage_run):
    gate = _gates(served, triage_run)["fabrikam"]
    page = signed_in("alice").new_page()
    url = f"/approvals/{gate['run_id']}/isolate"
    page.goto(url)
    page.locator("form.decide input[name=csrf_token]").evaluate("e => { e.value = 'forged-token'; }")
    page.get_by_role("button", name="Approve").click()
    page.wait_for_url("**/decision")
    expect(page.get_by_role("alert")).to_have_text(REFUSED)
    page.goto(url)
    page.locator("form.decide input[name=csrf_token]").evaluate("e => e.remove()")
    page.get_by_role("button", name="Approve").click()
    page.wait_for_url("**/decision")
    expect(page.get_by_role("alert")).to_have_text(REFUSED)
    assert page.request.post(f"{url}/decision", form={"decision": "approve"}).status == 403
    assert _gates(served, triage_run)["fabrikam"]["status"] == "pending"
    page.close()


def test_run_now_then_cancel_the_waiting_run(served, signed_in):
    page = signed_in("alice").new_page()
    page.goto("/playbooks")
    section = page.locator("section.playbook").filter(has=page.get_by_role("heading", name=TRIAGE_NAME))
    expect(section).to_contain_text("cron */15 * * * *")
    shot(page, "playbooks")
    section.get_by_role("button", name="Run now").click()
    page.wait_for_url("**/runs/*?done=started")
    run_id = run_id_of(page.url)
    expect(page.locator("p.notice")).to_have_text("Run started: this is the new run.")
    # runs before alice's approval: afterwards the triage playbook finds no incident left to handle
    served.wait_status(run_id, "waiting_approval")
    page.reload()
    expect(page.locator("dl.facts [data-status]")).to_have_text("waiting approval")

    page.get_by_label("Reason", exact=True).fill("started by mistake")
    page.get_by_role("button", name="Cancel run").click()
    page.wait_for_url(f"**/runs/{run_id}?done=cancelled")
    expect(page.locator("p.notice")).to_have_text("Cancel requested.")
    expect(page.locator("dl.facts [data-status]")).to_have_text("cancelled")  # a waiting run ends at once
    expect(page.get_by_role("button", name="Cancel run")).to_have_count(0)
    cancelled = page.locator("table.audit tbody tr").filter(has_text="run_cancelled").first
    expect(cancelled).to_contain_text(USERNAMES["alice"])
    page.close()

    doc = served.run(run_id)
    assert doc["run"]["status"] == "cancelled" and {c["status"] for c in doc["children"]} == {"cancelled"}
    assert {a["status"] for a in doc["approvals"]} == {"cancelled"}
    assert doc["run"]["trigger"]["payload"] == {"started_by": USERNAMES["alice"]}


def test_alice_approves_the_triage_isolation_and_watches_the_run_finish(served, signed_in, triage_run):
    gates = _gates(served, triage_run)
    assert {g["status"] for g in gates.values()} == {"pending"}
    page = signed_in("alice").new_page()
    page.goto("/approvals/")  # the queue: the gate of each tenant, with its plan
    for tenant in ("contoso", "fabrikam"):
        gate = page.locator("article.gate").filter(has_text=gates[tenant]["run_id"])
        expect(gate).to_contain_text(f"in tenant {tenant}?")
        expect(gate.locator("ol.plan li").first).to_contain_text("Isolate ")
    shot(page, "approvals")

    page.goto("/runs")
    page.locator(f'tr[data-run-id="{triage_run}"]').get_by_role("link").click()
    page.wait_for_url(f"**/runs/{triage_run}")
    expect(page.locator("dl.facts [data-status]")).to_have_text("waiting approval")
    page.get_by_label("Reason, for all 2 tenants").fill("INC-4711: checked with the customer")
    top(page.get_by_role("heading", name="Tenant runs"))
    shot(page, "approval")
    page.get_by_role("button", name="Approve all 2").click()
    page.wait_for_url(f"**/approvals/{triage_run}/isolate?done=approved")
    expect(page.locator("p.notice")).to_have_text("Approved.")
    expect(page.locator("article.gate").filter(has_text=f"approved by {USERNAMES['alice']}")).to_have_count(2)

    page.get_by_role("link", name=triage_run).click()
    page.wait_for_url(f"**/runs/{triage_run}")
    facts = page.locator("dl.facts [data-status]")
    # the page's own script polls the run and shows its end, without a reload
    expect(facts).to_have_text("succeeded", timeout=45_000)
    expect(page.locator("#live-note")).to_contain_text("now succeeded")
    # its end comes with its status, from the same answer: never "succeeded" and "not yet"
    ended = page.locator("dl.facts [data-finished]")
    expect(ended).to_have_text(re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(\d+(\.\d)? m?s\)$"))
    live_end = ended.inner_text()
    page.reload()
    expect(page.locator("dl.facts [data-status]")).to_have_text("succeeded")
    assert ended.inner_text().split(" (")[0] == live_end.split(" (")[0]  # the time the page itself shows
    audit = page.locator("table.audit tbody tr")
    approved = audit.filter(has_text="approval.approved")
    expect(approved).to_have_count(2)
    for tenant in ("contoso", "fabrikam"):
        expect(approved.filter(has_text=tenant)).to_contain_text(USERNAMES["alice"])
    top(page.get_by_role("heading", name="Audit trail"))
    shot(page, "run-audit")
    page.close()

    doc = served.run(triage_run)
    assert doc["run"]["status"] == "succeeded"
    isolated = {t: c["outputs"]["isolated"] for t, c in doc["run"]["outputs"].items()}
    assert all(isolated.values()), isolated
    assert {e["actor"] for e in doc["events"] if e["kind"] == "approval.approved"} == {USERNAMES["alice"]}
