"""The issue's proof, on the real broker and database with a real SMTP server (aiosmtpd) and HTTP
provider stubs: consent, quiet hours, caps, retries, the dead-letter list and replay, duplicates."""
from __future__ import annotations

import time
import uuid
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from prometheus_client import REGISTRY

from contracts.campaigns import CampaignAnnounced
from contracts.events import MemberBirthday, MemberConsentChanged, TierChanged
from tests.helpers import query, scalar, wait_for
from tests.service.notify_support import call, deliver, endpoints, notify_env, now

ADMIN = '{"kind":"staff","id":"ops-1","roles":["admin"]}'


@pytest.fixture
def platform(start_service, monkeypatch):
    """start(**env): members and notify with the SMTP server and provider stubs; returns the endpoints."""
    with endpoints() as (smtp, sms, push, hook):
        state = {}

        def start(members_relay: bool = False, **overrides):
            for key, value in {**notify_env(smtp, sms, push, hook), **overrides}.items():
                monkeypatch.setenv(key, value)
            state["members"] = start_service("members", outbox_relay=members_relay)
            state["notify"] = start_service("notify")
            return state["notify"], smtp, sms, push, hook

        state["start"] = start
        yield state


def member(platform, email: bool = True, locale: str = "en") -> str:
    phone = f"+86139{uuid.uuid4().int % 10**8:08d}"
    result = call(platform["members"], "register", name="Li Lei", phone=phone, registration_store="S1",
                  email=f"m{uuid.uuid4().hex[:8]}@example.test" if email else None, preferences={"locale": locale})
    return result["member"]["member_id"]


def consent(notify, member_id: str, channel: str, granted: bool) -> None:
    deliver(notify, "on_consent_changed", MemberConsentChanged(
        member_id=member_id, channel=channel, granted=granted, changed_at=now(), source="test", text_version="v1"))


def announce(notify, member_id: str, channel: str = "sms", campaign_id: str | None = None) -> str:
    campaign_id = campaign_id or f"c-{uuid.uuid4().hex[:8]}"
    deliver(notify, "on_campaign_announced", CampaignAnnounced(
        campaign_id=campaign_id, member_id=member_id, channel=channel, template="campaign.coupon_drop",
        variables={"campaign_name": "Spring sale", "coupon_value": "20.00"}, announced_at=now()))
    return campaign_id


def messages(notify, **query_):
    return call(notify, "messages", caller=ADMIN, **query_)


def final(notify, campaign_id: str | None = None, member_id: str | None = None, timeout: float = 20.0):
    """The one message of a campaign (or member) once it reached a final state."""
    def done():
        rows = messages(notify, campaign_id=campaign_id, member_id=member_id)
        return rows if rows and all(r["status"] in ("sent", "delivered", "failed", "suppressed") for r in rows) \
            else None
    return wait_for(done, timeout=timeout, message="a final message state")


def test_consent_withdrawal_stops_marketing_at_once(platform):
    notify, _, sms, _, _ = platform["start"]()
    member_id = member(platform)
    consent(notify, member_id, "sms", True)
    consent(notify, member_id, "marketing", True)
    first = announce(notify, member_id)
    [sent] = final(notify, campaign_id=first)
    assert sent["status"] == "sent" and sent["provider_message_id"].startswith("prov-")
    [request] = sms.for_message(sent["message_id"])
    assert sms.signed_correctly(request) and "Spring sale" in request.body["body"] and "20.00" in request.body["body"]
    assert request.body["to"].startswith("+86139")

    consent(notify, member_id, "marketing", False)
    second = announce(notify, member_id)
    [suppressed] = final(notify, campaign_id=second)
    assert (suppressed["status"], suppressed["reason"]) == ("suppressed", "no_consent")
    assert sms.for_message(suppressed["message_id"]) == []
    outcomes = query("notify", "SELECT body->'payload'->>'status', body->'payload'->>'reason' FROM outbox "
                               "WHERE event_type = 'notification.outcome' AND body->'payload'->>'campaign_id' = :c",
                     c=second)
    assert [tuple(r) for r in outcomes] == [("suppressed", "no_consent")]


