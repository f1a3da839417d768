"""Notify beyond the proof: templates and previews, login codes, channel isolation under a failing
provider, erasure, signed webhooks and receipts, members.contact for services only."""
from __future__ import annotations

import hashlib
import json
import time
import uuid

import pytest
from prometheus_client import REGISTRY

from contracts.errors import Conflict, Forbidden, InvalidInput
from contracts.events import MemberConsentChanged, MemberErased, TierChanged
from services.notify.channels import sign
from tests.callers import entrypoint_hook
from tests.helpers import query, scalar, wait_for
from tests.service.notify_support import SECRET, call, deliver, now
from tests.service.test_notify_delivery import (
    ADMIN,
    announce,
    consent,
    final,
    member,
    messages,
    platform,  # noqa: F401 (the fixture)
)

MARKETER = '{"kind":"staff","id":"mk-1","roles":["marketer"]}'
CLERK = '{"kind":"staff","id":"c-1","roles":["clerk"],"stores":["S1"]}'


def test_templates_refuse_unknown_variables_and_preview_renders(platform):  # noqa: F811
    notify, *_ = platform["start"]()
    with pytest.raises(InvalidInput) as refused:
        call(notify, "save_template", caller=MARKETER, key="login_code", channel="sms", locale="en",
             body="Code {{code}} for {{name}} ({{points}} points)")
    assert refused.value.field == "body.name"
    saved = call(notify, "save_template", caller=MARKETER, key="campaign.flash", channel="sms", locale="en",
                 body="{{name}}: {{campaign_name}} today, {{coupon_value}} off")
    assert saved["version"] == 1 and "coupon_value" in saved["variables"]
    again = call(notify, "save_template", caller=MARKETER, key="campaign.flash", channel="sms", locale="en",
                 body="{{name}}: {{campaign_name}}!")
    assert again["version"] == 2
    shown = call(notify, "preview", caller=MARKETER, key="campaign.flash", channel="sms", locale="en",
                 variables={"name": "Ann", "campaign_name": "Flash"})
    assert shown == {"subject": None, "body": "Ann: Flash!"}
    with pytest.raises(InvalidInput) as missing:
        call(notify, "preview", caller=MARKETER, key="points.expiring", channel="sms", locale="zh-CN",
             variables={"name": "Ann"})
    assert missing.value.field.startswith("variables.")
    with pytest.raises(Forbidden):
        call(notify, "save_template", caller=CLERK, key="birthday", channel="sms", locale="en", body="Hi")
    # the delivery log is chain-wide: chain-wide managers read it, a store manager is refused
    chain_manager = '{"kind":"staff","id":"m-0","roles":["manager"]}'
    store_manager = '{"kind":"staff","id":"m-1","roles":["manager"],"stores":["S1"]}'
    assert isinstance(call(notify, "messages", caller=chain_manager, limit=1), list)
    with pytest.raises(Forbidden):
        call(notify, "messages", caller=store_manager, limit=1)
    seeded = {(t["key"], t["channel"], t["locale"]) for t in call(notify, "list_templates", caller=ADMIN)}
    assert {("birthday", "sms", "zh-CN"), ("points.expiring", "email", "en"), ("tier.changed", "sms", "en"),
            ("login_code", "sms", "zh-CN"), ("campaign.announcement", "sms", "en")} <= seeded


def test_a_login_code_goes_out_at_once_and_codes_are_limited_per_phone(platform):  # noqa: F811
    notify, _, sms, _, _ = platform["start"](NOTIFY_CODES_PER_HOUR="2", NOTIFY_QUIET_HOURS="00:00-23:59:59")
    phone = f"+86138{uuid.uuid4().int % 10**8:08d}"
    sent = call(notify, "send_code", phone=phone, code="482913", locale="en")  # quiet hours do not apply
    assert sent["status"] == "sent"
    [request] = sms.for_message(sent["message_id"])
    assert request.body["to"] == phone and "482913" in request.body["body"] and sms.signed_correctly(request)
    call(notify, "send_code", phone=phone, code="111111")
    with pytest.raises(Conflict):
        call(notify, "send_code", phone=phone, code="222222")
    assert len(sms.ok()) == 2
    stored = query("notify", "SELECT variables::text, recipient_hash FROM messages WHERE id = :m",
                   m=sent["message_id"])
    assert "482913" not in stored[0][0] and phone not in stored[0][1]
    # keyed (HMAC): a plain SHA-256 of an 11-digit mobile number is reversed by trying them all
    assert stored[0][1] != hashlib.sha256(phone.encode()).hexdigest()


