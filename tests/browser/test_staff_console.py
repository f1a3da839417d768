"""The staff console in a real browser: roles and store scope as the API enforces them."""
from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, expect

from tests.browser.conftest import csrf_of, register_member, sale, shot, staff_login

pytestmark = pytest.mark.e2e


def test_a_clerk_finds_a_member_and_sees_masked_data(context: BrowserContext, platform: dict[str, Any]) -> None:
    member = register_member(platform, "Zhou Xun")
    page = context.new_page()
    staff_login(page, "b.clerk")
    page.get_by_label("Search by").select_option("phone")
    page.get_by_label("Search for").fill(member["plain_phone"])
    page.get_by_role("button", name="Search").click()
    row = page.locator("#results tbody tr")
    expect(row).to_have_count(1)
    masked = member["plain_phone"][:3] + "****" + member["plain_phone"][-4:]
    expect(row.locator(".phone")).to_have_text(masked)
    shot(page, "desk-search")
    row.get_by_role("link").click()
    expect(page.locator("h1")).to_contain_text("Zhou Xun")
    expect(page.locator("#phone")).to_have_text(masked)
    expect(page.locator("#masked")).to_be_visible()
    assert member["plain_phone"] not in page.content()
    # a clerk may not adjust, edit or erase: none of it is offered
    for form in ("#adjust-form", "#edit-form", "#erase-form"):
        expect(page.locator(form)).to_have_count(0)
    shot(page, "member-clerk")

    page.goto("/desk?by=member_number&q=" + member["member_number"])
    expect(page.locator("#results tbody tr")).to_have_count(1)


def test_a_manager_adjusts_points_and_the_audit_log_shows_it(context: BrowserContext, browser: Any,
                                                             platform: dict[str, Any]) -> None:
    member = register_member(platform, "Sun Li")
    sale(platform, member["member_id"], "100.00")
    page = context.new_page()
    staff_login(page, "b.manager")
    page.goto(f"/members/{member['member_id']}")
    expect(page.locator("#phone")).to_have_text("+86" + member["plain_phone"])  # their store: full contact data
    before = int(page.locator("#balance").inner_text())
    expect(page.locator("#lots tbody tr")).to_have_count(1)  # the sale's lot, with its expiry
    expect(page.locator("#lots tbody tr")).to_contain_text("Purchase")
    page.get_by_label("Points (negative to take away)").fill("25")
    page.get_by_label("Reason").fill("goodwill: late delivery")
    page.get_by_role("button", name="Adjust points").click()
    expect(page.get_by_role("status")).to_contain_text(f"balance {before + 25}")
    expect(page.locator("#balance")).to_have_text(str(before + 25))
    expect(page.locator("table.history")).to_contain_text("goodwill: late delivery")
    expect(page.locator("#lots tbody tr")).to_have_count(2)
    shot(page, "member-manager")

    auditor = browser.new_context(base_url=platform["console"], locale="en-US", viewport={"width": 1280, "height": 900})
    try:
        audit = auditor.new_page()
        staff_login(audit, "b.auditor")
        audit.get_by_role("link", name="Audit log").click()
        expect(audit.locator("#chain")).to_contain_text("unaltered")
        audit.get_by_label("Action").fill("points.adjusted")
        audit.get_by_role("button", name="Filter").click()
        entry = audit.locator("#audit tbody tr").filter(has_text=member["member_id"][:8]).first
        expect(entry).to_contain_text("b.manager")
        expect(entry).to_contain_text("goodwill: late delivery")
        shot(audit, "audit-log")
    finally:
        auditor.close()


def test_an_edit_needs_the_version_read_and_shows_the_apis_answer(context: BrowserContext,
                                                                  platform: dict[str, Any]) -> None:
    member = register_member(platform, "Qian Bo")
    page = context.new_page()
    staff_login(page, "b.manager")
    page.goto(f"/members/{member['member_id']}")
    page.get_by_label("Name", exact=True).fill("Qian Bo Jr")
    # someone else changes the member first: the console sends the version it read (If-Match) and shows the 409
    changed = platform["http"].patch(f"/v1/members/{member['member_id']}", json={"tags": ["vip"]},
                                     headers={"If-Match": '"1"'})
    assert changed.status_code == 200, changed.text
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("alert")).to_be_visible()
    assert page.locator("h1").inner_text().startswith("Qian Bo")
    page.reload()
    page.get_by_label("Name", exact=True).fill("Qian Bo Jr")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("h1")).to_contain_text("Qian Bo Jr")
    expect(page.get_by_role("status")).to_contain_text("Saved")