def test_quiet_hour_messages_arrive_after_the_window(platform):
    zone = ZoneInfo("Asia/Shanghai")  # the default store zone
    local = now().astimezone(zone)
    window_end = local + timedelta(seconds=4)
    spec = f"{(local - timedelta(minutes=1)).time().isoformat(timespec='seconds')}-" \
           f"{window_end.time().isoformat(timespec='seconds')}"
    notify, smtp, _, _, _ = platform["start"](NOTIFY_QUIET_HOURS=spec)
    member_id = member(platform)
    consent(notify, member_id, "email", True)
    consent(notify, member_id, "marketing", True)
    campaign_id = announce(notify, member_id, channel="email")

    [row] = messages(notify, campaign_id=campaign_id)

    def deferred():
        return [s for s in call(notify, "message", row["message_id"], caller=ADMIN)["steps"]
                if s["status"] == "deferred"]
    [step] = wait_for(deferred, message="the message deferred")
    assert step["detail"].startswith("quiet_hours")
    assert smtp.messages() == []  # not during the window (nor dropped: it waits in the queue)

    [sent] = final(notify, campaign_id=campaign_id, timeout=30)
    assert sent["status"] == "sent"
    assert time.time() >= window_end.replace(microsecond=0).timestamp()
    mails = [m for m in smtp.messages() if m["X-Loyalty-Message-Id"] == sent["message_id"]]
    assert len(mails) == 1 and mails[0]["Subject"] == "Spring sale"
    assert "20.00" in mails[0].get_payload(decode=True).decode()


def test_the_cap_suppresses_the_third_message_of_the_day(platform):
    notify, _, sms, _, _ = platform["start"](NOTIFY_CAP_PER_DAY="2")
    member_id = member(platform)
    consent(notify, member_id, "sms", True)
    consent(notify, member_id, "marketing", True)
    outcomes = []
    for _ in range(3):
        campaign_id = announce(notify, member_id)
        [row] = final(notify, campaign_id=campaign_id)
        outcomes.append((row["status"], row["reason"]))
    assert outcomes == [("sent", None), ("sent", None), ("suppressed", "cap")]
    assert len(sms.ok()) == 2
    # transactional messages are not capped
    deliver(notify, "on_tier_changed", TierChanged(member_id=member_id, old_tier="normal", new_tier="gold",
                                                   direction="up", reason="sale", changed_at=now()))
    wait_for(lambda: len(sms.ok()) == 3, message="the tier message past the cap")


def test_a_provider_failing_three_times_then_answering_delivers_once(platform):
    notify, _, sms, _, _ = platform["start"](NOTIFY_MAX_ATTEMPTS="5")
    member_id = member(platform)
    sms.fail_next(3)
    deliver(notify, "on_tier_changed", TierChanged(member_id=member_id, old_tier="normal", new_tier="gold",
                                                   direction="up", reason="sale", changed_at=now()))
    [row] = final(notify, member_id=member_id)
    assert row["status"] == "sent" and row["attempts"] == 4
    requests = sms.for_message(row["message_id"])
    assert [r.status for r in requests] == [500, 500, 500, 200]
    time.sleep(1)  # nothing more goes out later
    assert len(sms.for_message(row["message_id"])) == 4
    # the provider's receipt marks it delivered, once
    for _ in range(2):
        receipt = call(notify, "receipt", provider_message_id=row["provider_message_id"])
    assert receipt["status"] == "delivered"
    statuses = query("notify", "SELECT body->'payload'->>'status' FROM outbox WHERE event_type = "
                               "'notification.outcome' AND body->'payload'->>'message_id' = :m", m=row["message_id"])
    assert sorted(r[0] for r in statuses) == ["delivered", "sent"]


