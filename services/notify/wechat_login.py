"""Mini-program login: a wx.login code becomes the WeChat user's openid (``sns/jscode2session``); an
openid linked to a member logs that member in. An unlinked one is linked by phone only when the member
agreed: the app sends the getPhoneNumber code with consent=true, WeChat gives the phone, the gateway
finds the member holding it, and ``link`` records the openid (and when the member consented)."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from contracts import access
from contracts.errors import Forbidden, InvalidInput, ServiceUnavailable
from service_runtime.db import WorkerDb
from services.notify import repo
from services.notify.channels import PermanentError, ProviderError
from services.notify.pipeline import Pipeline
from services.notify.wechat import WechatApp, WechatChannel


def app_of(pipeline: Pipeline) -> WechatApp:
    channel = pipeline.channels.get("wechat")
    if not isinstance(channel, WechatChannel) or channel.mini is None:
        raise ServiceUnavailable("WeChat login is not configured (NOTIFY_WECHAT_PROVIDER=wechat and "
                                 "NOTIFY_WECHAT_MP_APP_ID)")
    return channel.mini


def only_the_gateway(caller: access.Caller) -> None:
    """Only the gateway, which turns the answer into a member token, asks."""
    if caller.kind != "service" or caller.id != access.GATEWAY:
        raise Forbidden("for the gateway's WeChat login only")


@contextmanager
def asking(field: str) -> Iterator[None]:
    """WeChat refusing a code is the caller's bad input (naming the field); WeChat failing is a 503."""
    try:
        yield
    except PermanentError:
        raise InvalidInput(f"the {field} is invalid, used or expired", field) from None
    except ProviderError as exc:
        raise ServiceUnavailable(f"WeChat did not answer: {exc}") from None


def session(db: WorkerDb, app: WechatApp, code: str, phone_code: str | None, consent: bool) -> dict[str, Any]:
    """{"openid", "unionid", "member_id" (when linked), "phone" (when not linked, shared with consent)}."""
    with asking("code"):
        user = app.code2session(code)
    with db.transaction() as tx:
        member_id = repo.wechat_member(tx, app.app_id, user["openid"])
    phone = None
    if member_id is None and consent and phone_code:
        with asking("phone_code"):
            phone = app.phone_number(phone_code)
    return {**user, "member_id": member_id, "phone": phone}


def link(db: WorkerDb, app: WechatApp, openid: str, member_id: str, unionid: str | None) -> dict[str, Any]:
    now = datetime.now(UTC)
    with db.transaction() as tx:
        repo.link_wechat(tx, app.app_id, openid, member_id, unionid, now)
        repo.join_followers(tx, member_id, unionid, now)  # the same WeChat user's official-account openid
    return {"member_id": member_id, "linked_at": now.isoformat()}
