"""Dead letters on the real broker: an event a handler kept failing is listed, inspected, replayed
to its original exchange and routing key, and then consumed exactly once."""
from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from kombu import Connection, Exchange

from contracts.events import PointsAdjusted
from service_runtime.config import amqp_uri
from service_runtime.db import Database
from service_runtime.deadletters import open_queue, select
from service_runtime.events import subscribe
from service_runtime.metrics import INBOX_DUPLICATES
from tests.helpers import wait_for

ROOT = Path(__file__).resolve().parents[2]
SOURCE = "dlqprobe"  # an exchange of its own: only the probe's queue is bound to it
STATE: dict[str, object] = {"failing": True, "handled": []}


class DeadLetterProbe:
    """A handler that fails while told to (a bug, a missing row), under points' settings."""

    name = "points"
    db = Database()

    @subscribe(SOURCE, "points.adjusted")
    def on_points_adjusted(self, tx, event, envelope) -> None:
        if STATE["failing"]:
            raise RuntimeError("probe told to fail")
        STATE["handled"].append(str(envelope.event_id))  # type: ignore[attr-defined]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "service_runtime.deadletters", *args], cwd=ROOT,
                          env=dict(os.environ), capture_output=True, text=True, timeout=60)


def _dead_letters(event_id: str) -> int:
    with open_queue(amqp_uri()) as queue:
        return len(select(queue.fetch(100_000), event_id=event_id))


def _discard(event_id: str) -> None:
    """Take a test's dead letter out, so the queue is as the test found it."""
    with open_queue(amqp_uri()) as queue:
        for letter in select(queue.fetch(100_000), event_id=event_id):
            queue.fetch_channel.basic_ack(letter.delivery_tag)


def _publish(body: dict) -> None:
    with Connection(amqp_uri()) as conn:
        conn.Producer(serializer="json").publish(body, exchange=Exchange(f"{SOURCE}.events", type="topic"),
                                                 routing_key="points.adjusted", delivery_mode=2,
                                                 message_id=body["event_id"])


def test_a_dead_lettered_event_is_replayed_and_consumed_once(start_service):
    start_service("points", service_cls=DeadLetterProbe, event_delivery_limit=1)
    envelope = PointsAdjusted(member_id="m-dlq", store=None, points=5, reason="probe", actor_id=None,
                              adjusted_at=datetime.now(UTC), balance=5).envelope()
    body = envelope.model_dump(mode="json")
    event_id = body["event_id"]
    _publish(body)
    wait_for(lambda: _dead_letters(event_id) == 1, timeout=60, message="the failing event dead-lettered")
    assert STATE["handled"] == []

    listed = _cli("list", "--type", "points.adjusted")
    assert listed.returncode == 0 and event_id in listed.stdout, listed.stderr
    shown = _cli("show", "--event-id", event_id)
    assert shown.returncode == 0, shown.stderr
    assert f"exchange '{SOURCE}.events', routing key 'points.adjusted'" in shown.stdout
    assert "evt-dlqprobe-points.adjusted--points.on_points_adjusted" in shown.stdout and '"probe"' in shown.stdout
    assert _dead_letters(event_id) == 1  # listing and showing hand the message back

    STATE["failing"] = False  # the cause is fixed
    replayed = _cli("replay", "--type", "points.adjusted")
    assert replayed.returncode == 0, replayed.stderr
    assert "replayed 1 of 1" in replayed.stdout
    wait_for(lambda: STATE["handled"] == [event_id], message="the replayed event handled")
    assert _dead_letters(event_id) == 0

    duplicates = INBOX_DUPLICATES.labels("points", "points.adjusted")
    before = duplicates._value.get()
    _publish(body)  # a second replay (or any late copy) of a handled event does nothing
    wait_for(lambda: duplicates._value.get() > before, message="the copy skipped by the inbox")
    assert STATE["handled"] == [event_id]


def test_replay_refuses_what_the_inbox_may_have_forgotten(start_service):
    STATE["failing"] = True
    start_service("points", service_cls=DeadLetterProbe, event_delivery_limit=1)
    old = datetime.now(UTC) - timedelta(days=30)
    body = PointsAdjusted(member_id="m-old", store=None, points=1, reason="old", actor_id=None, adjusted_at=old,
                          balance=1).envelope(occurred_at=old).model_dump(mode="json")
    _publish(body)
    wait_for(lambda: _dead_letters(body["event_id"]) == 1, timeout=60, message="the old event dead-lettered")

    refused = _cli("replay", "--event-id", body["event_id"])
    assert refused.returncode == 0 and "skipped 1 stale" in refused.stdout, refused.stdout + refused.stderr
    assert _dead_letters(body["event_id"]) == 1
    dry = _cli("replay", "--event-id", body["event_id"], "--force", "--dry-run")
    assert "would replay 1 of 1" in dry.stdout
    assert _dead_letters(body["event_id"]) == 1
    _discard(body["event_id"])
    assert _dead_letters(body["event_id"]) == 0
