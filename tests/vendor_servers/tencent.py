"""Tencent Cloud SMS (API 3.0, SendSms 2021-01-11) as documented: a JSON POST signed with
TC3-HMAC-SHA256 (canonical request over content-type and host, key derived from the secret, date and
service), checked here; errors in Tencent's shape ({"Response": {"Error": {Code, Message}, RequestId}},
always HTTP 200); a number's own failures inside SendStatusSet, including the 30-second limit per number;
status callback items for the push."""
from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from tests.vendor_servers.base import VendorServer

SECRET_ID, SECRET_KEY, APP_ID = "AKID-test-secret-id", "tencent-test-secret-key", "1400000001"
SIGN_NAME = "测试商城"
TEMPLATES = {"100001": 1, "100003": 1}  # template id -> how many parameters it takes
AUTH = re.compile(r"^TC3-HMAC-SHA256 Credential=([^/]+)/(\d{4}-\d{2}-\d{2})/(\w+)/tc3_request, "
                  r"SignedHeaders=([a-z;-]+), Signature=([0-9a-f]{64})$")


class TencentSmsServer(VendorServer):
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.last_by_phone: dict[str, float] = {}
        self.throttle = 0  # the next n requests get RequestLimitExceeded
        super().__init__()

    @staticmethod
    def _error(code: str, message: str) -> tuple[int, Any]:
        return 200, {"Response": {"Error": {"Code": code, "Message": message}, "RequestId": str(uuid.uuid4())}}

    def _signature(self, headers: dict[str, str], body: bytes, date: str, service: str, signed: str) -> str:
        names = signed.split(";")
        block = "".join(f"{n}:{headers.get(n, '').strip().lower()}\n" for n in names)
        canonical = f"POST\n/\n\n{block}\n{signed}\n{hashlib.sha256(body).hexdigest()}"
        scope = f"{date}/{service}/tc3_request"
        to_sign = f"TC3-HMAC-SHA256\n{headers['x-tc-timestamp']}\n{scope}\n" \
                  f"{hashlib.sha256(canonical.encode()).hexdigest()}"
        key = ("TC3" + SECRET_KEY).encode()
        for part in (date, service, "tc3_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()

    def handle(self, method: str, path: str, query: dict[str, str], headers: dict[str, str],
               body: bytes) -> tuple[int, Any]:
        match = AUTH.match(headers.get("authorization", ""))
        if method != "POST" or match is None or "x-tc-timestamp" not in headers:
            return self._error("AuthFailure.SignatureFailure", "The provided credentials could not be validated.")
        secret_id, date, service, signed, signature = match.groups()
        if secret_id != SECRET_ID:
            return self._error("AuthFailure.SecretIdNotFound", "The SecretId is not found.")
        stamp = int(headers["x-tc-timestamp"])
        if abs(time.time() - stamp) > 300:
            return self._error("AuthFailure.SignatureExpire", "Signature expired.")
        if date != datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d") or service != "sms" or \
                not hmac.compare_digest(self._signature(headers, body, date, service, signed), signature):
            return self._error("AuthFailure.SignatureFailure", "The provided credentials could not be validated.")
        if self.throttle > 0:
            self.throttle -= 1
            return self._error("RequestLimitExceeded", "Your current request times exceeds the limit.")
        if headers.get("x-tc-action") != "SendSms" or headers.get("x-tc-version") != "2021-01-11":
            return self._error("InvalidAction", "The action is not found.")
        return self._send(json.loads(body))

    def _send(self, request: dict[str, Any]) -> tuple[int, Any]:
        if request.get("SmsSdkAppId") != APP_ID:
            return self._error("UnauthorizedOperation.SmsSdkAppIdVerifyFail", "SmsSdkAppId verify fail.")
        if request.get("SignName") != SIGN_NAME:
            return self._error("FailedOperation.SignatureIncorrectOrUnapproved", "signature is not approved")
        wanted = TEMPLATES.get(str(request.get("TemplateId")))
        if wanted is None:
            return self._error("FailedOperation.TemplateIncorrectOrUnapproved", "template is not approved")
        values = request.get("TemplateParamSet") or []
        if len(values) != wanted or not all(isinstance(v, str) for v in values):
            return self._error("InvalidParameterValue.TemplateParameterFormatError", "template parameters")
        statuses, now = [], time.time()
        for phone in request.get("PhoneNumberSet") or []:
            status = {"SerialNo": "", "PhoneNumber": phone, "Fee": 0, "SessionContext": request.get("SessionContext"),
                      "IsoCode": "CN"}
            if not re.fullmatch(r"\+861[3-9]\d{9}", phone):
                status.update(Code="InvalidParameterValue.IncorrectPhoneNumber", Message="incorrect phone number")
            elif now - self.last_by_phone.get(phone, 0.0) < 30:
                status.update(Code="LimitExceeded.PhoneNumberThirtySecondLimit", Message="30 second limit")
            else:
                self.last_by_phone[phone] = now
                serial = f"3369:{uuid.uuid4().int % 10**28:028d}"
                status.update(SerialNo=serial, Fee=1, Code="Ok", Message="send success")
                self.sent.append({"phone": phone, "sid": serial, "template": request["TemplateId"],
                                  "values": values, "context": request.get("SessionContext")})
            statuses.append(status)
        return 200, {"Response": {"SendStatusSet": statuses, "RequestId": str(uuid.uuid4())}}

    def statuses(self, delivered: bool = True) -> list[dict[str, Any]]:
        """Status callback items for everything sent, as Tencent pushes them."""
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
        return [{"user_receive_time": stamp, "nationcode": "86", "mobile": s["phone"][3:],
                 "report_status": "SUCCESS" if delivered else "FAIL", "errmsg": "DELIVRD" if delivered else "MK:0001",
                 "description": "用户短信送达成功" if delivered else "", "sid": s["sid"]} for s in self.sent]
