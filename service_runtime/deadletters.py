"""List, inspect and replay the events in the dead-letter queue (``loyalty.dead-letters``).

    python -m service_runtime.deadletters list [--type TYPE]
    python -m service_runtime.deadletters show N | --event-id ID
    python -m service_runtime.deadletters replay --type TYPE | --all | --event-id ID [--dry-run] [--force]

(``make deadletters`` and ``make deadletters-replay TYPE=...|ALL=1`` run them.) The broker is
``AMQP_URI``, as for the services. A replayed message goes back to the exchange and routing key
it was first published with (its ``x-death`` header names them), so every handler of that
event type gets it again: the handler that dead-lettered it processes it, the others skip it
through their inbox. Replay acks a message in the dead-letter queue only once the broker has
confirmed its copy; a message no queue is bound for stays where it is.

Listing is non-destructive: messages are fetched unacknowledged and handed back when the
command ends. A message dead-lettered longer ago than the inbox remembers event ids
(``INBOX_RETENTION_HOURS`` less a day, see ``service_runtime.inbox``) could run a handler twice,
so replay skips it unless ``--force``.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import amqp
from kombu.connection import Connection

from service_runtime import config as cfg
from service_runtime.inbox import DEFAULT_RETENTION_HOURS, REPLAY_MARGIN_HOURS
from service_runtime.topology import DEAD_LETTER_QUEUE

# headers the broker wrote on the way to the dead-letter queue: a replay starts afresh
_BROKER_HEADERS = ("x-death", "x-delivery-count", "x-first-death-exchange", "x-first-death-queue",
                   "x-first-death-reason", "x-last-death-exchange", "x-last-death-queue", "x-last-death-reason")
REPLAYS_HEADER = "x-loyalty-replays"


@dataclass
class DeadLetter:
    """One message in the dead-letter queue, as it was first published."""

    position: int
    delivery_tag: int
    exchange: str
    routing_key: str
    queue: str
    reason: str
    died_at: datetime | None
    body: Any
    properties: dict[str, Any] = field(repr=False)

    @property
    def events(self) -> list[dict[str, Any]]:
        """The envelopes it carries (a bundle carries several)."""
        items = self.body if isinstance(self.body, list) else [self.body]
        return [item for item in items if isinstance(item, dict)]

    @property
    def event_type(self) -> str:
        types = {str(e.get("type")) for e in self.events if e.get("type")}
        return types.pop() if len(types) == 1 else self.routing_key

    @property
    def event_ids(self) -> list[str]:
        return [str(e.get("event_id")) for e in self.events if e.get("event_id")]

    def stale(self, now: datetime, retention_hours: int) -> bool:
        """So old that the inbox of a handler that took it at first may have forgotten it (aged
        from the earliest of its events' times and its death)."""
        times = [t for t in [self.died_at, *(_parse_time(e.get("occurred_at")) for e in self.events)] if t]
        limit = timedelta(hours=max(retention_hours - REPLAY_MARGIN_HOURS, 0))
        return bool(times) and now - min(times) > limit


def _decode(raw: bytes | str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw if isinstance(raw, str) else raw.decode("utf-8", "replace")


def _parse_time(value: Any) -> datetime | None:
    try:
        return _aware(datetime.fromisoformat(str(value)))
    except ValueError:
        return None


def _aware(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    return None


def parse(position: int, message: amqp.Message) -> DeadLetter:
    """A fetched message with its first death (the original exchange, key and queue) read out."""
    properties = dict(message.properties)
    headers = properties.get("application_headers") or {}
    deaths = headers.get("x-death") or [{}]
    first = deaths[-1]  # the broker puts the most recent death first
    keys = first.get("routing-keys") or [message.delivery_info.get("routing_key", "")]
    return DeadLetter(
        position=position,
        delivery_tag=message.delivery_tag,
        exchange=str(headers.get("x-first-death-exchange") or first.get("exchange") or ""),
        routing_key=str(keys[0]),
        queue=str(headers.get("x-first-death-queue") or first.get("queue") or ""),
        reason=str(headers.get("x-first-death-reason") or first.get("reason") or ""),
        died_at=_aware(first.get("time")),
        body=_decode(message.body),
        properties=properties,
    )


def replay_message(letter: DeadLetter) -> amqp.Message:
    """The message to publish again: the original body and properties, without the broker's
    dead-lettering headers, counting its replays."""
    properties = {k: v for k, v in letter.properties.items() if k != "application_headers"}
    headers = {k: v for k, v in (letter.properties.get("application_headers") or {}).items()
               if k not in _BROKER_HEADERS}
    headers[REPLAYS_HEADER] = int(headers.get(REPLAYS_HEADER, 0)) + 1
    body = letter.body if isinstance(letter.body, str) else json.dumps(letter.body)
    return amqp.Message(body, application_headers=headers, **properties)


class DeadLetterQueue:
    """The dead-letter queue on one connection: fetch without acking, then replay or hand back."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.fetch_channel = conn.channel()
        self.publish_channel = conn.channel()
        self._returned: list[str] = []
        self.publish_channel.events["basic_return"].add(self._on_return)

    def _on_return(self, exc: Exception, exchange: str, routing_key: str, message: Any) -> None:
        self._returned.append(routing_key)

    def fetch(self, limit: int) -> list[DeadLetter]:
        """Up to ``limit`` messages (no more than were queued when it started), held unacked."""
        _, depth, _ = self.fetch_channel.queue_declare(DEAD_LETTER_QUEUE, passive=True)
        letters: list[DeadLetter] = []
        while len(letters) < min(depth, limit):
            message = self.fetch_channel.basic_get(DEAD_LETTER_QUEUE, no_ack=False)
            if message is None:
                break
            letters.append(parse(len(letters) + 1, message))
        return letters

    def replay(self, letter: DeadLetter) -> bool:
        """Publish the original again (confirmed) and ack the dead letter; False if no queue took it."""
        self._returned.clear()
        self.publish_channel.basic_publish(replay_message(letter), exchange=letter.exchange,
                                           routing_key=letter.routing_key, mandatory=True)
        if self._returned:
            return False
        self.fetch_channel.basic_ack(letter.delivery_tag)
        return True


@contextmanager
def open_queue(amqp_uri: str) -> Iterator[DeadLetterQueue]:
    """Messages not replayed go back to the queue when the connection closes."""
    with Connection(amqp_uri, connect_timeout=10, transport_options={"confirm_publish": True}) as conn:
        conn.connect()
        yield DeadLetterQueue(conn.connection)


def select(letters: list[DeadLetter], event_type: str | None = None, event_id: str | None = None) -> list[DeadLetter]:
    """Every letter (no filter), those of one event type, or the one carrying an event id."""
    if event_id is not None:
        return [x for x in letters if event_id in x.event_ids or x.properties.get("message_id") == event_id]
    if event_type is not None:
        return [x for x in letters if x.event_type == event_type]
    return letters


def _when(letter: DeadLetter) -> str:
    return letter.died_at.strftime("%Y-%m-%d %H:%M:%S") if letter.died_at else "?"


def print_list(letters: list[DeadLetter]) -> None:
    print(f"{len(letters)} dead letter(s) in {DEAD_LETTER_QUEUE}")
    for letter in letters:
        ids = letter.event_ids
        first = (ids[0] + (f" (+{len(ids) - 1})" if len(ids) > 1 else "")) if ids else "-"
        print(f"{letter.position:>5}  {_when(letter)}  {letter.event_type:<26} {letter.reason:<15} "
              f"{letter.queue}  {first}")
    for event_type, count in sorted(Counter(x.event_type for x in letters).items()):
        print(f"  {count:>5} {event_type}")


def print_one(letter: DeadLetter) -> None:
    headers = letter.properties.get("application_headers") or {}
    print(f"position:        {letter.position}\nevent type:      {letter.event_type}\n"
          f"dead-lettered:   {_when(letter)} UTC ({letter.reason})\nfrom queue:      {letter.queue}\n"
          f"replays to:      exchange {letter.exchange!r}, routing key {letter.routing_key!r}\n"
          f"deaths:          {sum(int(d.get('count', 1)) for d in headers.get('x-death') or [])}\n"
          f"replayed before: {headers.get(REPLAYS_HEADER, 0)}\nevent ids:       {', '.join(letter.event_ids) or '-'}")
    print(json.dumps(letter.body, indent=2, default=str) if not isinstance(letter.body, str) else letter.body)


def replay(queue: DeadLetterQueue, chosen: list[DeadLetter], force: bool, dry_run: bool) -> dict[str, int]:
    """Replay the chosen letters; counts of replayed, stale (skipped) and unroutable ones."""
    retention = cfg.env_int("INBOX_RETENTION_HOURS", DEFAULT_RETENTION_HOURS)
    now = datetime.now(UTC)
    counts = {"replayed": 0, "stale": 0, "unroutable": 0}
    for letter in chosen:
        if letter.stale(now, retention) and not force:
            counts["stale"] += 1
            print(f"skipped {letter.position} ({letter.event_type}, dead-lettered {_when(letter)}): older than "
                  f"the inbox remembers; --force replays it anyway", file=sys.stderr)
        elif dry_run:
            counts["replayed"] += 1
        elif queue.replay(letter):
            counts["replayed"] += 1
        else:
            counts["unroutable"] += 1
            print(f"kept {letter.position}: no queue is bound to {letter.exchange} {letter.routing_key}",
                  file=sys.stderr)
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m service_runtime.deadletters", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="the dead letters, oldest first, with a count per event type")
    listing.add_argument("--type", help="only this event type")
    show = commands.add_parser("show", help="one dead letter: where it came from, why, and its body")
    show.add_argument("position", nargs="?", type=int, help="its number in `list`")
    show.add_argument("--event-id")
    again = commands.add_parser("replay", help="publish dead letters again to their original exchange")
    which = again.add_mutually_exclusive_group(required=True)
    which.add_argument("--type", help="every dead letter of this event type")
    which.add_argument("--all", action="store_true", help="every dead letter")
    which.add_argument("--event-id", help="the one carrying this event id")
    again.add_argument("--dry-run", action="store_true", help="say what would be replayed, replay nothing")
    again.add_argument("--force", action="store_true", help="replay even what the inbox may have forgotten")
    for sub in (listing, show, again):
        sub.add_argument("--limit", type=int, default=100_000, help="read at most this many messages")
    args = parser.parse_args(argv)
    if args.command == "show" and (args.position is None) == (args.event_id is None):
        parser.error("show takes a position or --event-id")

    with open_queue(cfg.amqp_uri()) as queue:
        try:
            letters = queue.fetch(args.limit)
        except amqp.exceptions.NotFound:
            print(f"no queue {DEAD_LETTER_QUEUE} on {cfg.amqp_vhost()}: run `python -m service_runtime.bootstrap` "
                  "(or check AMQP_URI)", file=sys.stderr)
            return 1
        if args.command == "list":
            print_list(select(letters, event_type=args.type))
            return 0
        if args.command == "show":
            found = select(letters, event_id=args.event_id) if args.event_id else \
                [x for x in letters if x.position == args.position]
            if not found:
                print("no such dead letter", file=sys.stderr)
                return 1
            print_one(found[0])
            return 0
        chosen = select(letters, event_type=args.type, event_id=args.event_id)
        counts = replay(queue, chosen, args.force, args.dry_run)
    verb = "would replay" if args.dry_run else "replayed"
    print(f"{verb} {counts['replayed']} of {len(chosen)}; skipped {counts['stale']} stale, "
          f"kept {counts['unroutable']} unroutable")
    return 0 if counts["unroutable"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