def test_a_failing_sms_provider_does_not_hold_up_email(platform):  # noqa: F811
    notify, smtp, sms, _, _ = platform["start"](NOTIFY_TRANSACTIONAL_CHANNELS="sms,email", NOTIFY_MAX_ATTEMPTS="3",
                                                NOTIFY_BREAKER_THRESHOLD="3", NOTIFY_BREAKER_COOLDOWN_SECONDS="60",
                                                NOTIFY_RETRY_INITIAL_SECONDS="0.3", NOTIFY_RETRY_MAX_SECONDS="0.6")
    sms.always_fail()
    members = [member(platform) for _ in range(3)]
    for member_id in members:
        deliver(notify, "on_tier_changed", TierChanged(member_id=member_id, old_tier="normal", new_tier="gold",
                                                       direction="up", reason="sale", changed_at=now()))
    # every email goes out while SMS is still failing and then waits behind its open breaker
    wait_for(lambda: len(smtp.messages()) >= 3, timeout=20, message="the emails")
    # the row is marked sent just after the SMTP server has the message
    wait_for(lambda: {r["status"] for m in members for r in messages(notify, member_id=m)
                      if r["channel"] == "email"} == {"sent"}, timeout=10, message="the emails marked sent")
    # the breaker opened after 3 failed attempts: SMS stop hammering the provider and wait in the queue
    wait_for(lambda: REGISTRY.get_sample_value("loyalty_notify_breaker_open", {"channel": "sms"}) == 1,
             message="the SMS breaker open")
    time.sleep(1.0)
    sms_rows = [r for m in members for r in messages(notify, member_id=m) if r["channel"] == "sms"]
    assert len(sms.requests) <= 4 and not any(r["status"] in ("sent", "sending") for r in sms_rows)
    assert any(r["status"] == "queued" for r in sms_rows), "waiting, not burnt through their attempts"


def test_an_erased_member_is_forgotten_and_gets_nothing_more(platform):  # noqa: F811
    notify, _, sms, _, _ = platform["start"](NOTIFY_QUIET_HOURS="00:00-23:59:59")
    member_id = member(platform)
    consent(notify, member_id, "sms", True)
    consent(notify, member_id, "marketing", True)
    campaign_id = announce(notify, member_id)  # deferred by the quiet hours
    wait_for(lambda: any(s["status"] == "deferred" for s in call(
        notify, "message", messages(notify, campaign_id=campaign_id)[0]["message_id"], caller=ADMIN)["steps"]),
        message="deferred")
    deliver(notify, "on_member_erased", MemberErased(member_id=member_id, erased_at=now()))
    [row] = messages(notify, campaign_id=campaign_id)
    assert (row["status"], row["reason"]) == ("suppressed", "member_erased")
    assert scalar("notify", "SELECT count(*) FROM consents WHERE member_id = :m", m=member_id) == 0
    assert scalar("notify", "SELECT variables::text FROM messages WHERE id = :m", m=row["message_id"]) == "{}"
    assert sms.for_message(row["message_id"]) == []


def test_an_older_consent_event_arriving_late_does_not_undo_a_newer_one(platform):  # noqa: F811
    notify, *_ = platform["start"]()
    member_id = member(platform)
    later = now()
    earlier = MemberConsentChanged(member_id=member_id, channel="sms", granted=True,
                                   changed_at=later.replace(year=later.year - 1), source="test", text_version="v1")
    consent(notify, member_id, "sms", False)
    deliver(notify, "on_consent_changed", earlier)
    assert scalar("notify", "SELECT granted FROM consents WHERE member_id = :m AND channel = 'sms'",
                  m=member_id) is False


