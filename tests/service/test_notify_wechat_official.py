"""The WeChat official account on the real broker and database: followers pushed by the OA's signed XML,
linked to members through the unionid of their consented mini-program link or by the OA's web
authorisation; template messages reach followers only, wait out quiet hours, stop at unfollow or unlink."""
from __future__ import annotations

import json
import uuid
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from contracts.errors import Forbidden, InvalidInput
from contracts.events import MemberErased, PointsExpiring, TierChanged
from services.notify import wechat_events
from tests.helpers import query, wait_for
from tests.service.notify_support import call, deliver, now
from tests.service.test_notify_delivery import ADMIN, member, messages, platform  # noqa: F401 (the fixture)
from tests.vendor_servers import wechat

GATEWAY = '{"kind":"service","id":"gateway","roles":["service:gateway"]}'
OA_TOKEN = "oa-push-token-for-tests"
TEMPLATES = json.dumps({
    "tier.changed": {"id": "tmpl-tier", "kind": "template", "data": {"thing1": "name", "phrase2": "new_tier"}},
    "points.expiring": {"id": "tmpl-points-expiring", "kind": "template",
                        "data": {"thing1": "name", "number2": "points", "date3": "expiry_date"}}})


def as_member(member_id: str) -> str:
    return json.dumps({"kind": "member", "id": member_id, "member_id": member_id})


def quiet_now() -> str:
    """Quiet hours from a minute ago for half an hour (the default store zone's clock)."""
    local = now().astimezone(ZoneInfo("Asia/Shanghai"))
    return f"{(local - timedelta(minutes=1)).strftime('%H:%M')}-{(local + timedelta(minutes=30)).strftime('%H:%M')}"


def tier_message(notify, member_id: str) -> dict:
    """A tier change for the member, once notify finished with it (sent or suppressed)."""
    before = {m["message_id"] for m in messages(notify, member_id=member_id)}
    deliver(notify, "on_tier_changed", TierChanged(member_id=member_id, old_tier="normal", new_tier="gold",
                                                   direction="up", changed_at=now(), reason="sale"))
    return wait_for(lambda: next((m for m in messages(notify, member_id=member_id) if m["message_id"] not in before
                                  and m["status"] in ("sent", "suppressed", "failed")), None),
                    message="the tier message finished")


@pytest.fixture
def weixin():
    server = wechat.WechatServer(first_msgid=uuid.uuid4().int % 10**9 + 10**9)
    yield server
    server.close()


