"""Gateway routes for the Chinese channels: SMS vendors' report pushes, WeChat mini-program login, the
official account's link and push."""
from __future__ import annotations

import uuid

from services.gateway.rpc import RemoteError
from tests.gateway.conftest import audit_count
from tests.gateway.test_points_routes import fake  # noqa: F401 (the fixture)

ALIYUN_REPORT = b'[{"biz_id":"1^0","out_id":"m-1","success":true,"err_code":"DELIVERED"}]'


def test_a_vendor_report_push_is_passed_on_with_its_token_and_answered_as_the_vendor_expects(client, fake):  # noqa: F811
    services = fake({("notify", "vendor_receipts"): {"ack": {"code": 0, "msg": "成功"}, "recorded": 1,
                                                      "ignored": 0}})
    response = client.post("/v1/notify/receipts/sms/aliyun?token=t-1", content=ALIYUN_REPORT,
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 200 and response.json() == {"code": 0, "msg": "成功"}
    assert services.calls[0][2] == {"vendor": "aliyun", "token": "t-1", "body": ALIYUN_REPORT.decode()}
    fake({("notify", "vendor_receipts"): RemoteError("Forbidden", "bad or missing receipt token", "token")})
    json_type = {"Content-Type": "application/json"}
    assert client.post("/v1/notify/receipts/sms/tencent", content=b"[]", headers=json_type).status_code == 403
    assert client.post("/v1/notify/receipts/sms/other?token=t", content=b"[]", headers=json_type).status_code in (
        404, 422)


def test_wechat_login_links_by_phone_only_with_consent_and_returns_a_member_token(client, fake):  # noqa: F811
    member_id = str(uuid.uuid4())
    linked = fake({("notify", "wechat_session"): {"openid": "o-1", "unionid": None, "member_id": member_id,
                                                  "phone": None}})
    response = client.post("/v1/auth/wechat", json={"code": "c-1"})
    assert response.status_code == 200 and response.json()["token_type"] == "bearer"
    assert linked.calls[0][2] == {"code": "c-1", "phone_code": None, "consent": False}
    me = client.get("/v1/me", headers={"Authorization": f"Bearer {response.json()['access_token']}"})
    assert me.status_code != 401  # a member token (members answers the name; not here)

    unlinked = fake({("notify", "wechat_session"): {"openid": "o-2", "unionid": None, "member_id": None,
                                                    "phone": None}})
    refused = client.post("/v1/auth/wechat", json={"code": "c-2", "phone_code": "p-2"})  # no consent
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "wechat_not_linked"
    assert unlinked.calls[0][2]["phone_code"] is None  # not even passed on without consent

    services = fake({("notify", "wechat_session"): {"openid": "o-3", "unionid": "u-3", "member_id": None,
                                                    "phone": "+8613912345678"},
                     ("members", "lookup_phone"): {"phone": "+8613912345678", "member_id": member_id},
                     ("notify", "wechat_link"): {"member_id": member_id, "linked_at": "2026-12-05T00:00:00Z"}})
    response = client.post("/v1/auth/wechat", json={"code": "c-3", "phone_code": "p-3", "consent": True})
    assert response.status_code == 200, response.text
    assert services.methods() == ["notify.wechat_session", "members.lookup_phone", "notify.wechat_link"]
    assert services.calls[2][2] == {"openid": "o-3", "member_id": member_id, "unionid": "u-3"}

    fake({("notify", "wechat_session"): {"openid": "o-4", "unionid": None, "member_id": None,
                                         "phone": "+8613900000000"},
          ("members", "lookup_phone"): {"phone": "+8613900000000", "member_id": None}})
    stranger = client.post("/v1/auth/wechat", json={"code": "c-4", "phone_code": "p-4", "consent": True})
    assert stranger.status_code == 404 and stranger.json()["error"]["code"] == "not_a_member"
    fake({("notify", "wechat_session"): RemoteError("InvalidInput", "the code is invalid, used or expired", "code")})
    assert client.post("/v1/auth/wechat", json={"code": "c-5"}).status_code == 422


def test_the_wechat_push_url_check_echoes_and_pushes_are_passed_on(client, fake):  # noqa: F811
    services = fake({("notify", "wechat_push"): {"recorded": 0}})
    query = "signature=ab&timestamp=1700000000&nonce=n1"
    checked = client.get(f"/v1/notify/wechat/push?{query}&echostr=hello")
    assert checked.status_code == 200 and checked.text == "hello"
    assert services.calls[0][2] == {"timestamp": "1700000000", "nonce": "n1", "signature": "ab"}
    pushed = client.post(f"/v1/notify/wechat/push?{query}", content=b'{"MsgType":"event"}',
                         headers={"Content-Type": "application/json"})
    assert pushed.status_code == 200 and pushed.text == "success"
    assert services.calls[1][2]["body"] == '{"MsgType":"event"}'
    fake({("notify", "wechat_push"): RemoteError("Forbidden", "bad or missing WeChat push signature", "signature")})
    assert client.get(f"/v1/notify/wechat/push?{query}&echostr=hello").status_code == 403


def test_a_member_links_the_official_account_with_consent_and_unlinks_wechat(client, callers, fake, engine):  # noqa: F811
    member_id = callers["member_id"]["id"]
    linked = {"member_id": member_id, "app_id": "wx-oa", "following": True, "linked_at": "2026-12-06T00:00:00+00:00"}
    services = fake({("notify", "wechat_oa_link"): linked, ("notify", "wechat_unlink"): {"unlinked": 2}})
    route = "/v1/members/me/wechat/official-account"
    refused = client.post(route, headers=callers["member"], json={"code": "c-1", "consent": False})
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "consent"
    assert client.post(route, headers=callers["member"], json={"code": "c-1"}).status_code == 422
    assert client.post(route, headers=callers["admin"], json={"code": "c-1", "consent": True}).status_code == 403
    assert client.post(route, json={"code": "c-1", "consent": True}).status_code == 401
    assert services.calls == []  # none of these reached notify
    response = client.post(route, headers=callers["member"], json={"code": "c-1", "consent": True})
    assert response.status_code == 200 and response.json() == linked
    assert services.calls[0][2] == {"code": "c-1", "consent": True}
    assert audit_count(engine, "member.wechat_linked") >= 1
    gone = client.delete("/v1/members/me/wechat", headers=callers["member"])
    assert gone.status_code == 200 and gone.json() == {"unlinked": 2}
    assert client.delete("/v1/members/me/wechat", headers=callers["clerk"]).status_code == 403
    assert audit_count(engine, "member.wechat_unlinked") == 1
    fake({("notify", "wechat_oa_link"): RemoteError("InvalidInput", "the code is invalid, used or expired", "code")})
    used = client.post(route, headers=callers["member"], json={"code": "c-1", "consent": True})
    assert used.status_code == 422 and used.json()["error"]["field"] == "code"


def test_the_official_account_push_takes_xml_and_answers_success(client, fake):  # noqa: F811
    services = fake({("notify", "wechat_oa_push"): {"event": "subscribe", "recorded": 0}})
    query = "signature=ab&timestamp=1700000000&nonce=n1"
    route = "/v1/notify/wechat/official-account/push"
    checked = client.get(f"{route}?{query}&echostr=hello")
    assert checked.status_code == 200 and checked.text == "hello"
    xml = "<xml><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe]]></Event></xml>"
    pushed = client.post(f"{route}?{query}", content=xml.encode(), headers={"Content-Type": "text/xml"})
    assert pushed.status_code == 200 and pushed.text == "success"
    assert services.calls[1][2] == {"timestamp": "1700000000", "nonce": "n1", "signature": "ab", "body": xml}
    as_json = client.post(f"{route}?{query}", content=b"{}", headers={"Content-Type": "application/json"})
    assert as_json.status_code == 415
    fake({("notify", "wechat_oa_push"): RemoteError("Forbidden", "bad or missing WeChat push signature", "signature")})
    refused = client.post(f"{route}?{query}", content=xml.encode(), headers={"Content-Type": "text/xml"})
    assert refused.status_code == 403
