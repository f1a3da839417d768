"""WeChat: the access token from ``cgi-bin/stable_token`` (cached until shortly before it expires, and
fetched again when WeChat answers 40001/42001), mini-program subscribe messages, official-account
template messages, the mini-program login calls (``sns/jscode2session``, the phone number from
``wxa/business/getuserphonenumber``) and the official account's web authorisation
(``sns/oauth2/access_token``) and follower look-up (``cgi-bin/user/info``). Tokens, secrets and session
keys are never logged nor stored."""
from __future__ import annotations

import json
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from services.notify.channels import NoAddress, Outgoing, PermanentError, ProviderError
from services.notify.vendors import VendorTemplate, call, json_answer, template_for

TOKEN_ERRORS = frozenset({40001, 40014, 42001})  # the token is invalid or expired: fetch it again
# worth another attempt: busy, rate limits (45009 daily API quota, 45011 per minute), and our
# configuration (app id or secret wrong, server IP not allow-listed), which ops fixes while messages wait
RETRY_ERRORS = frozenset({-1, 45009, 45011, 40013, 40125, 40164, 41002, 41004})
TOKEN_MARGIN = 300.0  # seconds before expiry a token is fetched again


def classify(errcode: int) -> Exception:
    """ProviderError (retried) or PermanentError: 43101 the member refused (or used up) the subscription,
    40003 an unknown openid, 40037 a bad template id, 47003 data the template refuses, 43004 not a
    follower of the official account."""
    if errcode in RETRY_ERRORS or errcode in TOKEN_ERRORS:
        return ProviderError(f"wechat {errcode}")
    return PermanentError(f"wechat {errcode}")


@dataclass
class WechatApp:
    """One WeChat app (a mini-program or an official account) and its cached access token."""

    app_id: str
    secret: str = field(repr=False)
    api_base: str = "https://api.weixin.qq.com"
    timeout: float = 10.0
    _token: str | None = field(default=None, repr=False)
    _expires_at: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _request(self, path: str, payload: dict[str, Any] | None = None, query: dict[str, str] | None = None) -> Any:
        url = f"{self.api_base}{path}" + (f"?{urllib.parse.urlencode(query)}" if query else "")
        data = None if payload is None else json.dumps(payload, ensure_ascii=False).encode()
        request = urllib.request.Request(url, data=data, method="GET" if data is None else "POST",
                                         headers={"Content-Type": "application/json"})
        return json_answer(*call(request, self.timeout))

    def token(self) -> str:
        with self._lock:
            if self._token is None or time.monotonic() >= self._expires_at - TOKEN_MARGIN:
                answer = self._request("/cgi-bin/stable_token", {
                    "grant_type": "client_credential", "appid": self.app_id, "secret": self.secret,
                    "force_refresh": False})  # a forced refresh would cut off the other replicas' token
                if not answer.get("access_token"):
                    raise classify(int(answer.get("errcode") or -1))
                self._token = str(answer["access_token"])
                self._expires_at = time.monotonic() + float(answer.get("expires_in") or 7200)
            return self._token

    def forget(self, token: str) -> None:
        with self._lock:
            if self._token == token:
                self._token = None

    def post(self, path: str, payload: dict[str, Any] | None, query: dict[str, str] | None = None) -> dict[str, Any]:
        """An API call with the access token (a GET without payload); a token WeChat calls invalid or
        expired is fetched again once."""
        for attempt in range(2):
            token = self.token()
            answer: dict[str, Any] = self._request(path, payload, {**(query or {}), "access_token": token})
            errcode = int(answer.get("errcode") or 0)
            if errcode in TOKEN_ERRORS and attempt == 0:
                self.forget(token)
                continue
            if errcode:
                raise classify(errcode)
            return answer
        raise AssertionError("unreachable: the second attempt returns or raises")

    def code2session(self, code: str) -> dict[str, Any]:
        """{"openid", "unionid"?} for a login code from wx.login (one use, five minutes); the session
        key is dropped here. 40029 (a bad or used code) and 40226 (a blocked user) are permanent."""
        answer: dict[str, Any] = self._request("/sns/jscode2session", query={
            "appid": self.app_id, "secret": self.secret, "js_code": code, "grant_type": "authorization_code"})
        if int(answer.get("errcode") or 0) or not answer.get("openid"):
            raise classify(int(answer.get("errcode") or -1))
        return {"openid": str(answer["openid"]), "unionid": answer.get("unionid")}

    def web_user(self, code: str) -> dict[str, Any]:
        """{"openid", "unionid"?} of the official account's user for a web-authorisation code (snsapi_base,
        from the redirect after connect/oauth2/authorize; one use, five minutes). WeChat's user access
        token is dropped here. A user in snapshot-page mode has a virtual openid: refused."""
        answer: dict[str, Any] = self._request("/sns/oauth2/access_token", query={
            "appid": self.app_id, "secret": self.secret, "code": code, "grant_type": "authorization_code"})
        if int(answer.get("errcode") or 0) or not answer.get("openid"):
            raise classify(int(answer.get("errcode") or -1))
        if str(answer.get("is_snapshotuser") or 0) == "1":
            raise PermanentError("wechat: a snapshot-page user has no real openid")
        return {"openid": str(answer["openid"]), "unionid": answer.get("unionid")}

    def follower(self, openid: str) -> dict[str, Any]:
        """{"following", "unionid"} of an official account's user (unionid only when the account is bound
        to an open-platform account, as the mini-program must be for the two to meet)."""
        answer = self.post("/cgi-bin/user/info", None, {"openid": openid, "lang": "zh_CN"})
        return {"following": str(answer.get("subscribe")) == "1", "unionid": answer.get("unionid") or None}

    def phone_number(self, phone_code: str) -> str:
        """The member's phone in E.164 from a getPhoneNumber code (the member tapped to share it)."""
        info = self.post("/wxa/business/getuserphonenumber", {"code": phone_code}).get("phone_info") or {}
        if (info.get("watermark") or {}).get("appid") != self.app_id or not info.get("purePhoneNumber"):
            raise PermanentError("wechat: the phone number is not for this app")
        return f"+{info.get('countryCode') or 86}{info['purePhoneNumber']}"


