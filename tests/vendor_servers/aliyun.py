"""Alibaba Cloud SMS (Dysmsapi 2017-05-25) as documented: RPC-style SendSms posted as a form, signature
version 1.0 (HMAC-SHA1 of ``POST&%2F&`` + the percent-encoded sorted query, key ``secret&``), checked here
with its own encoding; errors in Alibaba's shape ({RequestId, Code, Message}); flow control of one
message per number per minute (isv.BUSINESS_LIMIT_CONTROL); SmsReport items for the HTTP push."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
import urllib.parse
import uuid
from datetime import UTC, datetime
from typing import Any

from tests.vendor_servers.base import VendorServer

KEY_ID, SECRET = "LTAI-test-key-id", "aliyun-test-secret"
SIGN_NAME = "测试商城"
TEMPLATES = {"SMS_900001": ("code",), "SMS_900002": ("name", "points", "expiry_date"), "SMS_900003": ("new_tier",)}
COMMON = ("AccessKeyId", "Action", "Format", "RegionId", "SignatureMethod", "SignatureNonce", "SignatureVersion",
          "Timestamp", "Version", "Signature")


def _enc(text: str) -> str:
    return urllib.parse.quote(text, safe="~", encoding="utf-8")


class AliyunSmsServer(VendorServer):
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.nonces: set[str] = set()
        self.last_by_phone: dict[str, float] = {}
        self.throttle = 0  # the next n requests get Throttling.User
        super().__init__()

    @staticmethod
    def _error(status: int, code: str, message: str) -> tuple[int, Any]:
        return status, {"RequestId": str(uuid.uuid4()).upper(), "HostId": "dysmsapi.aliyuncs.com", "Code": code,
                        "Message": message}

    def handle(self, method: str, path: str, query: dict[str, str], headers: dict[str, str],
               body: bytes) -> tuple[int, Any]:
        params = dict(query)
        if method == "POST":
            params.update(urllib.parse.parse_qsl(body.decode(), keep_blank_values=True))
        missing = [p for p in COMMON if p not in params]
        if missing:
            return self._error(400, f"Missing{missing[0]}", f"{missing[0]} is mandatory for this action.")
        if params["AccessKeyId"] != KEY_ID:
            return self._error(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
        signed = "&".join(f"{_enc(k)}={_enc(v)}" for k, v in sorted(params.items()) if k != "Signature")
        string_to_sign = f"{method}&{_enc('/')}&{_enc(signed)}"
        expected = base64.b64encode(hmac.new((SECRET + "&").encode(), string_to_sign.encode(), hashlib.sha1)
                                    .digest()).decode()
        if not hmac.compare_digest(expected, params["Signature"]):
            return self._error(400, "SignatureDoesNotMatch",
                               "Specified signature is not matched with our calculation.")
        sent_at = datetime.strptime(params["Timestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
        if abs(time.time() - sent_at) > 900:
            return self._error(400, "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired.")
        if params["SignatureNonce"] in self.nonces:
            return self._error(400, "SignatureNonceUsed", "Specified signature nonce was used already.")
        self.nonces.add(params["SignatureNonce"])
        if self.throttle > 0:
            self.throttle -= 1
            return self._error(400, "Throttling.User", "Request was denied due to user flow control.")
        if params["Action"] != "SendSms" or params["Version"] != "2017-05-25":
            return self._error(400, "InvalidAction.NotFound", "Specified api is not found.")
        return self._send(params)

    def _send(self, params: dict[str, str]) -> tuple[int, Any]:
        def business(code: str, message: str) -> tuple[int, Any]:  # business errors are HTTP 200
            return 200, {"RequestId": str(uuid.uuid4()).upper(), "Code": code, "Message": message}

        phone = params.get("PhoneNumbers", "")
        if not re.fullmatch(r"1[3-9]\d{9}", phone):
            return business("isv.MOBILE_NUMBER_ILLEGAL", "非法手机号")
        if params.get("SignName") != SIGN_NAME:
            return business("isv.SMS_SIGNATURE_ILLEGAL", "该账号下找不到对应签名")
        wanted = TEMPLATES.get(params.get("TemplateCode", ""))
        if wanted is None:
            return business("isv.SMS_TEMPLATE_ILLEGAL", "该账号下找不到对应模板")
        try:
            values = json.loads(params.get("TemplateParam") or "{}")
        except ValueError:
            return business("isv.INVALID_JSON_PARAM", "JSON参数不合法，只接受字符串值")
        if not isinstance(values, dict) or any(not isinstance(values.get(v), str) for v in wanted):
            return business("isv.TEMPLATE_MISSING_PARAMETERS", "模板缺少变量")
        now = time.time()
        if now - self.last_by_phone.get(phone, 0.0) < 60:
            return business("isv.BUSINESS_LIMIT_CONTROL", "触发分钟级流控Permits:1")
        self.last_by_phone[phone] = now
        biz_id = f"{uuid.uuid4().int % 10**18:018d}^0"
        self.sent.append({"phone": phone, "biz_id": biz_id, "out_id": params.get("OutId"),
                          "template": params["TemplateCode"], "values": values, "at": now})
        return 200, {"RequestId": str(uuid.uuid4()).upper(), "Code": "OK", "Message": "OK", "BizId": biz_id}

    def reports(self, delivered: bool = True) -> list[dict[str, Any]]:
        """SmsReport items for everything sent, as the HTTP batch push carries them."""
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
        return [{"phone_number": s["phone"], "send_time": stamp, "report_time": stamp, "success": delivered,
                 "err_code": "DELIVERED" if delivered else "MK:0001", "err_msg": "用户接收成功" if delivered else "",
                 "sms_size": "1", "biz_id": s["biz_id"], "out_id": s["out_id"]} for s in self.sent]