def test_webhooks_are_signed_and_receipts_must_be_signed(platform):  # noqa: F811
    notify, _, _, _, hook = platform["start"]()
    member_id = member(platform)
    consent(notify, member_id, "marketing", True)
    campaign_id = announce(notify, member_id, channel="webhook")
    [row] = final(notify, campaign_id=campaign_id)
    [request] = hook.for_message(row["message_id"])
    assert hook.signed_correctly(request) and request.body["campaign_id"] == campaign_id
    tampered = request.raw.replace(b"coupon", b"coupoN")
    assert not hook.signed_correctly(type(request)(request.path, request.headers, request.body, 200, tampered, 0))

    body = json.dumps({"provider_message_id": row["provider_message_id"], "status": "delivered"})
    stamp = str(int(time.time()))
    with pytest.raises(Forbidden):
        call(notify, "signed_receipt", channel="webhook", timestamp=stamp, signature="sha256=00", body=body)
    old = str(int(time.time()) - 3600)
    with pytest.raises(Forbidden):  # a replayed old receipt
        call(notify, "signed_receipt", channel="webhook", timestamp=old, signature=sign(SECRET, old, body.encode()),
             body=body)
    done = call(notify, "signed_receipt", channel="webhook", timestamp=stamp,
                signature="sha256=" + sign(SECRET, stamp, body.encode()), body=body)
    assert done["status"] == "delivered"


def test_member_contacts_are_for_services_only(platform):  # noqa: F811
    platform["start"]()
    member_id = member(platform)
    contact = call(platform["members"], "contact", member_id)
    assert contact["phone"].startswith("+86") and contact["locale"] == "en" and contact["status"] == "active"
    with entrypoint_hook(platform["members"], "contact", context_data={"caller": ADMIN}) as hook:
        with pytest.raises(Forbidden):
            hook(member_id)


def test_consent_given_at_members_reaches_notify_over_the_broker(platform):  # noqa: F811
    notify, _, sms, _, _ = platform["start"](members_relay=True)
    member_id = member(platform)
    for channel in ("sms", "marketing"):
        call(platform["members"], "set_consent", member_id, channel=channel, granted=True, source="app",
             text_version="v3")
    wait_for(lambda: scalar("notify", "SELECT count(*) FROM consents WHERE member_id = :m AND granted",
                            m=member_id) == 2, message="consent events at notify")
    campaign_id = announce(notify, member_id)
    [row] = final(notify, campaign_id=campaign_id)
    assert row["status"] == "sent" and len(sms.for_message(row["message_id"])) == 1
    call(platform["members"], "set_consent", member_id, channel="marketing", granted=False, source="app",
         text_version="v3")
    wait_for(lambda: scalar("notify", "SELECT granted FROM consents WHERE member_id = :m AND channel = 'marketing'",
                            m=member_id) is False, message="the withdrawal at notify")
    [row] = final(notify, campaign_id=announce(notify, member_id))
    assert (row["status"], row["reason"]) == ("suppressed", "no_consent")


def test_greetings_wait_for_the_morning_but_a_tier_change_does_not(platform):  # noqa: F811
    from contracts.events import MemberBirthday

    notify, _, sms, _, _ = platform["start"](NOTIFY_QUIET_HOURS="00:00-23:59:59")
    member_id = member(platform)
    deliver(notify, "on_member_birthday", MemberBirthday(member_id=member_id, year=2026, local_date=now().date(),
                                                         registration_store="S1"))
    deliver(notify, "on_tier_changed", TierChanged(member_id=member_id, old_tier="normal", new_tier="gold",
                                                   direction="up", reason="sale", changed_at=now()))
    wait_for(lambda: {(r["template"], r["status"]) for r in messages(notify, member_id=member_id)} ==
             {("tier.changed", "sent"), ("birthday", "queued")}, message="tier sent, birthday deferred")
    [birthday] = [r for r in messages(notify, member_id=member_id) if r["template"] == "birthday"]
    steps = call(notify, "message", birthday["message_id"], caller=ADMIN)["steps"]
    assert any(s["status"] == "deferred" for s in steps) and len(sms.ok()) == 1


