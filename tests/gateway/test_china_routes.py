"""Gateway routes for the Chinese channels: SMS vendors' report pushes and WeChat mini-program login."""
from __future__ import annotations

from services.gateway.rpc import RemoteError
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
