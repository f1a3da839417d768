"""The member page on a phone-sized browser: one-time-code login, check-in, rewards exchange."""
from __future__ import annotations

import uuid
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, expect

from tests.browser.conftest import login_code, register_member, sale, shot

pytestmark = pytest.mark.e2e


def test_a_member_logs_in_checks_in_and_exchanges_points_for_a_coupon(phone_context: BrowserContext,
                                                                      platform: dict[str, Any]) -> None:
    http = platform["http"]
    template = http.post("/v1/coupons/templates", json={"name": "立减 5 元", "kind": "cash", "amount": "5.00",
                                                        "valid_days": 30})
    assert template.status_code == 201, template.text
    item = http.post("/v1/rewards", json={"kind": "coupon", "name": "5 元券", "points": 30,
                                          "template_id": template.json()["template_id"], "stock": 100, "active": True})
    assert item.status_code == 201, item.text
    member = register_member(platform, "林小红")
    sale(platform, member["member_id"], "60.00")

    page = phone_context.new_page()
    page.goto("/m/")
    page.get_by_label("手机号").fill(member["plain_phone"])
    page.get_by_role("button", name="获取验证码").click()
    expect(page.get_by_role("status")).to_contain_text("****")
    page.get_by_label("验证码").fill(login_code(platform, member["plain_phone"]))
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("林小红")
    before = int(page.locator("#balance").inner_text())
    shot(page, "member-page")

    page.get_by_role("button", name="每日签到").click()
    expect(page.get_by_role("status")).to_contain_text("签到成功")
    after_checkin = int(page.locator("#balance").inner_text())
    assert after_checkin > before
    page.get_by_role("button", name="每日签到").click()
    expect(page.get_by_role("status")).to_contain_text("今天已经签过到了")

    page.get_by_role("button", name="兑换 5 元券").click()
    expect(page.get_by_role("status")).to_contain_text("兑换成功")
    assert int(page.locator("#balance").inner_text()) == after_checkin - 30
    coupon = page.locator("figure.coupon").first
    expect(coupon.locator("svg.qr")).to_be_visible()
    code = coupon.locator("code.code").inner_text()
    assert len(code.replace("-", "")) == 15
    shot(page, "member-coupon")
    # the QR code reads as the coupon code itself: the till validates it
    checked = http.post("/v1/coupons/validate", json={"codes": [code], "store": "SH-001", "amount": "50.00"})
    assert checked.status_code == 200, checked.text

    exported = page.request.get("/m/export")
    assert exported.status == 200 and member["member_id"] in exported.text()


def test_a_new_member_registers_from_the_member_page(phone_context: BrowserContext, platform: dict[str, Any]) -> None:
    phone = "138" + f"{uuid.uuid4().int % 10**8:08d}"
    page = phone_context.new_page()
    page.goto("/m/login")
    page.get_by_label("手机号").fill(phone)
    page.get_by_label("我是新会员，注册").check()
    page.get_by_role("button", name="获取验证码").click()
    page.get_by_label("姓名").fill("迪丽热巴・迪力木拉提")
    page.get_by_label("验证码").fill(login_code(platform, phone))
    page.get_by_role("button", name="注册并登录").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("迪丽热巴・迪力木拉提")
    found = platform["http"].get("/v1/members", params={"phone": phone}).json()["items"]
    assert len(found) == 1 and found[0]["channel"] == "web"
