"""The outbox and inbox on the real broker: crashes lose nothing and duplicate nothing."""
from __future__ import annotations

import json
import uuid

from kombu import Connection

from service_runtime.config import ServiceSettings, amqp_uri
from service_runtime.db import make_engine
from service_runtime.metrics import INBOX_DUPLICATES
from service_runtime.outbox import OutboxRelay
from service_runtime.topology import DEAD_LETTER_QUEUE
from tests.callers import ClusterRpcClient, entrypoint_hook
from tests.helpers import scalar, wait_for


def _phone() -> str:
    return "137" + str(uuid.uuid4().int)[:8]


def _account_count(member_id: str) -> int:
    return scalar("points", "SELECT count(*) FROM accounts WHERE member_id = :id", id=member_id)


def _register_without_relay(start_service) -> tuple[object, str]:
    members = start_service("members", outbox_relay=False)
    with entrypoint_hook(members, "register") as register:
        member_id = register(name="Crash Test", phone=_phone())["member"]["member_id"]
    assert scalar("members", "SELECT count(*) FROM outbox WHERE published_at IS NULL "
                  "AND body->'payload'->>'member_id' = :id", id=member_id) == 1
    return members, member_id


def test_relay_killed_between_commit_and_publish_loses_nothing(start_service):
    start_service("points")
    members, member_id = _register_without_relay(start_service)
    members.kill()  # the process dies: committed, never published

    start_service("members")  # a new process; its relay finds the unpublished row
    wait_for(lambda: _account_count(member_id) == 1, message="points account opened")
    assert scalar("points", "SELECT count(*) FROM inbox WHERE event_type = 'member.registered' "
                  "AND event_id = (SELECT opened_by_event FROM accounts WHERE member_id = :id)", id=member_id) == 1
    wait_for(lambda: scalar("members", "SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0,
             message="outbox drained")


def test_relay_killed_after_publish_before_marking_duplicates_only_harmlessly(start_service):
    start_service("points")
    _, member_id = _register_without_relay(start_service)
    duplicates = INBOX_DUPLICATES.labels("points", "member.registered")
    duplicates_before = duplicates._value.get()

    relay = OutboxRelay(make_engine(ServiceSettings.load("members").database_url, 2), ServiceSettings.load("members"))
    try:
        with relay.engine.connect() as conn, conn.begin() as transaction:
            events = [e for e in relay.claim(conn) if e.body["payload"]["member_id"] == member_id]
            relay.publisher.publish(events)  # confirmed by the broker...
            transaction.rollback()  # ...and the relay dies before its mark commits
        wait_for(lambda: _account_count(member_id) == 1, message="first delivery handled")

        assert relay.relay_once() >= 1  # the next relay publishes the same event again
        wait_for(lambda: duplicates._value.get() > duplicates_before, message="duplicate seen by the inbox")
    finally:
        relay.publisher.close()
        relay.engine.dispose()
    assert _account_count(member_id) == 1
    assert scalar("points", "SELECT count(*) FROM inbox WHERE event_id = "
                  "(SELECT opened_by_event FROM accounts WHERE member_id = :id)", id=member_id) == 1


def test_rpc_over_the_broker_and_event_to_another_service(start_service):
    start_service("points")
    start_service("members")
    with ClusterRpcClient(uri=amqp_uri()) as cluster:
        result = cluster.members.register(name="Over The Wire", phone=_phone(), channel="app")
        member_id = result["member"]["member_id"]
        wait_for(lambda: _account_count(member_id) == 1, message="points account opened")
        account = cluster.points.get_account(member_id=member_id)
    assert account["balance"] == 0 and account["tier"] == "normal"


def test_malformed_event_is_dead_lettered_not_lost(start_service):
    start_service("points")
    poison = {"event_id": "not-a-uuid", "type": "member.registered", "payload": {}}
    with Connection(amqp_uri()) as conn:
        producer = conn.Producer(serializer="json")
        producer.publish(poison, exchange="members.events", routing_key="member.registered",
                         delivery_mode=2, headers={"x-test": "poison"})

        def dead_lettered() -> object:
            message = conn.default_channel.basic_get(DEAD_LETTER_QUEUE, no_ack=True)
            return None if message is None else json.loads(message.body)

        assert wait_for(dead_lettered, timeout=20, message="dead-lettered message") == poison
