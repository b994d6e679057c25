"""Runs in a real browser, as alice (Responder): rerun a run; the runs list (filtered) and a
run's detail (tenant runs, step timeline with inputs and outputs)."""

from __future__ import annotations

from .browser_kit import TRIAGE_NAME, USERNAMES, run_id_of, shot
from playwright.sync_api import expect


def test_rerun_a_run(served, signed_in, triage_run):
    page = signed_in("alice").new_page()
    page.goto(f"/runs/{triage_run}")
    page.get_by_role("button", name="Rerun with the same inputs").click()
    page.wait_for_url("**/runs/*?done=rerun")
    new_id = run_id_of(page.url)
    assert new_id != triage_run
    expect(page.locator("p.notice")).to_have_text("Rerun started: this is the new run.")
    rerun_of = page.locator("dl.facts dt", has_text="Rerun of").locator("+ dd")
    rerun_of.get_by_role("link", name=triage_run).click()
    page.wait_for_url(f"**/runs/{triage_run}")
    page.close()

    # the same playbook: it waits at its gates again, unless a triage run has already handled
    # every incident (the approval tests run first), then it has nothing to isolate
    doc = served.wait_status(new_id, "waiting_approval", "succeeded")
    assert doc["run"]["rerun_of"] == triage_run
    assert doc["run"]["inputs"] == served.run(triage_run)["run"]["inputs"]
    assert [e["actor"] for e in doc["events"] if e["kind"] == "run_rerun"] == [USERNAMES["alice"]]
    if doc["run"]["status"] == "waiting_approval":
        with served.script() as http:  # leave nothing waiting
            assert http.post(f"/api/v1/runs/{new_id}/cancel", json={"reason": "test over"}).status_code == 200


def test_runs_list_and_run_detail(served, signed_in, triage_run):
    page = signed_in("alice").new_page()
    page.goto("/runs")
    row = page.locator(f'tr[data-run-id="{triage_run}"]')
    expect(row).to_contain_text(TRIAGE_NAME)
    expect(row).to_contain_text("contoso, fabrikam")
    expect(row).to_contain_text("manual")
    shot(page, "runs")

    now = served.run(triage_run)["run"]["status"]
    page.get_by_label("Status").select_option(now)
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(f"**/runs?*status={now}*")
    expect(page.locator(f'tr[data-run-id="{triage_run}"]')).to_have_count(1)
    page.get_by_label("Status").select_option("failed")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**/runs?*status=failed*")
    expect(page.locator(f'tr[data-run-id="{triage_run}"]')).to_have_count(0)
    page.get_by_role("link", name="Clear").click()

    page.locator(f'tr[data-run-id="{triage_run}"]').get_by_role("link", name=triage_run).click()
    page.wait_for_url(f"**/runs/{triage_run}")
    expect(page.get_by_role("heading", level=1)).to_contain_text(triage_run)
    tenants = page.locator("table").filter(has=page.get_by_text("Tenant runs")).locator("tbody tr")
    expect(tenants).to_have_count(2)
    expect(tenants.first).to_contain_text("contoso")
    shot(page, "run")
    first = page.locator("ol.timeline > li").first
    expect(first).to_contain_text("defender.list_incidents")
    first.locator("summary").first.click()
    expect(first.get_by_role("heading", name="Inputs")).to_be_visible()
    expect(first.locator("pre").nth(1)).to_contain_text("incidentId")  # the incidents listed

    page.close()
