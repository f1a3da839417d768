"""The Chinese vendors' adapters against local servers speaking their documented protocols: the
servers recompute each request's signature, throttle and refuse as the vendors do."""
from __future__ import annotations

import uuid

import pytest

from services.notify.channels import Outgoing, PermanentError, ProviderError
from services.notify.sms_aliyun import AliyunSms
from services.notify.sms_tencent import TencentSms
from services.notify.vendors import VendorTemplate
from services.notify.wechat import WechatApp, WechatChannel
from tests.vendor_servers import aliyun, tencent, wechat

SMS_TEMPLATES = {"login_code": VendorTemplate(id="SMS_900001", params=("code",)),
                 "points.expiring": VendorTemplate(id="SMS_900002", params=("name", "points", "expiry_date")),
                 "birthday": VendorTemplate(id="SMS_404", params=("name",))}


def sms(phone: str | None = None, template: str = "login_code", **variables: object) -> Outgoing:
    phone = phone or f"+86139{uuid.uuid4().int % 10**8:08d}"
    return Outgoing(message_id=str(uuid.uuid4()), channel="sms", to=phone, body="(vendor template)",
                    template=template, variables=variables or {"code": "482913"})


@pytest.fixture
def alibaba():
    server = aliyun.AliyunSmsServer()
    yield server
    server.close()


def aliyun_channel(server: aliyun.AliyunSmsServer, secret: str = aliyun.SECRET, **kw: object) -> AliyunSms:
    return AliyunSms(access_key_id=aliyun.KEY_ID, access_key_secret=secret, sign_name=aliyun.SIGN_NAME,
                     templates=SMS_TEMPLATES, endpoint=server.url + "/", timeout=5, **kw)  # type: ignore[arg-type]


def test_alibaba_sends_a_signed_template_message_and_refuses_or_retries_as_documented(alibaba):
    channel = aliyun_channel(alibaba)
    message = sms()
    biz_id = channel.send(message)
    [sent] = alibaba.sent
    assert sent["biz_id"] == biz_id and sent["out_id"] == message.message_id
    assert sent["phone"] == message.to[3:] and sent["values"] == {"code": "482913"}
    with pytest.raises(ProviderError, match="isv.BUSINESS_LIMIT_CONTROL"):  # one per number per minute
        channel.send(sms(message.to))
    with pytest.raises(ProviderError, match="SignatureDoesNotMatch"):  # a wrong secret: fix it, messages wait
        aliyun_channel(alibaba, secret="wrong").send(sms())
    alibaba.throttle = 1
    with pytest.raises(ProviderError, match="Throttling.User"):
        channel.send(sms())
    with pytest.raises(PermanentError, match="isv.MOBILE_NUMBER_ILLEGAL"):
        channel.send(sms("+86100"))
    with pytest.raises(PermanentError, match="isv.SMS_TEMPLATE_ILLEGAL"):
        channel.send(sms(template="birthday", name="Li"))
    with pytest.raises(PermanentError, match="needs expiry_date"):  # caught before it costs a request
        channel.send(sms(template="points.expiring", name="Li", points=20))
    with pytest.raises(PermanentError, match="no vendor template"):
        channel.send(sms(template="tier.changed"))
    points = channel.send(sms(template="points.expiring", name="李雷", points=200, expiry_date="2026-12-31"))
    assert alibaba.sent[-1]["biz_id"] == points
    assert alibaba.sent[-1]["values"] == {"name": "李雷", "points": "200", "expiry_date": "2026-12-31"}
    assert len(alibaba.sent) == 2


@pytest.fixture
def tencent_server():
    server = tencent.TencentSmsServer()
    yield server
    server.close()


def tencent_channel(server: tencent.TencentSmsServer, secret: str = tencent.SECRET_KEY) -> TencentSms:
    templates = {"login_code": VendorTemplate(id="100001", params=("code",)),
                 "birthday": VendorTemplate(id="999", params=("name",))}
    return TencentSms(secret_id=tencent.SECRET_ID, secret_key=secret, sdk_app_id=tencent.APP_ID,
                      sign_name=tencent.SIGN_NAME, templates=templates, endpoint=server.url + "/", timeout=5)


