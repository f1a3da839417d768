"""Notify with the Chinese vendors' adapters on the real broker and database: messages go out through
the vendor servers in tests/vendor_servers, and the vendors' delivery reports mark them delivered."""
from __future__ import annotations

import json

import pytest

from contracts.errors import Forbidden
from contracts.events import TierChanged
from tests.helpers import wait_for
from tests.service.notify_support import call, deliver, now
from tests.service.test_notify_delivery import ADMIN, member, messages, platform  # noqa: F401 (the fixture)
from tests.vendor_servers import aliyun

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
