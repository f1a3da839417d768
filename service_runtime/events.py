"""Subscribing to events: reliable delivery, dead-lettering, and the inbox.

    @subscribe("members", "member.registered")
    def on_member_registered(self, tx: Tx, event: MemberRegistered, envelope: Envelope) -> None:
        ...

The handler runs inside one transaction that first claims the event id in the inbox: a
redelivered event (RabbitMQ delivers at least once) is skipped, so a handler's writes
happen once per event however often it arrives. A handler that raises has its message
requeued; after ``EVENT_DELIVERY_LIMIT`` deliveries the queue dead-letters it. An event
that can never be processed (bad envelope or payload) is dead-lettered at once.
"""
from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

import eventlet
from nameko.events import SERVICE_POOL, EventHandler
from nameko.messaging import Consumer
from pydantic import ValidationError

from contracts.envelope import Envelope
from contracts.errors import InvalidEvent
from contracts.events import parse_payload
from service_runtime.config import settings_for
from service_runtime.metrics import INBOX_DUPLICATES
from service_runtime.topology import event_queue

log = logging.getLogger(__name__)


class ReliableEventHandler(EventHandler):
    """Nameko's SERVICE_POOL event handler on a quorum queue with a dead-letter exchange."""

    def __init__(self, source_service: str, event_type: str, **kwargs: Any) -> None:
        super().__init__(
            source_service, event_type, handler_type=SERVICE_POOL, reliable_delivery=True,
            requeue_on_error=True, expected_exceptions=(InvalidEvent,), **kwargs,
        )

    def setup(self) -> None:
        settings = settings_for(self.container.service_name)
        self.queue = event_queue(
            self.source_service, self.event_type, self.container.service_name, self.method_name,
            settings.event_delivery_limit,
        )
        Consumer.setup(self)  # Nameko's EventHandler.setup would build a queue without our arguments

    def handle_message_processed(self, message: Any, result: Any = None, exc_info: Any = None) -> None:
        if exc_info is not None and isinstance(exc_info[1], InvalidEvent):
            if message.channel.connection:
                try:
                    message.reject(requeue=False)  # straight to the dead-letter queue
                except ConnectionError:
                    pass  # the broker reclaims it with the connection
            return
        if exc_info is not None:
            # back off before handing it back, so a short outage (a database restart) does not
            # use up the delivery limit in seconds; quorum queues count deliveries for us
            deliveries = int((message.headers or {}).get("x-delivery-count", 0) or 0)
            eventlet.sleep(min(0.5 * 2 ** deliveries, 30.0))
        super().handle_message_processed(message, result, exc_info)


def parse_envelope(body: Any) -> Envelope:
    try:
        return Envelope.model_validate(body)
    except ValidationError as exc:
        raise InvalidEvent(f"malformed envelope: {exc.errors()[0]['msg']}") from None


def subscribe(source_service: str, event_type: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare a method as the handler of one event type, processed once per event id."""

    def decorator(fn: Callable[..., Any]) -> Callable[..., Any]:
        handler_name = fn.__name__

        @functools.wraps(fn)
        def handle(self: Any, body: Any) -> Any:
            envelope = parse_envelope(body)
            if envelope.type != event_type:
                raise InvalidEvent(f"expected {event_type}, got {envelope.type}")
            try:
                payload = parse_payload(envelope)
            except (ValueError, ValidationError) as exc:
                raise InvalidEvent(f"bad {envelope.type} payload: {exc}") from None
            with self.db.transaction() as tx:
                if not tx.claim_inbox(envelope, handler_name):
                    INBOX_DUPLICATES.labels(self.name, envelope.type).inc()
                    log.info("duplicate %s %s skipped", envelope.type, envelope.event_id)
                    return None
                return fn(self, tx, payload, envelope)

        return ReliableEventHandler.decorator(source_service, event_type)(handle)  # type: ignore[no-any-return]

    return decorator
