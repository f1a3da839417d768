"""Subscribing to events: reliable delivery, dead-lettering, and the inbox.

    @subscribe("members", "member.registered")
    def on_member_registered(self, tx: Tx, event: MemberRegistered, envelope: Envelope) -> None:
        ...

The handler runs inside one transaction that first claims the event id in the inbox: a
redelivered event (RabbitMQ delivers at least once) is skipped, so a handler's writes
happen once per event however often it arrives. A handler that raises has its message
requeued; after ``EVENT_DELIVERY_LIMIT`` deliveries the queue dead-letters it. An event
that can never be processed (bad envelope or payload) is dead-lettered at once.

    @subscribe_batch("members", "member.registered", max_batch=200)
    def on_members_registered(self, tx: Tx, events: list[tuple[MemberRegistered, Envelope]]) -> None:
        ...

takes the events that arrive together (up to ``max_batch``, waiting at most ``max_wait`` seconds
for more) in one transaction, with their ids claimed in the inbox in one statement and the
duplicates left out. For bursts (an import of a million members) that is one transaction per
batch instead of one per event. If the batch fails, each of its events is tried alone, so one bad
event is requeued (and in the end dead-lettered) without holding back the others.

Bundles (``service_runtime.outbox``): a message may carry a list of envelopes of one type. Both
kinds of handler take each event in it through the inbox as if it had come alone; the message is
acknowledged when all of them are done. If one fails, the message is requeued (the events done
already are skipped when it comes back); if one can never be processed, the others are still
processed and the message is then dead-lettered whole (a replay skips the events done).
"""
from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from functools import partial
from typing import Any

import eventlet
from nameko.events import SERVICE_POOL, EventHandler
from nameko.exceptions import ContainerBeingKilled
from nameko.messaging import Consumer, decode_from_headers
from pydantic import ValidationError

from contracts.envelope import Envelope
from contracts.errors import InvalidEvent
from contracts.events import parse_payload
from service_runtime.config import env_float, settings_for
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
            eventlet.sleep(_backoff(message))
        super().handle_message_processed(message, result, exc_info)


def _backoff(message: Any) -> float:
    deliveries = int((message.headers or {}).get("x-delivery-count", 0) or 0)
    delay: float = 0.5 * 2 ** deliveries  # int ** int is typed Any (a negative power is a float)
    return min(delay, 30.0)


def unbundle(body: Any) -> list[Any]:
    """The envelopes a message carries: a bundle's list, or the one envelope."""
    return body if isinstance(body, list) else [body]


_SEVERITY = {"ack": 0, "reject": 1, "requeue": 2}


def _worse(outcome: str, other: str) -> str:
    """A message's outcome from its events': any to retry requeues it, else any bad one rejects it."""
    return outcome if _SEVERITY[outcome] >= _SEVERITY[other] else other


class BatchEventHandler(ReliableEventHandler):
    """Hands the decorated method the bodies of the messages that arrive together (as one
    worker; up to ``max_batch`` events, a bundle counting each of its events), then acks,
    requeues or dead-letters each message as the method's answer says: a list with "ack",
    "requeue" or "reject" per body."""

    def __init__(self, source_service: str, event_type: str, max_batch: int = 200, max_wait: float = 0.05,
                 **kwargs: Any) -> None:
        self.max_batch, self.max_wait = max_batch, max_wait
        self._pending: list[tuple[Any, Any]] = []
        self._events = 0
        self._timer: Any = None
        super().__init__(source_service, event_type, prefetch_count=max_batch, **kwargs)

    def handle_message(self, body: Any, message: Any) -> None:
        self._pending.append((body, message))
        self._events += len(unbundle(body))
        if self._events >= self.max_batch:
            self._flush()
        elif self._timer is None:
            self._timer = self.container.spawn_managed_thread(self._flush_soon)

    def _flush_soon(self) -> None:
        eventlet.sleep(self.max_wait)
        self._timer = None
        self._flush()

    def _flush(self) -> None:
        batch, self._pending, self._events = self._pending, [], 0
        if not batch:
            return
        messages = [message for _, message in batch]

        def spawn_worker() -> None:
            try:
                # the worker carries the first message's context (its trace), so a lone event keeps its trace
                self.container.spawn_worker(self, ([body for body, _ in batch],), {},
                                            context_data=decode_from_headers(messages[0].headers),
                                            handle_result=partial(self.handle_batch_result, messages))
            except ContainerBeingKilled:
                for message in messages:
                    self.consumer.requeue_message(message)

        # not in the consumer's own thread: a full worker pool must not stop its heartbeats
        self.container.spawn_managed_thread(spawn_worker, identifier=f"batch[{self.method_name}]")

    def handle_batch_result(self, messages: list[Any], worker_ctx: Any, result: Any = None,
                            exc_info: Any = None) -> tuple[Any, Any]:
        outcomes = result if exc_info is None and isinstance(result, list) and len(result) == len(messages) \
            else ["requeue"] * len(messages)
        again = [m for m, outcome in zip(messages, outcomes, strict=True) if outcome == "requeue"]
        if again:
            eventlet.sleep(max(_backoff(m) for m in again))  # as for single events: outages pass first
        for message, outcome in zip(messages, outcomes, strict=True):
            if outcome == "ack":
                self.consumer.ack_message(message)
            elif outcome == "requeue":
                self.consumer.requeue_message(message)
            elif message.channel.connection:
                try:
                    message.reject(requeue=False)  # straight to the dead-letter queue
                except ConnectionError:
                    pass  # the broker reclaims it with the connection
        return result, exc_info