def test_a_role_denied_an_action_does_not_see_it_and_gets_403_forcing_it(context: BrowserContext,
                                                                        platform: dict[str, Any]) -> None:
    member = register_member(platform, "Wu Yue")
    page = context.new_page()
    staff_login(page, "b.clerk")
    expect(page.get_by_role("link", name="Audit log")).to_have_count(0)
    expect(page.get_by_role("link", name="Campaigns")).to_have_count(0)
    forced = page.goto("/audit")
    assert forced is not None and forced.status == 403
    expect(page.get_by_role("alert")).to_contain_text("not open to your role")
    shot(page, "forbidden")
    page.goto(f"/members/{member['member_id']}")
    answer = context.request.post(f"/members/{member['member_id']}/adjust", form={
        "csrf": csrf_of(page), "points": "1000", "reason": "forced", "form_key": "forced-1"}, max_redirects=0)
    assert answer.status == 403
    assert "not open to your role" in answer.text()
    balance = platform["http"].get(f"/v1/members/{member['member_id']}/points")
    assert balance.status_code in (200, 404) and (balance.status_code == 404 or balance.json()["balance"] == 0)


def test_forms_need_the_sessions_csrf_token_and_pages_carry_the_security_headers(
        context: BrowserContext, platform: dict[str, Any]) -> None:
    page = context.new_page()
    response = page.goto("/login")
    assert response is not None
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"
    cookie = next(c for c in context.cookies() if c["name"] == "console_sid")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    stale = context.request.post("/login", form={"csrf": "not-the-token", "username": "b.clerk",
                                                 "password": "whatever"}, max_redirects=0)
    assert stale.status == 403
    # nothing of the session is readable by scripts: no token in storage, the cookie hidden from document.cookie
    staff_login(page, "b.clerk")
    assert page.evaluate("document.cookie") == ""
    stored = page.evaluate("Object.values(localStorage).concat(Object.values(sessionStorage))")
    sid = next(c for c in context.cookies() if c["name"] == "console_sid")["value"]
    assert not [v for v in stored if "eyJ" in v or sid in v]  # htmx keeps only the current path there


def test_wrong_passwords_meet_the_apis_lockout(context: BrowserContext, platform: dict[str, Any]) -> None:
    made = platform["http"].post("/v1/staff", json={"username": "b.locked", "password": "a-long-password-1",
                                                    "roles": ["clerk"], "stores": ["SH-001"]})
    assert made.status_code == 201, made.text
    page = context.new_page()
    page.goto("/login")
    for _ in range(5):
        page.get_by_label("Username").fill("b.locked")
        page.get_by_label("Password").fill("wrong password")
        page.locator("main form button[type=submit]").click()
        expect(page.get_by_role("alert")).to_contain_text("wrong username or password")
    page.get_by_label("Username").fill("b.locked")
    page.get_by_label("Password").fill("a-long-password-1")
    page.locator("main form button[type=submit]").click()
    expect(page.get_by_role("alert")).to_contain_text("too many failed logins")


def test_the_language_switch_changes_every_label(context: BrowserContext, platform: dict[str, Any]) -> None:
    page = context.new_page()
    staff_login(page, "b.clerk")
    page.get_by_role("button", name="Language").click()
    expect(page.get_by_role("heading", name="会员服务台")).to_be_visible()
    expect(page.get_by_label("查找方式")).to_be_visible()
    page.get_by_role("button", name="语言").click()
    expect(page.get_by_role("heading", name=re.compile("Member desk"))).to_be_visible()


def test_an_auditor_reads_reports_with_charts_and_downloads_them_as_csv(context: BrowserContext,
                                                                        platform: dict[str, Any]) -> None:
    member = register_member(platform, "Zheng Kai")
    sale(platform, member["member_id"], "80.00")
    page = context.new_page()
    staff_login(page, "b.auditor")
    page.get_by_role("link", name="Reports").click()
    page.get_by_label("Store", exact=True).fill("SH-001")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_role("img", name="Outstanding points per day")).to_be_visible()
    expect(page.get_by_role("img", name=re.compile("Points at SH-001"))).to_be_visible()
    expect(page.locator("#liability tbody")).to_contain_text("SH-001")
    shot(page, "reports")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV (every page)").first.click()
    lines = Path(download.value.path()).read_text().splitlines()
    assert lines[0] == "day,store,bucket,points,value"
    assert any(",SH-001,store," in line for line in lines[1:])
    page.get_by_role("link", name="Messages").click()  # notify's delivery log, read-only for an auditor
    expect(page.locator("#messages")).to_be_visible()
    expect(page.get_by_role("link", name="Dead letters")).to_have_count(0)  # the admin's
    shot(page, "messages")


