"""Bundled events on the real broker: the relay sends the events of one type in a batch as one
message, and both kinds of handler take each event in a bundle once, dead-lettering a bundle
only after processing the rest of it."""
from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from kombu import Connection, Exchange, Queue

from contracts.events import MemberRegistered, MemberUpdated
from service_runtime.config import ServiceSettings, amqp_uri
from service_runtime.events import unbundle
from service_runtime.metrics import INBOX_DUPLICATES
from service_runtime.outbox import BUNDLE_HEADER, ConfirmingPublisher, OutgoingEvent
from service_runtime.topology import DEAD_LETTER_QUEUE
from tests.helpers import scalar, wait_for


def _registered(member_id: str) -> dict:
    event = MemberRegistered(member_id=member_id, member_number=f"7{uuid.uuid4().int % 10**10:010d}",
                             registration_store="SH-001", channel="app", registered_at=datetime.now(UTC))
    return event.envelope().model_dump(mode="json")


def _frozen(member_id: str) -> dict:
    event = MemberUpdated(member_id=member_id, version=2, changed_fields=["status"], status="frozen")
    return event.envelope().model_dump(mode="json")


def _outgoing(body: dict) -> OutgoingEvent:
    return OutgoingEvent(0, body["event_id"], body["type"], "members.events", body, {"x-test": "bundle"})


def _dead_lettered(conn: Connection, event_id: str) -> object:
    """The dead-lettered message (a list for a bundle) that carries this event, if any yet."""
    while (message := conn.default_channel.basic_get(DEAD_LETTER_QUEUE, no_ack=True)) is not None:
        body = json.loads(message.body)
        if any(one.get("event_id") == event_id for one in unbundle(body)):
            return body
    return None


def _published(events: list[dict], bundle_size: int, count: int) -> list:
    """Publish through the relay's publisher into a queue of this test's own; the messages."""
    exchange = Exchange("members.events", type="topic", durable=True)
    queue = Queue(f"test-bundles-{uuid.uuid4().hex[:8]}", exchange=exchange, routing_key="member.*")
    publisher = ConfirmingPublisher(amqp_uri(), "members", bundle_size=bundle_size)
    messages: list = []
    with Connection(amqp_uri()) as conn:
        bound = queue.bind(conn.default_channel)
        bound.declare()
        try:
            publisher.publish([_outgoing(body) for body in events])

            def arrived() -> bool:
                while (message := bound.get(no_ack=True)) is not None:
                    messages.append(message)
                return len(messages) >= count

            wait_for(arrived, message=f"{count} messages")
        finally:
            publisher.close()
            bound.delete()
    return messages


def test_the_relay_sends_a_batchs_events_of_one_type_as_bundles_in_order(platform_env):
    registered = [_registered(str(uuid.uuid4())) for _ in range(5)]
    updated = [_frozen(str(uuid.uuid4())) for _ in range(2)]
    mixed = [registered[0], updated[0], *registered[1:4], updated[1], registered[4]]
    messages = _published(mixed, bundle_size=3, count=3)
    # registrations in their order, three to a bundle; the updates as one bundle of two
    assert [m.payload for m in messages] == [registered[:3], registered[3:], updated]
    assert [m.headers.get(BUNDLE_HEADER) for m in messages] == [3, 2, 2]
    assert all(m.headers["x-test"] == "bundle" for m in messages)

    [message] = _published([registered[0]], bundle_size=3, count=1)
    assert message.payload == registered[0] and BUNDLE_HEADER not in message.headers  # a lone event, as before
    assert ServiceSettings.load("members").outbox_bundle_size > 1  # bundling is on by default


def test_a_bundle_with_a_duplicate_and_a_bad_event_is_processed_then_dead_lettered(start_service):
    """Batch handler (points opening accounts): every good event once, then the bundle to the
    dead letters for its bad one."""
    start_service("points")
    members = [str(uuid.uuid4()) for _ in range(40)]
    bodies = [_registered(m) for m in members]
    poison = _registered(members[0]) | {"event_id": str(uuid.uuid4())}
    poison["payload"] = {**poison["payload"], "member_id": "not-a-uuid"}
    duplicates = INBOX_DUPLICATES.labels("points", "member.registered")
    before = duplicates._value.get()
    ids = ",".join(f"'{m}'" for m in members)
    with Connection(amqp_uri()) as conn:
        producer = conn.Producer(serializer="json")
        producer.publish(bodies[:20], exchange="members.events", routing_key="member.registered", delivery_mode=2)
        producer.publish([*bodies[20:30], poison, bodies[5], *bodies[30:]], exchange="members.events",
                         routing_key="member.registered", delivery_mode=2)
        wait_for(lambda: scalar("points", f"SELECT count(*) FROM accounts WHERE member_id IN ({ids})") == 40,
                 timeout=60, message="40 accounts opened")
        dead = wait_for(lambda: _dead_lettered(conn, poison["event_id"]), timeout=30, message="bundle dead-lettered")
    assert isinstance(dead, list) and len(dead) == 22  # the whole second bundle, as sent
    wait_for(lambda: duplicates._value.get() > before, message="the duplicate seen by the inbox")
    assert scalar("points", f"SELECT count(*) FROM inbox WHERE handler = 'on_member_registered' AND event_id IN "
                  f"(SELECT opened_by_event FROM accounts WHERE member_id IN ({ids}))") == 40
    assert scalar("points", f"SELECT count(DISTINCT opened_by_event) FROM accounts WHERE member_id IN ({ids})") == 40


def test_a_bundle_to_a_one_event_handler_takes_each_event_once_in_order(start_service):
    """One-event handler (points freezing accounts): each event in its own transaction, a
    redelivered bundle skips what was done, a bad event dead-letters the bundle after the rest."""
    start_service("points")
    members = [str(uuid.uuid4()) for _ in range(6)]
    ids = ",".join(f"'{m}'" for m in members)
    with Connection(amqp_uri()) as conn:
        producer = conn.Producer(serializer="json")
        producer.publish([_registered(m) for m in members], exchange="members.events",
                         routing_key="member.registered", delivery_mode=2)
        wait_for(lambda: scalar("points", f"SELECT count(*) FROM accounts WHERE member_id IN ({ids})") == 6,
                 message="accounts opened")
        frozen = [_frozen(m) for m in members]
        producer.publish(frozen[:3], exchange="members.events", routing_key="member.updated", delivery_mode=2)
        producer.publish(frozen[:3], exchange="members.events", routing_key="member.updated", delivery_mode=2)
        poison = frozen[3] | {"event_id": str(uuid.uuid4()), "payload": {"member_id": members[3]}}
        producer.publish([frozen[3], poison, *frozen[4:]], exchange="members.events",
                         routing_key="member.updated", delivery_mode=2)
        wait_for(lambda: scalar("points", f"SELECT count(*) FROM accounts WHERE member_id IN ({ids}) "
                                          "AND status = 'frozen'") == 6, message="six accounts frozen")
        dead = wait_for(lambda: _dead_lettered(conn, poison["event_id"]), timeout=30, message="bundle dead-lettered")
    assert [one["event_id"] for one in dead] == [frozen[3]["event_id"], poison["event_id"], frozen[4]["event_id"],
                                                 frozen[5]["event_id"]]
    assert scalar("points", "SELECT count(*) FROM inbox WHERE handler = 'on_member_updated' AND event_id IN "
                  f"({','.join(repr(f['event_id']) for f in frozen)})") == 6