def parse_envelope(body: Any) -> Envelope:
    try:
        return Envelope.model_validate(body)
    except ValidationError as exc:
        raise InvalidEvent(f"malformed envelope: {exc.errors()[0]['msg']}") from None


def subscribe(source_service: str, event_type: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare a method as the handler of one event type, processed once per event id."""

    def decorator(fn: Callable[..., Any]) -> Callable[..., Any]:
        handler_name = fn.__name__

        def run(self: Any, body: Any) -> Any:
            envelope, payload = _parse(body, event_type)
            with self.db.transaction() as tx:
                if not tx.claim_inbox(envelope, handler_name):
                    INBOX_DUPLICATES.labels(self.name, envelope.type).inc()
                    log.info("duplicate %s %s skipped", envelope.type, envelope.event_id)
                    return None
                return fn(self, tx, payload, envelope)

        @functools.wraps(fn)
        def handle(self: Any, body: Any) -> Any:
            if not isinstance(body, list):
                return run(self, body)
            invalid: InvalidEvent | None = None
            for one in body:  # in order, each in its own transaction; a failure requeues the rest
                try:
                    run(self, one)
                except InvalidEvent as exc:
                    log.warning("dead-lettering a bundle for %s after the rest of it: %s", handler_name, exc)
                    invalid = invalid or exc
            if invalid is not None:
                raise invalid
            return None

        return ReliableEventHandler.decorator(source_service, event_type)(handle)

    return decorator


def _parse(body: Any, event_type: str) -> tuple[Envelope, Any]:
    envelope = parse_envelope(body)
    if envelope.type != event_type:
        raise InvalidEvent(f"expected {event_type}, got {envelope.type}")
    try:
        return envelope, parse_payload(envelope)
    except (ValueError, ValidationError) as exc:
        raise InvalidEvent(f"bad {envelope.type} payload: {exc}") from None


# Read models of till sales (points.accrued): a batch costs about the same whatever its size, so
# waiting a quarter second for more halves their CPU per sale (docs/decisions/0028, 0033)
READ_MODEL_WAIT = env_float("EVENT_READ_MODEL_WAIT_SECONDS", 0.25)


def subscribe_batch(source_service: str, event_type: str, max_batch: int = 200, max_wait: float = 0.05,
                    when: Callable[[Any], bool] | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare a method as the handler of batches of one event type, each event once.

    ``when(service)`` false: the events are acknowledged unread, with no transaction (a handler
    switched off by configuration still has its queue, and the queue must not fill up)."""

    def decorator(fn: Callable[..., Any]) -> Callable[..., Any]:
        handler_name = fn.__name__

        def run(self: Any, items: list[tuple[int, Envelope, Any]]) -> None:
            with self.db.transaction() as tx:
                fresh = tx.claim_inbox_many([envelope for _, envelope, _ in items], handler_name)
                seen: set[str] = set()
                todo = []
                for _, envelope, payload in items:
                    key = str(envelope.event_id)
                    if key in fresh and key not in seen:
                        seen.add(key)
                        todo.append((payload, envelope))
                    else:
                        INBOX_DUPLICATES.labels(self.name, envelope.type).inc()
                if todo:
                    fn(self, tx, todo)

        @functools.wraps(fn)
        def handle(self: Any, bodies: list[Any]) -> list[str]:
            outcomes = ["ack"] * len(bodies)
            if when is not None and not when(self):
                return outcomes
            items: list[tuple[int, Envelope, Any]] = []  # (the message's index, the event)
            for index, body in enumerate(bodies):
                for one in unbundle(body):
                    try:
                        envelope, payload = _parse(one, event_type)
                    except InvalidEvent as exc:
                        log.warning("dead-lettering an event for %s: %s", handler_name, exc)
                        outcomes[index] = "reject"
                        continue
                    items.append((index, envelope, payload))
            try:
                run(self, items)
            except Exception:
                if len(items) == 1:
                    log.exception("%s failed on %s", handler_name, items[0][1].event_id)
                    failed = "reject" if isinstance(sys.exc_info()[1], InvalidEvent) else "requeue"
                    outcomes[items[0][0]] = _worse(outcomes[items[0][0]], failed)
                    return outcomes
                log.warning("%s failed on a batch of %d; trying each alone", handler_name, len(items),
                            exc_info=True)
                for item in items:
                    try:
                        run(self, [item])
                    except InvalidEvent as exc:
                        log.warning("dead-lettering %s for %s: %s", item[1].event_id, handler_name, exc)
                        outcomes[item[0]] = _worse(outcomes[item[0]], "reject")
                    except Exception:
                        log.exception("%s failed on %s", handler_name, item[1].event_id)
                        outcomes[item[0]] = _worse(outcomes[item[0]], "requeue")
            return outcomes

        return BatchEventHandler.decorator(source_service, event_type, max_batch=max_batch,
                                           max_wait=max_wait)(handle)

    return decorator
