"""Names and arguments of the platform's exchanges and queues, and their declaration.

Event queues are quorum queues with a delivery limit and a dead-letter exchange: a handler
that keeps failing sends its message to ``loyalty.dead-letters`` (visible, replayable)
instead of dropping it. Queues are declared at deploy/start-up by ``bootstrap`` before any
producer runs, because RabbitMQ drops events routed to no queue.

Changing the arguments of an existing queue fails with PRECONDITION_FAILED: a change here
needs a new queue name (bump QUEUE_GENERATION) and a migration of the old queue's messages.
"""
from __future__ import annotations

import inspect
from collections.abc import Iterable
from typing import Any

from kombu.entity import Exchange, Queue

DEAD_LETTER_EXCHANGE = "loyalty.dlx"
DEAD_LETTER_QUEUE = "loyalty.dead-letters"
QUEUE_GENERATION = ""  # appended to queue names when their arguments must change


def event_exchange(source_service: str) -> Exchange:
    return Exchange(f"{source_service}.events", type="topic", durable=True, delivery_mode=2)


def event_queue(source_service: str, event_type: str, service: str, method: str, delivery_limit: int) -> Queue:
    """The queue one handler consumes (named as Nameko names SERVICE_POOL queues)."""
    return Queue(
        f"evt-{source_service}-{event_type}--{service}.{method}{QUEUE_GENERATION}",
        exchange=event_exchange(source_service),
        routing_key=event_type,
        durable=True,
        auto_delete=False,
        exclusive=False,
        queue_arguments={
            "x-queue-type": "quorum",
            "x-delivery-limit": delivery_limit,
            "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
        },
    )


def dead_letter_entities() -> list[Any]:
    exchange = Exchange(DEAD_LETTER_EXCHANGE, type="fanout", durable=True)
    queue = Queue(DEAD_LETTER_QUEUE, exchange=exchange, routing_key="", durable=True,
                  queue_arguments={"x-queue-type": "quorum"})
    return [exchange, queue]


def service_entities(service_cls: type[Any], delivery_limit: int) -> list[Any]:
    """Every exchange and queue a service class publishes to or consumes from."""
    service: str = service_cls.name
    entities: list[Any] = [event_exchange(service)]
    for attr, member in inspect.getmembers(service_cls, inspect.isfunction):
        for entrypoint in getattr(member, "nameko_entrypoints", ()):
            if hasattr(entrypoint, "source_service") and hasattr(entrypoint, "event_type"):
                entities.append(event_exchange(entrypoint.source_service))
                entities.append(
                    event_queue(entrypoint.source_service, entrypoint.event_type, service, attr, delivery_limit)
                )
    return entities


def declare(amqp_uri: str, entities: Iterable[Any]) -> None:
    from kombu.connection import Connection

    with Connection(amqp_uri, connect_timeout=10) as conn:
        channel = conn.channel()
        for entity in entities:
            bound = entity.bind(channel)
            bound.declare()