def test_points_receipts_go_out_once_per_sale_when_configured(platform):  # noqa: F811
    from decimal import Decimal

    from contracts.events import PointsAccrued

    notify, _, sms, _, _ = platform["start"](NOTIFY_POINTS_RECEIPTS="true", NOTIFY_QUIET_HOURS="00:00-00:01")
    member_id = member(platform)
    sale = PointsAccrued(member_id=member_id, store="S1", source="sale", reference=f"T-{uuid.uuid4().hex[:8]}",
                         points=12, amount=Decimal("12.50"), occurred_at=now(), balance=112)
    from tests.callers import entrypoint_hook

    checkin = sale.model_copy(update={"source": "checkin", "reference": "day"})
    with entrypoint_hook(notify, "on_points_accrued") as handle:  # a batch handler: a list of events
        # the same sale's event twice (two event ids) gives one receipt; a check-in gives none
        handle([e.envelope().model_dump(mode="json") for e in (sale, sale, checkin)])
    wait_for(lambda: [r["status"] for r in messages(notify, member_id=member_id)] == ["sent"],
             message="one receipt sent")
    [sent] = [r for r in sms.ok() if member_id in json.dumps(r.body) or "12.50" in json.dumps(r.body)]
    assert "12" in json.dumps(sent.body, ensure_ascii=False) and "112" in json.dumps(sent.body, ensure_ascii=False)


def test_with_receipts_off_sale_events_are_acknowledged_unread(platform):  # noqa: F811
    from decimal import Decimal

    from contracts.events import PointsAccrued
    from tests.callers import entrypoint_hook

    notify, _, _, _, _ = platform["start"]()
    member_id = member(platform)
    sale = PointsAccrued(member_id=member_id, store="S1", source="sale", reference=f"T-{uuid.uuid4().hex[:8]}",
                         points=12, amount=Decimal("12.50"), occurred_at=now(), balance=112)
    envelope = sale.envelope().model_dump(mode="json")
    with entrypoint_hook(notify, "on_points_accrued") as handle:
        assert handle([envelope, {"not": "an event"}]) == ["ack", "ack"]  # not even parsed
    assert scalar("notify", "SELECT count(*) FROM inbox WHERE event_id = :e", e=envelope["event_id"]) == 0
    assert messages(notify, member_id=member_id) == []


def test_a_message_picked_up_again_as_stuck_is_sent_by_its_new_owner_only(platform_env):
    import sqlalchemy as sa

    from service_runtime.config import database_url
    from service_runtime.db import Tx
    from services.notify import repo as notify_store

    engine = sa.create_engine(database_url("notify"), poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            tx = Tx(conn, "notify")
            message_id, _ = notify_store.enqueue(tx, dedupe_key=f"stuck:{uuid.uuid4()}", template="tier.changed",
                                                 channel="webhook", member_id=str(uuid.uuid4()), variables={})
            conn.execute(sa.text("UPDATE messages SET not_before = now() - interval '1 hour' WHERE id = :i"),
                         {"i": message_id})
        with engine.begin() as conn:  # the first sender claims it...
            first = [r for r in notify_store.claim_due(Tx(conn, "notify"), "webhook", 1000) if r.id == message_id]
        with engine.begin() as conn:  # ...and it waits in that sender's batch past the stuck limit
            conn.execute(sa.text("UPDATE messages SET updated_at = updated_at - interval '6 minutes' WHERE id = :i"),
                         {"i": message_id})
        with engine.begin() as conn:
            again = [r for r in notify_store.claim_due(Tx(conn, "notify"), "webhook", 1000) if r.id == message_id]
        assert first and again  # two senders hold it now...
        with engine.begin() as conn:
            # ...the first lets go, the second sends it
            assert notify_store.take(Tx(conn, "notify"), message_id, first[0].updated_at) is False
        with engine.begin() as conn:
            assert notify_store.take(Tx(conn, "notify"), message_id, again[0].updated_at) is True
    finally:
        engine.dispose()
