"""The outbox relay: committed events to RabbitMQ in confirmed, bundled batches, never before the commit
(docs/decisions/0003-outbox-and-inbox.md)."""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import amqp
import sqlalchemy as sa
from kombu.connection import Connection
from kombu.utils.json import dumps

from service_runtime.config import ServiceSettings
from service_runtime.metrics import OUTBOX_BACKLOG, OUTBOX_ERRORS, OUTBOX_PUBLISHED, OUTBOX_UNROUTABLE
from service_runtime.tables import runtime_metadata

log = logging.getLogger(__name__)

OUTBOX = runtime_metadata().tables["outbox"]
# the oldest unpublished rows no other relay holds, marked published and returned
_CLAIM = sa.text(
    "WITH batch AS MATERIALIZED (SELECT id FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT :limit "
    "FOR UPDATE SKIP LOCKED) "
    "UPDATE outbox SET published_at = now() FROM batch WHERE outbox.id = batch.id "
    "RETURNING outbox.id, outbox.event_id, outbox.event_type, outbox.exchange, outbox.body, outbox.headers")


BUNDLE_HEADER = "x-loyalty-bundle"


class PublishFailed(Exception):
    """The broker refused (nacked) or did not confirm a batch in time."""


@dataclass(frozen=True)
class OutgoingEvent:
    id: int
    event_id: str
    event_type: str
    exchange: str
    body: dict[str, Any]
    headers: dict[str, Any]


def bundles(events: list[OutgoingEvent], size: int) -> list[list[OutgoingEvent]]:
    """The events grouped by exchange and type, each group in the events' order, cut into
    bundles of at most ``size`` (every queue takes one type, so its order is kept)."""
    groups: dict[tuple[str, str], list[list[OutgoingEvent]]] = {}
    for event in events:
        chunks = groups.setdefault((event.exchange, event.event_type), [[]])
        if len(chunks[-1]) >= max(size, 1):
            chunks.append([])
        chunks[-1].append(event)
    return [chunk for chunks in groups.values() for chunk in chunks]


def _message(bundle: list[OutgoingEvent]) -> amqp.Message:
    first = bundle[0]
    if len(bundle) == 1:
        body: Any = first.body
        headers = dict(first.headers)
    else:  # the first event's trace headers: a consumer's worker carries that trace
        body = [event.body for event in bundle]
        headers = {**first.headers, BUNDLE_HEADER: len(bundle)}
    return amqp.Message(
        dumps(body),
        content_type="application/json",
        content_encoding="utf-8",
        delivery_mode=2,
        message_id=first.event_id,
        application_headers=headers,
    )


class ConfirmingPublisher:
    """Publishes batches on one channel in confirm mode, waiting once per batch."""

    def __init__(self, amqp_uri: str, service: str, confirm_timeout: float = 10.0, bundle_size: int = 1) -> None:
        self.amqp_uri = amqp_uri
        self.service = service
        self.bundle_size = bundle_size
        self.confirm_timeout = confirm_timeout
        self._conn: Connection | None = None
        self._channel: Any = None
        self._declared: set[str] = set()
        self._next_tag = 1
        self._unconfirmed: set[int] = set()
        self._nacked: set[int] = set()

    def _on_ack(self, delivery_tag: int, multiple: bool) -> None:
        self._settle(delivery_tag, multiple)

    def _on_nack(self, delivery_tag: int, multiple: bool) -> None:
        self._nacked.update(self._settle(delivery_tag, multiple))

    def _settle(self, delivery_tag: int, multiple: bool) -> set[int]:
        settled = {t for t in self._unconfirmed if t <= delivery_tag} if multiple else {delivery_tag}
        self._unconfirmed -= settled
        return settled

    def _on_return(self, exc: Exception, exchange: str, routing_key: str, message: Any) -> None:
        OUTBOX_UNROUTABLE.labels(self.service, routing_key).inc()
        log.warning("event %s to %s had no bound queue (%s)", routing_key, exchange, exc)

    def _channel_ready(self) -> Any:
        if self._channel is None:
            conn = Connection(self.amqp_uri, connect_timeout=5)
            conn.connect()
            channel = conn.channel()
            channel.confirm_select()
            channel.events["basic_ack"].add(self._on_ack)
            channel.events["basic_nack"].add(self._on_nack)
            channel.events["basic_return"].add(self._on_return)
            self._conn, self._channel = conn, channel
            self._declared.clear()
            self._next_tag = 1
            self._unconfirmed.clear()
        return self._channel

    def publish(self, events: list[OutgoingEvent]) -> None:
        """Publish all events (bundled by type) and return once the broker confirmed every one."""
        if not events:
            return
        channel = self._channel_ready()
        self._nacked.clear()
        for bundle in bundles(events, self.bundle_size):
            exchange, event_type = bundle[0].exchange, bundle[0].event_type
            if exchange not in self._declared:
                channel.exchange_declare(exchange, "topic", durable=True, auto_delete=False)
                self._declared.add(exchange)
            channel.basic_publish(_message(bundle), exchange=exchange, routing_key=event_type, mandatory=True)
            self._unconfirmed.add(self._next_tag)
            self._next_tag += 1
        deadline = time.monotonic() + self.confirm_timeout
        assert self._conn is not None
        while self._unconfirmed:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise PublishFailed(f"{len(self._unconfirmed)} events unconfirmed after {self.confirm_timeout}s")
            try:
                self._conn.drain_events(timeout=remaining)
            except TimeoutError:
                continue
        if self._nacked:
            raise PublishFailed(f"broker nacked {len(self._nacked)} events")

    def close(self) -> None:
        conn, self._conn, self._channel = self._conn, None, None
        if conn is not None:
            try:
                conn.release()
            except Exception:  # the connection may already be dead; nothing to recover
                log.debug("error closing relay connection", exc_info=True)


