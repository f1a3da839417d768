"""The official account's plain-mode XML pushes, as WeChat writes them, and what notify makes of them."""
from __future__ import annotations

import pytest

from services.notify.wechat_official import parse, receipt_of
from tests.vendor_servers.wechat import xml

FINISHED = ("<xml><ToUserName><![CDATA[gh_7f083739789a]]></ToUserName><FromUserName><![CDATA[oia2Tj-EGTNo]]>"
            "</FromUserName><CreateTime>1395658920</CreateTime><MsgType><![CDATA[event]]></MsgType>"
            "<Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event><MsgID>200163836</MsgID>"
            "<Status><![CDATA[failed:user block]]></Status></xml>")


def test_a_push_is_read_field_by_field_and_template_results_become_receipts():
    fields = parse(FINISHED)
    assert (fields["Event"], fields["MsgID"], fields["FromUserName"]) == ("TEMPLATESENDJOBFINISH", "200163836",
                                                                          "oia2Tj-EGTNo")
    failed = receipt_of(fields)
    assert (failed.provider_message_id, failed.status, failed.detail) == ("200163836", "failed",
                                                                          "wechat failed:user block")
    ok = receipt_of(parse(xml({"MsgType": "event", "Event": "TEMPLATESENDJOBFINISH", "MsgID": 7, "Status": "success"})))
    assert (ok.status, ok.detail) == ("delivered", None)
    assert parse(xml({"MsgType": "event", "Event": "subscribe", "FromUserName": "李雷-openid"}))["FromUserName"] == \
        "李雷-openid"


@pytest.mark.parametrize("body", [
    "", "not xml", "<xml><Event>subscribe</xml>", "<root><Event>subscribe</Event></root>",
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">]><xml><Event>&lol;</Event></xml>',
    "<xml>" + "<A>b</A>" * 3000 + "</xml>"])
def test_what_is_not_a_plain_mode_push_is_refused(body):
    with pytest.raises(ValueError):
        parse(body)


def test_a_template_result_names_its_message():
    with pytest.raises(ValueError):
        receipt_of(parse(xml({"MsgType": "event", "Event": "TEMPLATESENDJOBFINISH", "Status": "success"})))
