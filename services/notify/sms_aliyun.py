"""Alibaba Cloud SMS (Dysmsapi 2017-05-25): SendSms with an approved signature name and template code,
signed as an RPC request (HMAC-SHA1, signature version 1.0), posted as a form so phone numbers stay out
of URLs; and its delivery reports (SmsReport), which Alibaba pushes to our callback as a JSON list."""
from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import Any

from contracts.notify import Receipt
from services.notify.channels import Outgoing, PermanentError, ProviderError
from services.notify.vendor_signing import aliyun_signature
from services.notify.vendors import VendorTemplate, call, json_answer, template_for

VERSION = "2017-05-25"
# worth another attempt later: flow control, throttling, the vendor's own failures, and faults of our
# configuration (keys, clock, balance), which an operator fixes while the messages wait
RETRY_CODES = frozenset({"isv.BUSINESS_LIMIT_CONTROL", "isv.OUT_OF_SERVICE", "isv.AMOUNT_NOT_ENOUGH",
                         "isp.SYSTEM_ERROR", "isp.RAM_PERMISSION_DENY", "ServiceUnavailable", "InternalError",
                         "SignatureDoesNotMatch", "InvalidAccessKeyId.NotFound", "InvalidAccessKeyId.Inactive",
                         "InvalidTimeStamp.Expired", "SignatureNonceUsed"})


def classify(code: str) -> Exception:
    """The error for a SendSms answer code: ProviderError (retried) or PermanentError (dead-lettered):
    an illegal number, a template or signature not approved, parameters the template refuses."""
    if code in RETRY_CODES or code.startswith("Throttling"):
        return ProviderError(f"aliyun {code}")
    return PermanentError(f"aliyun {code}")


def phone_numbers(e164: str) -> str:
    """Alibaba's form: mainland numbers without +86, others as country code and number without '+'."""
    return e164[3:] if e164.startswith("+86") else e164.lstrip("+")


@dataclass
class AliyunSms:
    access_key_id: str
    access_key_secret: str = field(repr=False)
    sign_name: str
    templates: dict[str, VendorTemplate]
    endpoint: str = "https://dysmsapi.aliyuncs.com/"
    region: str = "cn-hangzhou"
    timeout: float = 10.0
    name: str = "sms"

    def params(self, message: Outgoing, template: VendorTemplate, now: float, nonce: str) -> dict[str, str]:
        values = template.values(message)
        return {
            "AccessKeyId": self.access_key_id, "Action": "SendSms", "Format": "JSON", "RegionId": self.region,
            "SignatureMethod": "HMAC-SHA1", "SignatureNonce": nonce, "SignatureVersion": "1.0",
            "Timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)), "Version": VERSION,
            "PhoneNumbers": phone_numbers(message.to), "SignName": self.sign_name, "TemplateCode": template.id,
            "TemplateParam": json.dumps(dict(zip(template.params, values, strict=True)), ensure_ascii=False,
                                        separators=(",", ":")),
            "OutId": message.message_id,  # comes back in the delivery report
        }

    def send(self, message: Outgoing) -> str:
        params = self.params(message, template_for(self.templates, message), time.time(), str(uuid.uuid4()))
        params["Signature"] = aliyun_signature("POST", params, self.access_key_secret)
        body = urllib.parse.urlencode(params).encode()
        request = urllib.request.Request(self.endpoint, data=body, method="POST", headers={
            "Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"})
        status, raw = call(request, self.timeout)
        answer = json_answer(status, raw)
        code = str(answer.get("Code") or "")
        if code == "OK" and answer.get("BizId"):
            return str(answer["BizId"])
        if not code:
            raise ProviderError(f"aliyun HTTP {status}") if status >= 500 else PermanentError(f"aliyun HTTP {status}")
        raise classify(code)  # the code only: Alibaba's messages may quote the request, numbers included


def reports(data: Any) -> list[tuple[Receipt, str | None]]:
    """SmsReport items as (receipt, our message id from OutId): success true is delivered, false failed
    with Alibaba's err_code (e.g. MK:0001, the handset refused it)."""
    if not isinstance(data, list):
        raise ValueError("an SmsReport push is a JSON list")
    result = []
    for item in data:
        if not isinstance(item, dict) or not item.get("biz_id"):
            raise ValueError("an SmsReport item has a biz_id")
        ok = item.get("success") in (True, "true")
        result.append((Receipt(provider_message_id=str(item["biz_id"]), status="delivered" if ok else "failed",
                               detail=None if ok else f"aliyun {item.get('err_code') or 'failed'}"[:500]),
                       str(item["out_id"]) if item.get("out_id") else None))
    return result


ACK = {"code": 0, "msg": "成功"}  # Alibaba pushes again until it reads this
