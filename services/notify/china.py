"""The Chinese vendors' adapters as configured by environment (NOTIFY_SMS_PROVIDER=aliyun|tencent,
NOTIFY_WECHAT_PROVIDER=wechat). Keys and secrets come from here and are never logged nor stored."""
from __future__ import annotations

from service_runtime.config import env
from services.notify.channels import Channel
from services.notify.sms_aliyun import AliyunSms
from services.notify.sms_tencent import TencentSms
from services.notify.vendors import templates_from_env
from services.notify.wechat import WechatApp, WechatChannel

WECHAT_API = "https://api.weixin.qq.com"


def wechat_app(prefix: str, timeout: float) -> WechatApp | None:
    """The mini-program (NOTIFY_WECHAT_MP_*) or official account (NOTIFY_WECHAT_OA_*), when configured."""
    app_id, secret = env(prefix + "APP_ID", ""), env(prefix + "SECRET", "")
    if not app_id:
        return None
    if not secret:
        raise ValueError(f"{prefix}SECRET must be set with {prefix}APP_ID")
    return WechatApp(app_id=app_id, secret=secret, api_base=env("NOTIFY_WECHAT_API_BASE", WECHAT_API),
                     timeout=timeout)


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
    if name == "wechat" and kind == "wechat":
        mini, official = wechat_app("NOTIFY_WECHAT_MP_", timeout), wechat_app("NOTIFY_WECHAT_OA_", timeout)
        if mini is None and official is None:
            raise ValueError("NOTIFY_WECHAT_MP_APP_ID or NOTIFY_WECHAT_OA_APP_ID must be set for wechat")
        return WechatChannel(templates=templates_from_env("NOTIFY_WECHAT_TEMPLATES"), mini=mini, official=official,
                             state=env("NOTIFY_WECHAT_MP_STATE", "formal"))
    raise ValueError(f"NOTIFY_{name.upper()}_PROVIDER={kind!r} is not a provider for {name}")