def openids(address: str) -> dict[str, str]:
    """The member's openids per app id, as the pipeline addresses a WeChat message: 'app=openid,...'."""
    return dict(part.split("=", 1) for part in address.split(",") if "=" in part)


@dataclass
class WechatChannel:
    """Mini-program subscribe messages (the member subscribed to the template in the mini-program; one
    subscription, one message) and official-account template messages, per our template key."""

    templates: dict[str, VendorTemplate]
    mini: WechatApp | None = None
    official: WechatApp | None = None
    state: str = "formal"  # the mini-program version a subscribe message opens: developer, trial, formal
    name: str = "wechat"

    def send(self, message: Outgoing) -> str:
        template = template_for(self.templates, message)
        app = self.mini if template.kind == "subscribe" else self.official
        if app is None:
            raise PermanentError(f"no WeChat app is configured for {template.kind} messages")
        openid = openids(message.to).get(app.app_id)
        if openid is None:  # not linked, or (official account) not following it now
            raise NoAddress(f"the member has no openid for WeChat app {app.app_id}")
        data = {f: {"value": v} for f, v in zip(template.fields, template.values(message), strict=True)}
        if template.kind == "subscribe":
            payload: dict[str, Any] = {"touser": openid, "template_id": template.id, "data": data,
                                       "miniprogram_state": self.state, "lang": "zh_CN"}
            if template.page:
                payload["page"] = template.page
            answer = app.post("/cgi-bin/message/subscribe/send", payload)
        else:
            payload = {"touser": openid, "template_id": template.id, "data": data,
                       "client_msg_id": message.message_id}  # WeChat drops a repeat of the same id
            if template.page and self.mini is not None:
                payload["miniprogram"] = {"appid": self.mini.app_id, "pagepath": template.page}
            answer = app.post("/cgi-bin/message/template/send", payload)
        return str(answer.get("msgid") or message.message_id)
