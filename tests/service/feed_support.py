"""For the feed tests: a webhook receiver on a port of its own (port 0), checking each delivery with
the reference verifier as an integrator would, that can be taken down and brought back on the same
port; and events published to the producers' exchanges as the producers' outbox relays do."""
from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import sqlalchemy as sa
from kombu import Connection

from contracts.envelope import EventPayload
from contracts.events import MemberErased, MemberRegistered, MemberUpdated, PointsAccrued, TierChanged
from service_runtime.config import amqp_uri, database_url
from services.feed import signing
from tests.helpers import empty_event_queues
from tests.service.notify_support import call

ADMIN = '{"kind":"staff","id":"a-1","roles":["admin"]}'
ERP = '{"kind":"key","id":"k-1","roles":["erp"]}'
CLERK = '{"kind":"staff","id":"c-1","roles":["clerk"],"stores":["S1"]}'
POS = '{"kind":"key","id":"k-2","roles":["pos"],"stores":["S1"]}'


class Receiver:
    """Accepts a delivery (200) when its signature verifies and ``refuse(item)`` is false; 401 for a
    bad signature, 500 when refusing. ``accepted`` lists the items accepted, in arrival order."""

    def __init__(self, secret: str = "", refuse: Callable[[dict[str, Any]], bool] | None = None) -> None:
        self.secret, self.refuse = secret, refuse or (lambda item: False)
        self.accepted: list[dict[str, Any]] = []
        self.refused_signatures = 0
        self.lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None
        self.port = 0
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    signing.verify(receiver.secret, dict(self.headers), body, time.time())
                except signing.SignatureError:
                    with receiver.lock:
                        receiver.refused_signatures += 1
                    self.send_response(401)
                    self.end_headers()
                    return
                item = json.loads(body)
                status = 500 if receiver.refuse(item) else 200
                if status == 200:
                    with receiver.lock:
                        receiver.accepted.append(item)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def items(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.accepted)


def head_cursor(feed: Any) -> str:
    """The cursor after the last event in the feed now (reading every page: a session's earlier
    tests may have left more than one page)."""
    cursor = None
    while True:
        page = call(feed, "read", caller=ADMIN, after=cursor, limit=1000)
        cursor = page["next_cursor"]
        if not page["has_more"]:
            return str(cursor)


def backdate(position: int, hours: int) -> None:
    """Make the feed's events up to a position look recorded ``hours`` ago (as if time had passed)."""
    engine = sa.create_engine(database_url("feed"), poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE feed_events SET recorded_at = now() - make_interval(hours => :h) "
                             "WHERE position <= :p"), {"h": hours, "p": position})
    engine.dispose()


def publish(*events: EventPayload) -> list[str]:
    """Each event as its producer's relay publishes it; their event ids."""
    ids = []
    # publisher confirms, as the relays publish: each publish returns once the broker has routed it
    with Connection(amqp_uri(), transport_options={"confirm_publish": True}) as conn:
        producer = conn.Producer(serializer="json")
        for event in events:
            envelope = event.envelope()
            producer.publish(envelope.model_dump(mode="json"), exchange=f"{event.PRODUCER}.events",
                             routing_key=event.TYPE, delivery_mode=2)
            ids.append(str(envelope.event_id))
    return ids


def now() -> datetime:
    return datetime.now(UTC)


def registered(member_id: str, **personal: Any) -> MemberRegistered:
    return MemberRegistered(member_id=member_id, member_number=f"7{uuid.uuid4().int % 10**10:010d}",
                            registration_store="SH-001", channel="pos", registered_at=now(), **personal)


def accrued(member_id: str, points: int, balance: int) -> PointsAccrued:
    return PointsAccrued(member_id=member_id, store="SH-001", source="sale", reference=f"T-{uuid.uuid4().hex[:8]}",
                         points=points, occurred_at=now(), balance=balance)


def tier(member_id: str) -> TierChanged:
    return TierChanged(member_id=member_id, old_tier="silver", new_tier="gold", direction="up", reason="sale",
                       changed_at=now())


def updated(member_id: str) -> MemberUpdated:
    return MemberUpdated(member_id=member_id, version=2, changed_fields=["gender", "birthday"], status="active",
                         gender="female", birthday=date(1990, 5, 17))


def erased(member_id: str) -> MemberErased:
    return MemberErased(member_id=member_id, erased_at=now())


def start_feed(start_service: Callable[..., Any]) -> Any:
    """The feed service with its event queues emptied first: the suite's earlier tests published
    thousands of member and points events into them (bootstrap declares every queue at the start),
    a backlog these tests would otherwise wait behind."""
    empty_event_queues("feed")
    return start_service("feed")