def test_tencent_sends_a_tc3_signed_template_message_and_refuses_or_retries_as_documented(tencent_server):
    channel = tencent_channel(tencent_server)
    message = sms()
    serial = channel.send(message)
    [sent] = tencent_server.sent
    assert (sent["sid"], sent["phone"], sent["values"], sent["context"]) == (serial, message.to, ["482913"],
                                                                              message.message_id)
    with pytest.raises(ProviderError, match="LimitExceeded.PhoneNumberThirtySecondLimit"):
        channel.send(sms(message.to))
    with pytest.raises(ProviderError, match="AuthFailure.SignatureFailure"):
        tencent_channel(tencent_server, secret="wrong").send(sms())
    tencent_server.throttle = 1
    with pytest.raises(ProviderError, match="RequestLimitExceeded"):
        channel.send(sms())
    with pytest.raises(PermanentError, match="InvalidParameterValue.IncorrectPhoneNumber"):
        channel.send(sms("+86100"))
    with pytest.raises(PermanentError, match="FailedOperation.TemplateIncorrectOrUnapproved"):
        channel.send(sms(template="birthday", name="Li"))
    assert len(tencent_server.sent) == 1


WECHAT_TEMPLATES = {
    "points.expiring": VendorTemplate(id="tmpl-points-expiring", params=("name", "points", "expiry_date"),
                                      fields=("thing1", "number2", "date3"), page="pages/points/index"),
    "tier.changed": VendorTemplate(id="tmpl-tier", kind="template", params=("name", "new_tier"),
                                   fields=("thing1", "phrase2"), page="pages/member/index")}


@pytest.fixture
def weixin():
    server = wechat.WechatServer()
    yield server
    server.close()


def test_wechat_subscribe_and_template_messages_with_a_cached_token(weixin):
    mini = WechatApp(app_id=wechat.MP_APP, secret=wechat.MP_SECRET, api_base=weixin.url, timeout=5)
    official = WechatApp(app_id=wechat.OA_APP, secret=wechat.OA_SECRET, api_base=weixin.url, timeout=5)
    channel = WechatChannel(templates=WECHAT_TEMPLATES, mini=mini, official=official)
    to = f"{wechat.MP_APP}=o-mini-1,{wechat.OA_APP}=o-oa-1"

    def message(template: str = "points.expiring") -> Outgoing:
        variables = {"name": "李雷", "points": 200, "expiry_date": "2026-12-31", "new_tier": "金卡"}
        return Outgoing(message_id=str(uuid.uuid4()), channel="wechat", to=to, body="", template=template,
                        variables=variables)

    weixin.subscribe("o-mini-1", "tmpl-points-expiring")
    assert channel.send(message()) == "1000"
    assert weixin.sent[0]["data"] == {"thing1": {"value": "李雷"}, "number2": {"value": "200"},
                                      "date3": {"value": "2026-12-31"}}
    with pytest.raises(PermanentError, match="wechat 43101"):  # the one-time subscription is used up
        channel.send(message())
    weixin.subscribe("o-mini-1", "tmpl-points-expiring")
    weixin.expire_tokens()  # 42001: the token is fetched again and the message goes out
    assert channel.send(message()) == "1001"
    assert weixin.token_calls == 2
    weixin.followers.add("o-oa-1")
    assert channel.send(message("tier.changed")) == "1002"
    assert weixin.sent[-1]["page"] == {"appid": wechat.MP_APP, "pagepath": "pages/member/index"}
    weixin.quota_left = 0
    with pytest.raises(ProviderError, match="wechat 45009"):
        channel.send(message("tier.changed"))
    with pytest.raises(PermanentError, match="no openid"):
        channel.send(Outgoing(message_id="m", channel="wechat", to=f"{wechat.MP_APP}=o-1", body="",
                              template="tier.changed", variables={"name": "A", "new_tier": "B"}))
    wrong = WechatApp(app_id=wechat.MP_APP, secret="wrong", api_base=weixin.url, timeout=5)
    with pytest.raises(ProviderError, match="wechat 40125"):  # a wrong secret waits for ops, not dead-letters
        WechatChannel(templates=WECHAT_TEMPLATES, mini=wrong).send(message())
    assert weixin.token_calls == 4


def test_wechat_login_calls(weixin):
    mini = WechatApp(app_id=wechat.MP_APP, secret=wechat.MP_SECRET, api_base=weixin.url, timeout=5)
    code = weixin.login_code("o-mini-2", unionid="u-2")
    assert mini.code2session(code) == {"openid": "o-mini-2", "unionid": "u-2"}
    with pytest.raises(PermanentError, match="wechat 40029"):  # a code is good once
        mini.code2session(code)
    assert mini.phone_number(weixin.phone_code("13912345678")) == "+8613912345678"
