"""A marketer builds a segment with a live size preview, launches a campaign with a control group and
sees its results, in the browser."""
from __future__ import annotations

import re
import time
import uuid
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, expect

from tests.browser.conftest import shot, staff_login

MEMBERS = 10

pytestmark = pytest.mark.e2e


def test_a_marketer_builds_a_segment_and_launches_a_campaign_with_a_control_group(
        context: BrowserContext, platform: dict[str, Any]) -> None:
    http = platform["http"]
    store = f"MK-{uuid.uuid4().hex[:5].upper()}"
    for i in range(MEMBERS):
        made = http.post("/v1/members", json={"name": f"Marketing {i}", "registration_store": store,
                                              "phone": "135" + f"{uuid.uuid4().int % 10**8:08d}"})
        assert made.status_code == 201, made.text
    template = f"满100减20 {store}"

    page = context.new_page()
    staff_login(page, "b.marketer")
    expect(page.get_by_role("link", name="Audit log")).to_have_count(0)
    page.get_by_role("link", name="Coupon templates").click()
    page.get_by_label("Name", exact=True).fill(template)
    page.get_by_label("Type").select_option("threshold")
    page.get_by_label("Amount off").fill("20.00")
    page.get_by_label("Minimum spend").fill("100.00")
    page.get_by_label("Valid days from issue").fill("30")
    page.get_by_label("Preview: a basket of").fill("120.00")
    expect(page.locator("#template-preview")).to_contain_text("gets 20.00 off and pays 100.00")  # live, by htmx
    page.get_by_label("Preview: a basket of").fill("99.00")
    expect(page.locator("#template-preview")).to_contain_text("gets 0.00 off")  # the service's refusal, and why
    expect(page.locator("#template-preview")).to_contain_text("needs a spend of 100.00")
    shot(page, "coupon-templates")
    page.get_by_role("button", name="Create template").click()
    expect(page.locator("#templates")).to_contain_text(template)

    page.get_by_role("link", name="Segments").click()
    page.get_by_label("Name", exact=True).fill(f"Shoppers of {store}")
    page.get_by_label("Field 1").select_option("store")
    page.get_by_label("Operator 1").select_option("eq")
    page.get_by_label("Value 1").fill(store)
    deadline = time.monotonic() + 60  # campaigns' read model fills from member.registered events
    while True:
        page.get_by_role("button", name="Preview size").click()
        expect(page.locator("#segment-size")).to_be_visible()
        if page.locator("#segment-size strong").inner_text() == str(MEMBERS) or time.monotonic() > deadline:
            break
        time.sleep(1)
    expect(page.locator("#segment-size strong")).to_have_text(str(MEMBERS))
    shot(page, "segment-builder")
    page.get_by_role("button", name="Save segment").click()
    expect(page.locator("#segment-size strong")).to_have_text(str(MEMBERS))
    # RFM / ABCD counts from the API, drawn after the page (not scored yet: one "not scored" bar)
    expect(page.get_by_role("img", name="Members per ABCD class")).to_contain_text("not scored yet")
    expect(page.get_by_role("img", name="Members per RFM group")).to_contain_text(str(MEMBERS))
    shot(page, "segment-charts")

    segment_url = page.url
    page.get_by_label("Coupon template").select_option(label=f"{template} (threshold)")
    page.get_by_role("button", name="Issue a coupon to every member").click()
    expect(page.locator("#issued")).to_have_text(str(MEMBERS), timeout=30_000)  # htmx follows the job
    shot(page, "issue-job")
    page.goto(segment_url)
    page.get_by_role("link", name="New campaign for this segment").click()
    page.get_by_label("Name", exact=True).fill(f"Coupons for {store}")
    page.get_by_label("Type").select_option("coupon_drop")
    page.get_by_label("Coupon template").select_option(label=f"{template} (threshold)")
    page.get_by_label("Control group share (0-1)").fill("0.5")
    page.get_by_role("button", name="Create draft").click()
    expect(page.locator("#campaign-status")).to_have_text("draft")
    page.get_by_role("button", name="Schedule").click()
    expect(page.locator("#campaign-status")).to_have_text("scheduled")
    page.get_by_role("button", name="Launch").click()
    expect(page.locator("#campaign-status")).to_have_text("running")
    reached, control = int(page.locator("#reached").inner_text()), int(page.locator("#control").inner_text())
    assert reached + control == MEMBERS and control > 0
    expect(page.get_by_role("img", name=re.compile("Conversion"))).to_be_visible()
    expect(page.get_by_role("img", name=re.compile("Treated beside control"))).to_contain_text(store)
    shot(page, "campaign-results")
