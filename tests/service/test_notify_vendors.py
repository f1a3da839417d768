"""Notify with the Chinese vendors' adapters on the real broker and database: messages go out through
the vendor servers in tests/vendor_servers, and the vendors' delivery reports mark them delivered."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest

from contracts.errors import Forbidden, InvalidInput
from contracts.events import MemberErased, PointsExpiring, TierChanged
from tests.helpers import wait_for
from tests.service.notify_support import call, deliver, now
from tests.service.test_notify_delivery import ADMIN, member, messages, platform  # noqa: F401 (the fixture)
from tests.vendor_servers import aliyun, wechat

TOKEN = "receipt-token-for-tests"
SMS_TEMPLATES = json.dumps({"login_code": {"id": "SMS_900001", "params": ["code"]},
                            "tier.changed": {"id": "SMS_900003", "params": ["new_tier"]}})


@pytest.fixture
def alibaba():
    server = aliyun.AliyunSmsServer()
    yield server
    server.close()


def test_alibaba_sms_codes_and_messages_then_its_reports_mark_them_delivered(platform, alibaba):  # noqa: F811
    notify, *_ = platform["start"](
        NOTIFY_SMS_PROVIDER="aliyun", NOTIFY_ALIYUN_ACCESS_KEY_ID=aliyun.KEY_ID,
        NOTIFY_ALIYUN_ACCESS_KEY_SECRET=aliyun.SECRET, NOTIFY_ALIYUN_SMS_ENDPOINT=alibaba.url + "/",
        NOTIFY_SMS_SIGN_NAME=aliyun.SIGN_NAME, NOTIFY_SMS_TEMPLATES=SMS_TEMPLATES, NOTIFY_SMS_RECEIPT_TOKEN=TOKEN)
    code = call(notify, "send_code", phone="+8613912345678", code="482913")
    member_id = member(platform)
    deliver(notify, "on_tier_changed", TierChanged(member_id=member_id, old_tier="normal", new_tier="gold",
                                                   direction="up", changed_at=now(), reason="sale"))
    [tier] = wait_for(lambda: [m for m in messages(notify, member_id=member_id) if m["status"] == "sent"] or None,
                      message="the tier message sent")
    assert [s["values"] for s in alibaba.sent] == [{"code": "482913"}, {"new_tier": "gold"}]
    assert [s["out_id"] for s in alibaba.sent] == [code["message_id"], tier["message_id"]]
    reports = alibaba.reports()
    with pytest.raises(Forbidden):
        call(notify, "vendor_receipts", vendor="aliyun", token="guess", body=json.dumps(reports))
    forged = [{**reports[0], "out_id": "someone-else"}]  # a report must name our message as its OutId
    assert call(notify, "vendor_receipts", vendor="aliyun", token=TOKEN, body=json.dumps(forged))["recorded"] == 0
    answer = call(notify, "vendor_receipts", vendor="aliyun", token=TOKEN, body=json.dumps(reports))
    assert answer == {"ack": {"code": 0, "msg": "成功"}, "recorded": 2, "ignored": 0}
    unknown = [{"sid": "3369:0", "report_status": "SUCCESS", "errmsg": "DELIVRD", "mobile": "13912345678"}]
    assert call(notify, "vendor_receipts", vendor="tencent", token=TOKEN, body=json.dumps(unknown))["ack"] == \
        {"result": 0, "errmsg": "OK"}  # acknowledged, or Tencent pushes it again; nothing recorded
    for message_id in (code["message_id"], tier["message_id"]):
        assert call(notify, "message", message_id, caller=ADMIN)["status"] == "delivered"


GATEWAY = '{"kind":"service","id":"gateway","roles":["service:gateway"]}'
WECHAT_TEMPLATES = json.dumps({"points.expiring": {
    "id": "tmpl-points-expiring", "kind": "subscribe", "page": "pages/points/index",
    "data": {"thing1": "name", "number2": "points", "date3": "expiry_date"}}})


def test_a_wechat_login_links_by_phone_with_consent_and_messages_reach_the_openid(platform):  # noqa: F811
    weixin = wechat.WechatServer()
    try:
        notify, *_ = platform["start"](
            NOTIFY_WECHAT_PROVIDER="wechat", NOTIFY_WECHAT_MP_APP_ID=wechat.MP_APP,
            NOTIFY_WECHAT_MP_SECRET=wechat.MP_SECRET, NOTIFY_WECHAT_API_BASE=weixin.url,
            NOTIFY_WECHAT_TEMPLATES=WECHAT_TEMPLATES, NOTIFY_TRANSACTIONAL_CHANNELS="wechat",
            NOTIFY_WECHAT_PUSH_TOKEN=TOKEN)
        member_id = member(platform)
        with pytest.raises(Forbidden):  # only the gateway, which issues the member's token, asks
            call(notify, "wechat_session", code=weixin.login_code("o-1"), caller=ADMIN)
        unlinked = call(notify, "wechat_session", code=weixin.login_code("o-1"), caller=GATEWAY)
        assert (unlinked["openid"], unlinked["member_id"], unlinked["phone"]) == ("o-1", None, None)
        no_consent = call(notify, "wechat_session", code=weixin.login_code("o-1"),
                          phone_code=weixin.phone_code("13912345678"), caller=GATEWAY)
        assert no_consent["phone"] is None  # no consent: WeChat is not even asked for the phone
        shared = call(notify, "wechat_session", code=weixin.login_code("o-1"), phone_code=weixin.phone_code(
            "13912345678"), consent=True, caller=GATEWAY)
        assert shared["phone"] == "+8613912345678" and shared["member_id"] is None
        call(notify, "wechat_link", openid="o-1", member_id=member_id, caller=GATEWAY)
        again = call(notify, "wechat_session", code=weixin.login_code("o-1"), caller=GATEWAY)
        assert again["member_id"] == member_id
        with pytest.raises(InvalidInput):
            call(notify, "wechat_session", code="used-or-made-up", caller=GATEWAY)

        weixin.subscribe("o-1", "tmpl-points-expiring")
        deliver(notify, "on_points_expiring", PointsExpiring(
            member_id=member_id, points=200, expires_at=now() + timedelta(days=7), days_ahead=7))
        [sent] = wait_for(lambda: [m for m in messages(notify, member_id=member_id) if m["status"] == "sent"]
                          or None, message="the WeChat message sent")
        assert sent["channel"] == "wechat" and sent["provider_message_id"] == "1000"
        assert weixin.sent[0]["touser"] == "o-1" and weixin.sent[0]["data"]["number2"] == {"value": "200"}
        query, body = weixin.push(TOKEN)
        with pytest.raises(Forbidden):
            call(notify, "wechat_push", **{**query, "signature": "0" * 40}, body=body)
        assert call(notify, "wechat_push", **query, body=body) == {"recorded": 1}
        assert call(notify, "message", sent["message_id"], caller=ADMIN)["status"] == "delivered"
        deliver(notify, "on_member_erased", MemberErased(member_id=member_id, erased_at=now()))
        assert call(notify, "wechat_session", code=weixin.login_code("o-1"), caller=GATEWAY)["member_id"] is None
    finally:
        weixin.close()
