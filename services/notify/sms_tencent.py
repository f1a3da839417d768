"""Tencent Cloud SMS (API 3.0, SendSms 2021-01-11): an approved signature name and template id with
ordered parameters, signed with TC3-HMAC-SHA256 and the X-TC-* headers; and its status callback, which
Tencent pushes to our callback as a JSON list."""
from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from contracts.notify import Receipt
from services.notify.channels import Outgoing, PermanentError, ProviderError
from services.notify.vendor_signing import tc3_authorization
from services.notify.vendors import VendorTemplate, call, json_answer, template_for

VERSION = "2021-01-11"
CONTENT_TYPE = "application/json; charset=utf-8"
RETRY_PREFIXES = ("LimitExceeded.", "RequestLimitExceeded", "InternalError", "AuthFailure.",
                  "UnauthorizedOperation.", "ResourceUnavailable.")
RETRY_CODES = frozenset({"FailedOperation.InsufficientBalanceInSmsPackage"})  # an operator tops up


def classify(code: str) -> Exception:
    """ProviderError for limits, throttling, Tencent's failures and our configuration's (keys, app id,
    balance); PermanentError for the rest: InvalidParameterValue.* (a bad number, a parameter the
    template refuses), FailedOperation.* (template or signature not approved, number blacklisted), ..."""
    if code in RETRY_CODES or code.startswith(RETRY_PREFIXES):
        return ProviderError(f"tencent {code}")
    return PermanentError(f"tencent {code}")


@dataclass
class TencentSms:
    secret_id: str
    secret_key: str = field(repr=False)
    sdk_app_id: str
    sign_name: str
    templates: dict[str, VendorTemplate]
    endpoint: str = "https://sms.tencentcloudapi.com/"
    region: str = "ap-guangzhou"
    timeout: float = 10.0
    name: str = "sms"

    def request(self, message: Outgoing, now: int) -> urllib.request.Request:
        template = template_for(self.templates, message)
        payload = json.dumps({
            "PhoneNumberSet": [message.to], "SmsSdkAppId": self.sdk_app_id, "SignName": self.sign_name,
            "TemplateId": template.id, "TemplateParamSet": template.values(message),
            "SessionContext": message.message_id,
        }, ensure_ascii=False, separators=(",", ":")).encode()
        host = urllib.parse.urlsplit(self.endpoint).netloc
        return urllib.request.Request(self.endpoint, data=payload, method="POST", headers={
            "Authorization": tc3_authorization(self.secret_id, self.secret_key, now, "sms", host, CONTENT_TYPE,
                                               payload),
            "Content-Type": CONTENT_TYPE, "Host": host, "X-TC-Action": "SendSms", "X-TC-Version": VERSION,
            "X-TC-Timestamp": str(now), "X-TC-Region": self.region})

    def send(self, message: Outgoing) -> str:
        status, raw = call(self.request(message, int(time.time())), self.timeout)
        answer = json_answer(status, raw).get("Response")
        if not isinstance(answer, dict):
            raise ProviderError(f"tencent HTTP {status}: no Response")
        error = answer.get("Error")
        if isinstance(error, dict):
            raise classify(str(error.get("Code") or ""))
        statuses = answer.get("SendStatusSet")
        if not isinstance(statuses, list) or len(statuses) != 1 or not isinstance(statuses[0], dict):
            raise ProviderError("tencent: no SendStatusSet for the number")
        code = str(statuses[0].get("Code") or "")
        if code != "Ok":
            raise classify(code)  # the code only: Tencent's messages may quote the number
        return str(statuses[0]["SerialNo"])


def statuses(data: Any) -> list[tuple[Receipt, str | None]]:
    """Status callback items as (receipt, None): report_status SUCCESS is delivered, FAIL failed with
    Tencent's errmsg (the operator's code, e.g. MK:0001); ``sid`` is the SerialNo SendSms answered."""
    if not isinstance(data, list):
        raise ValueError("a status callback is a JSON list")
    result: list[tuple[Receipt, str | None]] = []
    for item in data:
        if not isinstance(item, dict) or not item.get("sid"):
            raise ValueError("a status item has a sid")
        ok = item.get("report_status") == "SUCCESS"
        result.append((Receipt(provider_message_id=str(item["sid"]), status="delivered" if ok else "failed",
                               detail=None if ok else f"tencent {item.get('errmsg') or 'FAIL'}"[:500]), None))
    return result


ACK = {"result": 0, "errmsg": "OK"}
