"""Batched event handling on the real broker: a burst of member.registered events opens every
points account once, a duplicate is skipped, and a bad event in the middle of a batch is
dead-lettered on its own without holding back the rest."""
from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from kombu import Connection

from contracts.events import MemberRegistered
from service_runtime.config import amqp_uri
from service_runtime.metrics import INBOX_DUPLICATES
from service_runtime.topology import DEAD_LETTER_QUEUE
from tests.helpers import scalar, wait_for


def _registered(member_id: str) -> dict:
    event = MemberRegistered(member_id=member_id, member_number=f"7{uuid.uuid4().int % 10**10:010d}",
                             registration_store="SH-001", channel="import", registered_at=datetime.now(UTC))
    return event.envelope().model_dump(mode="json")


def test_a_burst_with_a_duplicate_and_a_bad_event_opens_each_account_once(start_service):
    start_service("points")
    members = [str(uuid.uuid4()) for _ in range(300)]
    bodies = [_registered(m) for m in members]
    poison = _registered(members[0]) | {"event_id": str(uuid.uuid4())}
    poison["payload"] = {**poison["payload"], "member_id": "not-a-uuid"}
    burst = bodies[:150] + [poison, bodies[10]] + bodies[150:]  # the bad one and a duplicate mid-burst
    duplicates = INBOX_DUPLICATES.labels("points", "member.registered")
    duplicates_before = duplicates._value.get()
    ids = ",".join(f"'{m}'" for m in members)
    with Connection(amqp_uri()) as conn:
        producer = conn.Producer(serializer="json")
        for body in burst:
            producer.publish(body, exchange="members.events", routing_key="member.registered", delivery_mode=2)
        wait_for(lambda: scalar("points", f"SELECT count(*) FROM accounts WHERE member_id IN ({ids})") == 300,
                 timeout=60, message="300 accounts opened")

        def dead_lettered() -> object:
            while (message := conn.default_channel.basic_get(DEAD_LETTER_QUEUE, no_ack=True)) is not None:
                if json.loads(message.body).get("event_id") == poison["event_id"]:
                    return True
            return None

        assert wait_for(dead_lettered, timeout=30, message="the bad event dead-lettered")
    wait_for(lambda: duplicates._value.get() > duplicates_before, message="the duplicate seen by the inbox")
    assert scalar("points", f"SELECT count(*) FROM inbox WHERE handler = 'on_member_registered' AND event_id IN "
                  f"(SELECT opened_by_event FROM accounts WHERE member_id IN ({ids}))") == 300
    assert scalar("points", "SELECT count(*) FROM accounts WHERE member_number IS NULL "
                  f"AND member_id IN ({ids})") == 0