class OutboxRelay:
    """Moves committed outbox rows to the broker. One per service process."""

    def __init__(self, engine: sa.Engine, settings: ServiceSettings) -> None:
        self.engine = engine
        self.settings = settings
        self.publisher = ConfirmingPublisher(settings.amqp_uri, settings.name,
                                             bundle_size=settings.outbox_bundle_size)
        self._wake = threading.Event()
        self._stopping = False
        self._last_gauge = 0.0
        self._last_cleanup = 0.0

    # -- the two steps, separate so tests can stop between them ------------------
    def claim(self, conn: sa.Connection) -> list[OutgoingEvent]:
        """Up to a batch of unpublished rows, marked published in the caller's transaction (one
        statement): the mark holds only if that transaction commits, which relay_once does only
        after the broker confirmed them. Rows another relay holds are skipped, not waited for."""
        rows = conn.execute(_CLAIM, {"limit": self.settings.outbox_batch_size}).all()
        return [OutgoingEvent(r.id, str(r.event_id), r.event_type, r.exchange, r.body, r.headers)
                for r in sorted(rows, key=lambda r: r.id)]

    def relay_once(self) -> int:
        """Publish one batch; returns how many events were published."""
        with self.engine.begin() as conn:
            events = self.claim(conn)
            if not events:
                return 0
            self.publisher.publish(events)  # a failure rolls the marks back: the rows stay unpublished
        OUTBOX_PUBLISHED.labels(self.settings.name).inc(len(events))
        return len(events)

    # -- the loop -----------------------------------------------------------------
    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        self.publisher.close()

    def run(self) -> None:
        failures = 0
        while not self._stopping:
            self._wake.clear()  # a wake() from here on triggers another pass
            try:
                published = self.relay_once()
                failures = 0
            except Exception as exc:  # broker or database down: keep the rows, retry later
                if self._stopping:
                    break
                failures += 1
                OUTBOX_ERRORS.labels(self.settings.name).inc()
                log.warning("outbox relay failed (%s: %s); retrying", type(exc).__name__, exc)
                self.publisher.close()
                time.sleep(min(0.2 * 2 ** min(failures, 5), 5.0))
                continue
            try:
                self._housekeeping()
            except Exception:  # a failed gauge or cleanup must not tear down the publisher
                log.warning("outbox housekeeping failed", exc_info=True)
            if published >= self.settings.outbox_batch_size:
                continue  # more may be waiting
            if published and self.settings.outbox_linger_ms > 0:
                time.sleep(self.settings.outbox_linger_ms / 1000)  # busy: let the next events gather
            self._wake.wait(timeout=self.settings.outbox_poll_seconds)
        self.publisher.close()

    def backlog(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(
                sa.select(sa.func.count()).select_from(OUTBOX).where(OUTBOX.c.published_at.is_(None))
            ).scalar_one())

    def _housekeeping(self) -> None:
        now = time.monotonic()
        if now - self._last_gauge >= 1.0:
            self._last_gauge = now
            OUTBOX_BACKLOG.labels(self.settings.name).set(self.backlog())
        if now - self._last_cleanup >= 600:
            self._last_cleanup = now
            with self.engine.begin() as conn:
                conn.execute(
                    OUTBOX.delete().where(
                        OUTBOX.c.published_at < sa.func.now() - sa.text(
                            f"interval '{int(self.settings.outbox_retention_hours)} hours'"
                        )
                    )
                )
