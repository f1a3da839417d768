"""The Chinese vendors' adapters as configured by environment (NOTIFY_SMS_PROVIDER=aliyun|tencent,
NOTIFY_WECHAT_PROVIDER=wechat). Keys and secrets come from here and are never logged nor stored."""
from __future__ import annotations

from service_runtime.config import env
from services.notify.channels import Channel
from services.notify.sms_aliyun import AliyunSms
from services.notify.sms_tencent import TencentSms
from services.notify.vendors import templates_from_env


def _required(*names: str) -> list[str]:
    values = [env(n, "") for n in names]
    missing = [n for n, v in zip(names, values, strict=True) if not v]
    if missing:
        raise ValueError(f"{', '.join(missing)} must be set for this provider")
    return values


def vendor_channel(name: str, kind: str, timeout: float) -> Channel:
    if name == "sms" and kind == "aliyun":
        key_id, secret, sign = _required("NOTIFY_ALIYUN_ACCESS_KEY_ID", "NOTIFY_ALIYUN_ACCESS_KEY_SECRET",
                                         "NOTIFY_SMS_SIGN_NAME")
        return AliyunSms(access_key_id=key_id, access_key_secret=secret, sign_name=sign,
                         templates=templates_from_env("NOTIFY_SMS_TEMPLATES"), timeout=timeout,
                         endpoint=env("NOTIFY_ALIYUN_SMS_ENDPOINT", "https://dysmsapi.aliyuncs.com/"),
                         region=env("NOTIFY_ALIYUN_REGION", "cn-hangzhou"))
    if name == "sms" and kind == "tencent":
        secret_id, secret_key, app_id, sign = _required("NOTIFY_TENCENT_SECRET_ID", "NOTIFY_TENCENT_SECRET_KEY",
                                                        "NOTIFY_TENCENT_SMS_APP_ID", "NOTIFY_SMS_SIGN_NAME")
        return TencentSms(secret_id=secret_id, secret_key=secret_key, sdk_app_id=app_id, sign_name=sign,
                          templates=templates_from_env("NOTIFY_SMS_TEMPLATES"), timeout=timeout,
                          endpoint=env("NOTIFY_TENCENT_SMS_ENDPOINT", "https://sms.tencentcloudapi.com/"),
                          region=env("NOTIFY_TENCENT_REGION", "ap-guangzhou"))
    raise ValueError(f"NOTIFY_{name.upper()}_PROVIDER={kind!r} is not a provider for {name}")