def test_followers_are_linked_by_unionid_or_web_authorisation_and_get_template_messages(platform, weixin):  # noqa: F811
    notify, *_ = platform["start"](
        NOTIFY_WECHAT_PROVIDER="wechat", NOTIFY_WECHAT_MP_APP_ID=wechat.MP_APP,
        NOTIFY_WECHAT_MP_SECRET=wechat.MP_SECRET,
        NOTIFY_WECHAT_OA_APP_ID=wechat.OA_APP, NOTIFY_WECHAT_OA_SECRET=wechat.OA_SECRET,
        NOTIFY_WECHAT_API_BASE=weixin.url, NOTIFY_WECHAT_TEMPLATES=TEMPLATES, NOTIFY_TRANSACTIONAL_CHANNELS="wechat",
        NOTIFY_WECHAT_OA_PUSH_TOKEN=OA_TOKEN, NOTIFY_QUIET_HOURS=quiet_now(),
        NOTIFY_QUIET_HOURS_ALSO_FOR="points.expiring")
    # A linked the mini-program (with consent, by phone), then follows the OA: same unionid, linked
    a = member(platform)
    call(notify, "wechat_link", openid="o-mini-a", member_id=a, unionid="u-a", caller=GATEWAY)
    push, body = weixin.follow(OA_TOKEN, "o-oa-a", unionid="u-a")
    with pytest.raises(Forbidden):
        call(notify, "wechat_oa_push", **{**push, "signature": "0" * 40}, body=body)
    old = str(int(push["timestamp"]) - 600)  # rightly signed, ten minutes ago: a capture replayed
    with pytest.raises(Forbidden) as replayed:
        resigned = wechat_events.signature(OA_TOKEN, old, push["nonce"])
        call(notify, "wechat_oa_push", **{**push, "timestamp": old, "signature": resigned}, body=body)
    assert replayed.value.field == "timestamp"
    for bad in ("<xml><Event>subscribe", '<!DOCTYPE xml [<!ENTITY a "b">]><xml/>', "<root/>",
                "<xml><MsgType>event</MsgType><Event>subscribe</Event></xml>"):
        with pytest.raises(InvalidInput) as refused:
            call(notify, "wechat_oa_push", **push, body=bad)
        assert refused.value.field == "body"
    assert call(notify, "wechat_oa_push", **push, body=body) == {"event": "subscribe", "recorded": 0}
    sent = tier_message(notify, a)
    assert sent["status"] == "sent" and weixin.sent[-1]["touser"] == "o-oa-a" and not weixin.sent[-1]["subscribe"]
    push, body = weixin.template_finished(OA_TOKEN, int(sent["provider_message_id"]))
    assert call(notify, "wechat_oa_push", **push, body=body) == {"event": "TEMPLATESENDJOBFINISH", "recorded": 1}
    assert call(notify, "message", sent["message_id"], caller=ADMIN)["status"] == "delivered"

    # quiet hours: a reminder waits in the queue, not sent
    deliver(notify, "on_points_expiring", PointsExpiring(member_id=a, points=200, expires_at=now() + timedelta(days=7),
                                                         days_ahead=7))
    [waiting] = [m for m in messages(notify, member_id=a) if m["template"] == "points.expiring"]
    wait_for(lambda: [s for s in call(notify, "message", waiting["message_id"], caller=ADMIN)["steps"]
                      if s["status"] == "deferred"], message="the reminder deferred")
    assert [s["template"] for s in weixin.sent] == ["tmpl-tier"]

    # unfollowing stops template messages: suppressed, not dead-lettered
    push, body = weixin.unfollow(OA_TOKEN, "o-oa-a")
    assert call(notify, "wechat_oa_push", **push, body=body)["event"] == "unsubscribe"
    assert (tier_message(notify, a)["status"], len(weixin.sent)) == ("suppressed", 1)

    # B follows first, then links the mini-program: the follower joins B
    b = member(platform)
    push, body = weixin.follow(OA_TOKEN, "o-oa-b", unionid="u-b")
    call(notify, "wechat_oa_push", **push, body=body)
    assert tier_message(notify, b)["status"] == "suppressed"  # not linked yet
    call(notify, "wechat_link", openid="o-mini-b", member_id=b, unionid="u-b", caller=GATEWAY)
    assert tier_message(notify, b)["status"] == "sent" and weixin.sent[-1]["touser"] == "o-oa-b"

    # C links by the OA's web authorisation, with their own token and consent
    c = member(platform)
    code = weixin.web_code("o-oa-c")
    with pytest.raises(InvalidInput) as refused:
        call(notify, "wechat_oa_link", code=code, caller=as_member(c))
    assert refused.value.field == "consent" and code in weixin.web_codes  # WeChat not even asked
    with pytest.raises(Forbidden):
        call(notify, "wechat_oa_link", code=code, consent=True, caller=ADMIN)
    with pytest.raises(InvalidInput) as refused:  # a snapshot-page user's openid is not theirs
        call(notify, "wechat_oa_link", code=weixin.web_code("o-virtual", snapshot=True), consent=True,
             caller=as_member(c))
    assert refused.value.field == "code"
    linked = call(notify, "wechat_oa_link", code=code, consent=True, caller=as_member(c))
    assert (linked["member_id"], linked["app_id"], linked["following"]) == (c, wechat.OA_APP, False)
    with pytest.raises(InvalidInput):  # a code is good once
        call(notify, "wechat_oa_link", code=code, consent=True, caller=as_member(c))
    assert tier_message(notify, c)["status"] == "suppressed"  # linked, but not a follower
    push, body = weixin.follow(OA_TOKEN, "o-oa-c")
    call(notify, "wechat_oa_push", **push, body=body)
    assert tier_message(notify, c)["status"] == "sent" and weixin.sent[-1]["touser"] == "o-oa-c"
    [exported] = call(notify, "export_member", member_id=c, caller=as_member(c))["wechat_links"]
    assert (exported["app_id"], exported["openid"], exported["kind"]) == (wechat.OA_APP, "o-oa-c", "official")
    assert call(notify, "wechat_unlink", caller=as_member(c)) == {"unlinked": 1}
    assert call(notify, "export_member", member_id=c, caller=as_member(c))["wechat_links"] == []
    assert tier_message(notify, c)["status"] == "suppressed"  # consent withdrawn: nothing goes to WeChat

    # erasure forgets B's links and follows
    deliver(notify, "on_member_erased", MemberErased(member_id=b, erased_at=now()))
    left = query("notify", "SELECT openid FROM wechat_followers UNION ALL SELECT openid FROM wechat_links "
                           "WHERE member_id = :b", b=b)
    assert sorted(r.openid for r in left) == ["o-oa-c"]