def test_an_admin_imports_members_with_a_progress_bar_and_merges_a_duplicate(
        context: BrowserContext, platform: dict[str, Any], tmp_path: Path) -> None:
    good, twin = ("136" + f"{uuid.uuid4().int % 10**8:08d}" for _ in range(2))
    upload = tmp_path / "members.csv"
    upload.write_text("external_id,name,phone,registration_store\n"
                      f"C-{good},Import Good,{good},SH-001\nC-bad,Import Bad,12345,SH-001\n"
                      f"C-{twin},Import Twin,{twin},SH-001\n")
    page = context.new_page()
    staff_login(page, "admin", platform["admin_password"])
    page.get_by_role("link", name="Imports").click()
    page.get_by_label("File").set_input_files(str(upload))
    page.get_by_role("button", name="Import", exact=True).click()
    expect(page.locator("#rows-created")).to_have_text("2", timeout=30_000)  # htmx polls the job until done
    expect(page.locator("#rows-failed")).to_have_text("1")
    expect(page.locator("#import-errors")).to_contain_text("phone")
    shot(page, "import")
    page.goto("/dead-letters")
    expect(page.get_by_role("heading", name="Dead letters")).to_be_visible()
    shot(page, "dead-letters")
    # an ERP connection (to an ERP that is not there): its status, and a run asked for from the console
    declared = platform["http"].put("/v1/sync/connections/odoo-test", json={
        "kind": "odoo_xmlrpc", "base_url": "http://127.0.0.1:9/", "database": "shop", "username": "sync",
        "credentials_ref": "ERP_SECRET_ODOO_TEST", "enabled": False, "options": {"retry_attempts": 1}})
    assert declared.status_code == 200, declared.text
    page.get_by_role("link", name="ERP sync").click()
    expect(page.locator("#sync-odoo-test")).to_contain_text("on demand only")
    page.locator("#sync-odoo-test").get_by_role("button", name="Run now").click()
    expect(page.get_by_role("status")).to_contain_text("A run of odoo-test was asked for")
    shot(page, "erp-sync")

    found = platform["http"].get("/v1/members", params={"phone": good}).json()["items"][0]
    duplicate = platform["http"].get("/v1/members", params={"phone": twin}).json()["items"][0]
    page.goto(f"/members/{found['member_id']}")
    page.get_by_label("The duplicate's member number").fill(duplicate["member_number"])
    page.get_by_role("button", name="Merge a duplicate into this member").click()
    expect(page.get_by_role("status")).to_contain_text("merged into this one")
    page.goto("/desk?by=member_number&q=" + duplicate["member_number"])
    expect(page.locator("#results tbody tr")).to_have_count(1)
    expect(page.locator("#results tbody tr")).to_contain_text("Import Good")


def test_a_store_bound_manager_changes_only_their_stores_members(context: BrowserContext,
                                                                 platform: dict[str, Any]) -> None:
    elsewhere = register_member(platform, "Ma Lan", store="BJ-001")
    masked = elsewhere["plain_phone"][:3] + "****" + elsewhere["plain_phone"][-4:]
    page = context.new_page()
    staff_login(page, "b.manager")  # bound to SH-001
    page.goto("/desk?by=phone&q=" + elsewhere["plain_phone"])  # a phone lookup reaches the whole chain
    expect(page.locator("#results tbody tr .phone")).to_have_text(masked)
    page.goto(f"/members/{elsewhere['member_id']}")
    expect(page.locator("#phone")).to_have_text(masked)  # another store's member: masked even for a manager
    for form in ("#edit-form", "#merge-form", "#erase-form"):
        expect(page.locator(form)).to_have_count(0)
    forced = context.request.post(f"/members/{elsewhere['member_id']}/edit", form={
        "csrf": csrf_of(page), "version": "1", "name": "Forced", "orig_name": "Ma Lan"}, max_redirects=0)
    assert forced.status == 403 and "store" in forced.text()
    assert platform["http"].get(f"/v1/members/{elsewhere['member_id']}").json()["name"] == "Ma Lan"


def test_a_clerk_registers_a_member_and_a_bad_field_shows_the_apis_message(context: BrowserContext,
                                                                           platform: dict[str, Any]) -> None:
    page = context.new_page()
    staff_login(page, "b.clerk")
    page.get_by_label("Name", exact=True).fill("Han Xue")
    page.get_by_label("Phone", exact=True).fill("12345")
    page.get_by_role("button", name="Register a member").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Field: phone")
    expect(page.get_by_label("Name", exact=True)).to_have_value("Han Xue")  # what was typed stays
    phone = "139" + f"{uuid.uuid4().int % 10**8:08d}"
    page.get_by_label("Phone", exact=True).fill(phone)
    page.get_by_role("button", name="Register a member").click()
    expect(page.get_by_role("status")).to_contain_text("Member registered")
    expect(page.locator("h1")).to_contain_text("Han Xue")
    expect(page.locator("#phone")).to_have_text(phone[:3] + "****" + phone[-4:])
