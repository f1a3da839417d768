"""The vendors' signers against the vendors' own published examples, and their report parsers."""
from __future__ import annotations

import hashlib

import pytest

from services.notify import sms_aliyun, sms_tencent, wechat_events
from services.notify.channels import PermanentError, ProviderError
from services.notify.vendor_signing import (
    aliyun_signature,
    percent,
    tc3_authorization,
    tc3_canonical_request,
    tc3_signature,
)

# Alibaba's SendSms signing example (help.aliyun.com document 101343): testId / testSecret
ALIYUN_EXAMPLE = {
    "AccessKeyId": "testId", "Action": "SendSms", "Format": "XML", "OutId": "123", "PhoneNumbers": "15300000001",
    "RegionId": "cn-hangzhou", "SignName": "阿里云短信测试专用", "SignatureMethod": "HMAC-SHA1",
    "SignatureNonce": "45e25e9b-0a6f-4070-8c85-2956eda1b466", "SignatureVersion": "1.0",
    "TemplateCode": "SMS_71390007", "TemplateParam": '{"customer":"test"}', "Timestamp": "2017-07-12T02:42:19Z",
    "Version": "2017-05-25"}

# Tencent Cloud's TC3-HMAC-SHA256 example (API 3.0 "Signature v3"): CVM DescribeInstances at 1551113065
TC3_PAYLOAD = b'{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], "Name": "instance-name"}]}'


def test_alibaba_percent_encoding_keeps_only_unreserved_characters():
    assert percent("a b*c~d/e+f") == "a%20b%2Ac~d%2Fe%2Bf"
    assert percent("测") == "%E6%B5%8B"


def test_the_alibaba_signature_matches_alibabas_sendsms_example():
    assert aliyun_signature("GET", ALIYUN_EXAMPLE, "testSecret") == "zJDF+Lrzhj/ThnlvIToysFRq6t4="
    assert aliyun_signature("GET", {**ALIYUN_EXAMPLE, "Signature": "ignored"}, "testSecret") == \
        "zJDF+Lrzhj/ThnlvIToysFRq6t4="
    assert aliyun_signature("POST", ALIYUN_EXAMPLE, "testSecret") != "zJDF+Lrzhj/ThnlvIToysFRq6t4="


@pytest.mark.parametrize("secret, signature", [
    ("Gu5t9xGARNpq86cd98joQYCN3*******", "2230eefd229f582d8b1b891af7107b91597240707d778ab3738f756258d7652c"),
    ("Gu5t9xGARNpq86cd98joQYCN3EXAMPLE", "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"),
])
def test_the_tc3_signature_matches_tencents_examples(secret, signature):
    canonical = tc3_canonical_request("POST", "application/json; charset=utf-8", "cvm.tencentcloudapi.com",
                                      TC3_PAYLOAD)
    assert canonical.endswith("35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064")
    assert tc3_signature(secret, 1551113065, "cvm", canonical) == ("2019-02-25/cvm/tc3_request", signature)
    header = tc3_authorization("AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE", secret, 1551113065, "cvm",
                               "cvm.tencentcloudapi.com", "application/json; charset=utf-8", TC3_PAYLOAD)
    assert header == ("TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE/2019-02-25/cvm/tc3_request, "
                      f"SignedHeaders=content-type;host, Signature={signature}")


@pytest.mark.parametrize("code, kind", [
    ("isv.BUSINESS_LIMIT_CONTROL", ProviderError), ("Throttling.User", ProviderError),
    ("SignatureDoesNotMatch", ProviderError), ("isv.MOBILE_NUMBER_ILLEGAL", PermanentError),
    ("isv.SMS_TEMPLATE_ILLEGAL", PermanentError), ("isv.TEMPLATE_MISSING_PARAMETERS", PermanentError),
])
def test_alibaba_codes_split_into_retry_and_refusal(code, kind):
    assert isinstance(sms_aliyun.classify(code), kind)


@pytest.mark.parametrize("code, kind", [
    ("LimitExceeded.PhoneNumberThirtySecondLimit", ProviderError), ("RequestLimitExceeded", ProviderError),
    ("AuthFailure.SignatureFailure", ProviderError), ("FailedOperation.InsufficientBalanceInSmsPackage", ProviderError),
    ("InvalidParameterValue.IncorrectPhoneNumber", PermanentError),
    ("FailedOperation.TemplateIncorrectOrUnapproved", PermanentError),
])
def test_tencent_codes_split_into_retry_and_refusal(code, kind):
    assert isinstance(sms_tencent.classify(code), kind)


def test_reports_map_to_our_receipt_states():
    [(ok, ours), (bad, _)] = sms_aliyun.reports([
        {"biz_id": "1^0", "out_id": "m-1", "success": True, "err_code": "DELIVERED"},
        {"biz_id": "2^0", "success": False, "err_code": "MK:0001"}])
    assert (ok.provider_message_id, ok.status, ours) == ("1^0", "delivered", "m-1")
    assert (bad.status, bad.detail) == ("failed", "aliyun MK:0001")
    [(sent, _), (failed, _)] = sms_tencent.statuses([
        {"sid": "s-1", "report_status": "SUCCESS", "errmsg": "DELIVRD"},
        {"sid": "s-2", "report_status": "FAIL", "errmsg": "MK:0001"}])
    assert (sent.status, failed.status, failed.detail) == ("delivered", "failed", "tencent MK:0001")
    with pytest.raises(ValueError):
        sms_aliyun.reports({"biz_id": "1"})


def test_wechat_push_signature_and_subscribe_results():
    assert wechat_events.signature("token", "1700000000", "n1") == \
        hashlib.sha1(b"1700000000n1token").hexdigest()
    [(ok, _), (refused, _)] = wechat_events.sent_events({
        "MsgType": "event", "Event": "subscribe_msg_sent_event",
        "List": [{"MsgID": "1", "ErrorCode": "0"}, {"MsgID": "2", "ErrorCode": "10004", "ErrorStatus": "fail"}]})
    assert (ok.status, refused.status, refused.detail) == ("delivered", "failed", "wechat 10004")
    assert wechat_events.sent_events({"MsgType": "event", "Event": "user_enter_tempsession"}) == []
    assert wechat_events.fresh("1700000000", 1700000299) and wechat_events.fresh("1700000300", 1700000000)
    assert not wechat_events.fresh("1700000000", 1700000301) and not wechat_events.fresh("17e8", 1700000000)
