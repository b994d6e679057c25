"""Signing in to the console through the simulated Entra ID's pages in a real browser: a page
that needs a session sends the browser to the account picker, the answer is posted back by the
picker's own script, the session cookie is HttpOnly and SameSite=Lax; signing out ends it; an
account without a console role is refused."""

from __future__ import annotations

from .browser_kit import ACCOUNTS, USERNAMES, shot, sign_in
from playwright.sync_api import expect


def test_sign_in_through_the_simulated_entra_id_and_out(new_context):
    context = new_context()
    page = context.new_page()
    page.goto("/runs")
    page.wait_for_url("**/_sim/login/**/oauth2/v2.0/authorize?**")
    expect(page.get_by_role("heading", name="Sign in to your account")).to_be_visible()
    expect(page.get_by_text("mssp.onmicrosoft.com").first).to_be_visible()
    for name in ACCOUNTS.values():
        expect(page.get_by_role("button", name=name)).to_be_visible()
    shot(page, "signin")
    page.get_by_role("button", name="Alice Martin").click()
    page.wait_for_url("**/runs")
    expect(page.get_by_role("heading", name="Runs", level=1)).to_be_visible()
    expect(page.locator("header .who")).to_contain_text("Alice Martin (Responder)")
    [cookie] = [c for c in context.cookies() if c["name"] == "soar_session"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and not cookie["secure"]
    me = page.request.get("/api/v1/me").json()
    assert me["name"] == USERNAMES["alice"] and me["roles"] == ["Responder"] and me["via"] == "session"

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/signout")
    assert page.request.get("/api/v1/me").status == 401
    page.goto("/approvals/")
    page.wait_for_url("**/_sim/login/**")  # signed out: the account picker again
    page.close()


def test_an_account_without_a_console_role_is_refused(new_context):
    page = new_context().new_page()
    sign_in(page, "nora")
    expect(page.get_by_role("heading", name="Forbidden")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("needs the Viewer role")
    assert page.request.get("/api/v1/runs").status == 403
    page.close()