def test_a_provider_down_for_good_dead_letters_and_replay_delivers(platform):
    notify, _, _, push, _ = platform["start"](NOTIFY_MAX_ATTEMPTS="3")
    member_id = member(platform)
    consent(notify, member_id, "push", True)
    consent(notify, member_id, "marketing", True)
    push.always_fail()
    campaign_id = announce(notify, member_id, channel="push")
    [dead] = final(notify, campaign_id=campaign_id)
    assert (dead["status"], dead["reason"], dead["attempts"]) == ("failed", "provider_error", 3)
    assert dead["dead_at"] is not None and len(push.for_message(dead["message_id"])) == 3
    listed = call(notify, "dead_letters", caller=ADMIN)
    assert dead["message_id"] in [m["message_id"] for m in listed["items"]] and listed["depth"] >= 1
    inspected = call(notify, "message", dead["message_id"], caller=ADMIN)
    assert [s["status"] for s in inspected["steps"]].count("retry") == 2 and "HTTP 500" in inspected["last_error"]

    push.always_fail(None)
    call(notify, "replay", dead["message_id"], caller=ADMIN)
    call(notify, "replay", dead["message_id"], caller=ADMIN)  # a second click changes nothing
    [sent] = final(notify, campaign_id=campaign_id)
    assert sent["status"] == "sent" and sent["replayed_at"] is not None and sent["dead_at"] is None
    assert [r.status for r in push.for_message(dead["message_id"])] == [500, 500, 500, 200]
    assert dead["message_id"] not in [m["message_id"] for m in call(notify, "dead_letters", caller=ADMIN)["items"]]
    # the metrics ops watch: failures by channel and reason, provider latency, the DLQ depth
    assert REGISTRY.get_sample_value("loyalty_notify_messages_total",
                                     {"channel": "push", "outcome": "failed", "reason": "provider_error"}) >= 1
    assert REGISTRY.get_sample_value("loyalty_notify_provider_seconds_count",
                                     {"channel": "push", "result": "error"}) >= 3
    depth = scalar("notify", "SELECT count(*) FROM messages WHERE status = 'failed' AND dead_at IS NOT NULL")
    wait_for(lambda: REGISTRY.get_sample_value("loyalty_notify_dlq_depth") == depth, message="the DLQ gauge")


def test_a_duplicate_event_sends_one_message(platform):
    notify, smtp, sms, _, _ = platform["start"](NOTIFY_TRANSACTIONAL_CHANNELS="sms,email")
    member_id = member(platform)
    birthday = MemberBirthday(member_id=member_id, year=2026, local_date=now().date(), registration_store="S1")
    envelope = birthday.envelope().model_dump(mode="json")
    deliver(notify, "on_member_birthday", birthday, envelope)
    deliver(notify, "on_member_birthday", birthday, envelope)  # redelivered: the inbox skips it
    deliver(notify, "on_member_birthday", birthday.model_copy())  # emitted twice: one per member and year
    rows = final(notify, member_id=member_id)
    assert sorted(r["channel"] for r in rows) == ["email", "sms"] and {r["status"] for r in rows} == {"sent"}
    time.sleep(1)
    assert len(sms.ok()) == 1
    mails = [m for m in smtp.messages() if m["X-Loyalty-Message-Id"] in {r["message_id"] for r in rows}]
    assert len(mails) == 1 and mails[0]["Subject"] == "Happy birthday, Li Lei"

    consent(notify, member_id, "sms", True)
    consent(notify, member_id, "marketing", True)
    campaign_id = f"c-{uuid.uuid4().hex[:8]}"
    announce(notify, member_id, campaign_id=campaign_id)
    announce(notify, member_id, campaign_id=campaign_id)  # campaigns announced twice: still one message
    assert len(final(notify, campaign_id=campaign_id)) == 1
