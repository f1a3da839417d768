"""The official account (公众号): who follows it, and which member each follower is. Template messages
reach a member only through the OA's own openid (not the mini-program's) and only while they follow it.

A member's OA openid is linked with their consent in one of two ways:
- web authorisation: the member, logged in, opens our page inside WeChat; the page goes through
  ``connect/oauth2/authorize`` (snsapi_base) and sends us the code with consent=true;
- the unionid: the OA's signed XML push says a user followed it; ``cgi-bin/user/info`` gives their
  unionid, and when a member's link (made with consent at mini-program login) carries the same unionid,
  the OA openid joins that member under the same consent. A follower nobody carries yet is kept and
  joins the member who later links the mini-program with that unionid.
Unfollowing stops template messages (the link stays, for when they follow again); the member's unlink
forgets every openid of theirs."""
from __future__ import annotations

import logging
import xml.etree.ElementTree as ET  # noqa: S405 (no DTDs are let in: see parse)
from datetime import UTC, datetime
from typing import Any

from contracts import access
from contracts.errors import Forbidden, InvalidInput, ServiceUnavailable
from contracts.notify import Receipt
from service_runtime.db import WorkerDb
from services.notify import repo
from services.notify.channels import PermanentError, ProviderError
from services.notify.pipeline import Pipeline
from services.notify.vendor_receipts import record_known
from services.notify.wechat import WechatApp, WechatChannel
from services.notify.wechat_events import check
from services.notify.wechat_login import asking

log = logging.getLogger(__name__)
TOKEN_VARIABLE = "NOTIFY_WECHAT_OA_PUSH_TOKEN"  # the token in the OA's server settings (服务器配置)
MAX_PUSH = 16_384  # WeChat's event pushes are a few hundred bytes
MAX_OPENID = 128


def app_of(pipeline: Pipeline) -> WechatApp:
    channel = pipeline.channels.get("wechat")
    if not isinstance(channel, WechatChannel) or channel.official is None:
        raise ServiceUnavailable("the WeChat official account is not configured (NOTIFY_WECHAT_PROVIDER=wechat "
                                 "and NOTIFY_WECHAT_OA_APP_ID)")
    return channel.official


def parse(body: str) -> dict[str, str]:
    """The fields of a plain-mode XML push (<xml><Event>...</Event>...</xml>); ValueError if it is not one."""
    if len(body) > MAX_PUSH:
        raise ValueError("too long for a WeChat push")
    if "<!DOCTYPE" in body.upper() or "<!ENTITY" in body.upper():  # WeChat sends none; entities could expand
        raise ValueError("a DTD in a WeChat push")
    try:
        root = ET.fromstring(body)  # noqa: S314 (no DTD, see above)
    except ET.ParseError:
        raise ValueError("not XML") from None
    if root.tag != "xml":
        raise ValueError("the root of a WeChat push is <xml>")
    return {child.tag: (child.text or "").strip() for child in root}


def receipt_of(fields: dict[str, str]) -> Receipt:
    """TEMPLATESENDJOBFINISH: Status 'success', or 'failed:user block', 'failed: system failed'."""
    if not fields.get("MsgID"):
        raise ValueError("a TEMPLATESENDJOBFINISH push has a MsgID")
    ok = fields.get("Status") == "success"
    return Receipt(provider_message_id=fields["MsgID"][:200], status="delivered" if ok else "failed",
                   detail=None if ok else f"wechat {fields.get('Status')}"[:500])


def check_push(timestamp: str, nonce: str, given: str) -> None:
    check(timestamp, nonce, given, TOKEN_VARIABLE)


def the_member(caller: access.Caller) -> str:
    """A member links or unlinks their own WeChat, with their own token; nobody does it for them."""
    if caller.kind != "member" or not caller.member_id:
        raise Forbidden("members link their own WeChat")
    return caller.member_id


def take_push(db: WorkerDb, app: WechatApp, body: str) -> dict[str, Any]:
    """{"event", "recorded"} of a push whose signature was checked: follows and unfollows kept,
    template-message results recorded; other pushes (messages, menu clicks) acknowledged and ignored."""
    try:
        fields = parse(body)
        event = fields.get("Event", "") if fields.get("MsgType") == "event" else ""
        openid = fields.get("FromUserName", "")
        if event in ("subscribe", "unsubscribe") and not 1 <= len(openid) <= MAX_OPENID:
            raise ValueError("a follow event names its user in FromUserName")
        receipt = receipt_of(fields) if event == "TEMPLATESENDJOBFINISH" else None
    except ValueError as exc:
        raise InvalidInput(f"not a WeChat official-account push: {exc}", "body") from None
    if event == "subscribe":
        followed(db, app, openid)
    elif event == "unsubscribe":
        with db.transaction() as tx:
            repo.unfollow(tx, app.app_id, openid)
    recorded = record_known(db, "wechat", [(receipt, None)]) if receipt else 0
    return {"event": event[:64], "recorded": recorded}


def followed(db: WorkerDb, app: WechatApp, openid: str) -> str | None:
    """Keep the follower; link them to the member whose consented link carries their unionid (if any)."""
    unionid = None
    try:
        unionid = app.follower(openid)["unionid"]
    except (ProviderError, PermanentError) as exc:  # kept without: web authorisation can still link them
        log.warning("WeChat user/info failed for a new follower: %s", exc)
    now = datetime.now(UTC)
    with db.transaction() as tx:
        if unionid:
            repo.lock_unionid(tx, unionid)
        repo.follow(tx, app.app_id, openid, unionid, now)
        link = repo.consented_link(tx, unionid) if unionid else None
        if link is None:
            return None
        repo.link_wechat(tx, app.app_id, openid, str(link.member_id), unionid, now, kind="official",
                         consented_at=link.consented_at)
        return str(link.member_id)


def link_by_web_code(db: WorkerDb, app: WechatApp, member_id: str, code: str) -> dict[str, Any]:
    """The logged-in member's OA openid from a web-authorisation code, linked (they agreed)."""
    with asking("code"):
        user = app.web_user(code)
    with asking("code"):
        info = app.follower(user["openid"])
    unionid = user["unionid"] or info["unionid"]
    now = datetime.now(UTC)
    with db.transaction() as tx:
        repo.link_wechat(tx, app.app_id, user["openid"], member_id, unionid, now, kind="official")
        if info["following"]:
            repo.follow(tx, app.app_id, user["openid"], unionid, now)
        else:
            repo.unfollow(tx, app.app_id, user["openid"])
    return {"member_id": member_id, "app_id": app.app_id, "following": info["following"],
            "linked_at": now.isoformat()}

