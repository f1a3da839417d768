"""The WeChat API as documented, for one mini-program and one official account: stable access tokens
(the same token until it expires, 42001 after, 40001 for one it never issued), subscribe messages that
need the user's one-time subscription (43101 without), template messages to followers (43004 to
others), data checked against the template's keywords (47003), a daily quota (45009), and the login
calls: jscode2session for a wx.login code (one use, 40029 after) and getuserphonenumber. For the
official account: web authorisation (an snsapi_base code exchanged at sns/oauth2/access_token, one use),
cgi-bin/user/info (subscribe, unionid), and the XML pushes it signs with its token (subscribe and
unsubscribe events, TEMPLATESENDJOBFINISH)."""
from __future__ import annotations

import hashlib
import json
import time
import uuid
from typing import Any

from tests.vendor_servers.base import VendorServer

MP_APP, MP_SECRET = "wx-mini-test-app", "mini-test-secret"
OA_APP, OA_SECRET = "wx-oa-test-app", "oa-test-secret"
TEMPLATES = {"tmpl-points-expiring": ("thing1", "number2", "date3"), "tmpl-tier": ("thing1", "phrase2")}


class WechatServer(VendorServer):
    def __init__(self, first_msgid: int = 1000) -> None:
        self.first_msgid = first_msgid  # tests sharing a database start apart: msgids are provider ids
        self.secrets = {MP_APP: MP_SECRET, OA_APP: OA_SECRET}
        self.tokens: dict[str, tuple[str, float]] = {}  # token -> (app, expires at)
        self.token_calls = 0
        self.quota_left: int | None = None  # 45009 once it reaches 0
        self.subscriptions: dict[tuple[str, str], int] = {}  # (openid, template) -> subscribe messages allowed
        self.followers: set[str] = set()
        self.oa_users: set[str] = set()  # openids the official account has seen (followed, or authorised a page)
        self.unionids: dict[str, str] = {}  # official-account openid -> unionid (the OA is bound to an open platform)
        self.web_codes: dict[str, tuple[str, bool]] = {}  # snsapi_base code -> (openid, snapshot-page user)
        self.login_codes: dict[str, tuple[str, str | None]] = {}  # code -> (openid, unionid)
        self.phone_codes: dict[str, str] = {}  # code -> pure phone number
        self.sent: list[dict[str, Any]] = []
        super().__init__()

    # -- what a test sets up, as the WeChat user would ----------------------------------------------------
    def subscribe(self, openid: str, template: str, times: int = 1) -> None:
        with self.lock:
            self.subscriptions[(openid, template)] = self.subscriptions.get((openid, template), 0) + times

    def login_code(self, openid: str, unionid: str | None = None) -> str:
        with self.lock:
            code = uuid.uuid4().hex
            self.login_codes[code] = (openid, unionid)
            return code

    def phone_code(self, pure_phone: str) -> str:
        with self.lock:
            code = uuid.uuid4().hex
            self.phone_codes[code] = pure_phone
            return code

    def web_code(self, openid: str, unionid: str | None = None, snapshot: bool = False) -> str:
        """The code WeChat appends to the redirect URI after /connect/oauth2/authorize (snsapi_base)."""
        with self.lock:
            code = uuid.uuid4().hex
            self.web_codes[code] = (openid, snapshot)
            self.oa_users.add(openid)
            if unionid:
                self.unionids[openid] = unionid
            return code

    def follow(self, token: str, openid: str, unionid: str | None = None) -> tuple[dict[str, str], str]:
        """The user follows the official account: (query, XML body) of the subscribe event WeChat pushes."""
        with self.lock:
            self.followers.add(openid)
            self.oa_users.add(openid)
            if unionid:
                self.unionids[openid] = unionid
        return signed(token), xml({"ToUserName": "gh_oa_test", "FromUserName": openid,
                                   "CreateTime": int(time.time()), "MsgType": "event", "Event": "subscribe"})

    def unfollow(self, token: str, openid: str) -> tuple[dict[str, str], str]:
        with self.lock:
            self.followers.discard(openid)
        return signed(token), xml({"ToUserName": "gh_oa_test", "FromUserName": openid,
                                   "CreateTime": int(time.time()), "MsgType": "event", "Event": "unsubscribe"})

    def template_finished(self, token: str, msgid: int, status: str = "success") -> tuple[dict[str, str], str]:
        """The TEMPLATESENDJOBFINISH push for a template message: success, 'failed:user block', ..."""
        with self.lock:
            [sent] = [s for s in self.sent if s["msgid"] == msgid and not s["subscribe"]]
        return signed(token), xml({"ToUserName": "gh_oa_test", "FromUserName": sent["touser"],
                                   "CreateTime": int(time.time()), "MsgType": "event",
                                   "Event": "TEMPLATESENDJOBFINISH", "MsgID": msgid, "Status": status})

    def expire_tokens(self) -> None:
        with self.lock:
            self.tokens = {t: (app, 0.0) for t, (app, _) in self.tokens.items()}

    # -- the API ----------------------------------------------------------------------------------------
    def handle(self, method: str, path: str, query: dict[str, str], headers: dict[str, str],
               body: bytes) -> tuple[int, Any]:
        payload = json.loads(body or b"{}") if method == "POST" else {}
        if path == "/cgi-bin/stable_token":
            return 200, self._stable_token(payload)
        if path == "/sns/jscode2session":
            return 200, self._code2session(query)
        if path == "/sns/oauth2/access_token":
            return 200, self._web_token(query)
        token = self.tokens.get(query.get("access_token", ""))
        if token is None:
            return 200, {"errcode": 40001, "errmsg": "invalid credential, access_token is invalid or not latest"}
        app, expires_at = token
        if time.time() >= expires_at:
            return 200, {"errcode": 42001, "errmsg": "access_token expired"}
        if self.quota_left is not None:
            if self.quota_left <= 0:
                return 200, {"errcode": 45009, "errmsg": "reach max api daily quota limit"}
            self.quota_left -= 1
        if path == "/cgi-bin/message/subscribe/send" and app == MP_APP:
            return 200, self._message(payload, subscribe=True)
        if path == "/cgi-bin/message/template/send" and app == OA_APP:
            return 200, self._message(payload, subscribe=False)
        if path == "/wxa/business/getuserphonenumber" and app == MP_APP:
            phone = self.phone_codes.pop(str(payload.get("code")), None)
            if phone is None:
                return 200, {"errcode": 40029, "errmsg": "invalid code"}
            return 200, {"errcode": 0, "errmsg": "ok", "phone_info": {
                "phoneNumber": phone, "purePhoneNumber": phone, "countryCode": "86",
                "watermark": {"timestamp": int(time.time()), "appid": MP_APP}}}
        if path == "/cgi-bin/user/info" and app == OA_APP:
            openid = query.get("openid", "")
            if openid not in self.oa_users:
                return 200, {"errcode": 40003, "errmsg": "invalid openid"}
            if openid not in self.followers:  # not following: WeChat tells nothing more than that
                return 200, {"subscribe": 0, "openid": openid}
            info = {"subscribe": 1, "openid": openid, "language": "zh_CN", "subscribe_time": int(time.time()),
                    "remark": "", "groupid": 0, "tagid_list": [], "subscribe_scene": "ADD_SCENE_QR_CODE"}
            return 200, {**info, "unionid": self.unionids[openid]} if openid in self.unionids else info
        return 404, {"errcode": 48001, "errmsg": "api unauthorized"}

    def _stable_token(self, payload: dict[str, Any]) -> dict[str, Any]:
        self.token_calls += 1
        app = str(payload.get("appid"))
        if app not in self.secrets:
            return {"errcode": 40013, "errmsg": "invalid appid"}
        if payload.get("secret") != self.secrets[app] or payload.get("grant_type") != "client_credential":
            return {"errcode": 40125, "errmsg": "invalid appsecret"}
        now = time.time()
        for token, (owner, expires_at) in self.tokens.items():
            if owner == app and expires_at > now and not payload.get("force_refresh"):
                return {"access_token": token, "expires_in": int(expires_at - now)}
        token = f"token-{uuid.uuid4().hex}"
        self.tokens[token] = (app, now + 7200)
        return {"access_token": token, "expires_in": 7200}

    def _code2session(self, query: dict[str, str]) -> dict[str, Any]:
        if self.secrets.get(query.get("appid", "")) != query.get("secret") or query.get("appid") != MP_APP:
            return {"errcode": 40125, "errmsg": "invalid appsecret"}
        user = self.login_codes.pop(query.get("js_code", ""), None)
        if user is None or query.get("grant_type") != "authorization_code":
            return {"errcode": 40029, "errmsg": "invalid code"}
        answer = {"openid": user[0], "session_key": uuid.uuid4().hex}
        return {**answer, "unionid": user[1]} if user[1] else answer

    def _web_token(self, query: dict[str, str]) -> dict[str, Any]:
        if self.secrets.get(query.get("appid", "")) != query.get("secret") or query.get("appid") != OA_APP:
            return {"errcode": 40125, "errmsg": "invalid appsecret"}
        user = self.web_codes.pop(query.get("code", ""), None)
        if user is None or query.get("grant_type") != "authorization_code":
            return {"errcode": 40029, "errmsg": "invalid code"}
        openid, snapshot = user
        answer = {"access_token": f"web-{uuid.uuid4().hex}", "expires_in": 7200, "refresh_token": uuid.uuid4().hex,
                  "openid": openid, "scope": "snsapi_base", "is_snapshotuser": 1 if snapshot else 0}
        return {**answer, "unionid": self.unionids[openid]} if openid in self.unionids else answer

    def _message(self, payload: dict[str, Any], subscribe: bool) -> dict[str, Any]:
        openid, template = str(payload.get("touser")), str(payload.get("template_id"))
        fields = TEMPLATES.get(template)
        if fields is None:
            return {"errcode": 40037, "errmsg": "invalid template_id"}
        data = payload.get("data") or {}
        if set(data) != set(fields) or any(not isinstance(v, dict) or not str(v.get("value", "")) or
                                           len(str(v["value"])) > 20 for v in data.values()):
            return {"errcode": 47003, "errmsg": "argument invalid! data.thing1.value invalid"}
        if subscribe:
            if self.subscriptions.get((openid, template), 0) <= 0:
                return {"errcode": 43101, "errmsg": "user refuse to accept the msg"}
            self.subscriptions[(openid, template)] -= 1  # a one-time subscription is used up
        elif openid not in self.followers:
            return {"errcode": 43004, "errmsg": "require subscribe"}
        msgid = len(self.sent) + self.first_msgid
        self.sent.append({"touser": openid, "template": template, "data": data, "subscribe": subscribe,
                          "page": payload.get("page") or payload.get("miniprogram"), "msgid": msgid})
        return {"errcode": 0, "errmsg": "ok", "msgid": msgid}

    def push(self, token: str) -> tuple[dict[str, str], str]:
        """(query, body) of the message push WeChat posts with the results of the subscribe messages sent:
        signed with the push token (SHA-1 of the sorted token, timestamp and nonce)."""
        query = signed(token)
        timestamp = query["timestamp"]
        items = [{"TemplateId": s["template"], "MsgID": str(s["msgid"]), "ErrorCode": "0",
                  "ErrorStatus": "success"} for s in self.sent if s["subscribe"]]
        body = {"ToUserName": "gh_test", "FromUserName": items and self.sent[0]["touser"],
                "CreateTime": int(timestamp), "MsgType": "event", "Event": "subscribe_msg_sent_event",
                "List": items[0] if len(items) == 1 else items}
        return query, json.dumps(body)


def signed(token: str) -> dict[str, str]:
    """The query WeChat adds to a push: signature is SHA-1 of the sorted token, timestamp and nonce."""
    timestamp, nonce = str(int(time.time())), uuid.uuid4().hex[:10]
    signature = hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode()).hexdigest()  # noqa: S324
    return {"signature": signature, "timestamp": timestamp, "nonce": nonce}


def xml(fields: dict[str, Any]) -> str:
    """A push in the official account's XML: numbers bare, text in CDATA, as WeChat writes them."""
    return "<xml>" + "".join(f"<{k}>{v}</{k}>" if isinstance(v, int) else f"<{k}><![CDATA[{v}]]></{k}>"
                             for k, v in fields.items()) + "</xml>"
