"""Taking events into the feed. Every append holds one transaction-scoped advisory lock from before
its positions are drawn until it commits, so positions become visible strictly in order: a reader
that saw position N has seen every position below it, and a cursor never skips a late commit."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert

from contracts.envelope import Envelope
from service_runtime.db import Tx
from services.feed import domain
from services.feed.tables import erased_members, feed_events

APPEND_LOCK = 0x6665_6564  # "feed": one writer at a time, so commits follow positions


def rows_of(envelope: Envelope) -> list[dict[str, Any]]:
    """The feed rows one event becomes (a members.imported batch: one member.registered per member)."""
    if envelope.type == "members.imported":
        return [{"event_id": str(uuid.uuid5(envelope.event_id, str(m["member_id"]))), "type": "member.registered",
                 "version": 1, "member_id": str(m["member_id"]), "occurred_at": envelope.occurred_at, "payload": m}
                for m in envelope.payload["members"]]
    return [{"event_id": str(envelope.event_id), "type": envelope.type, "version": envelope.version,
             "member_id": domain.member_of(envelope.type, envelope.payload), "occurred_at": envelope.occurred_at,
             "payload": envelope.payload}]


def append(tx: Tx, envelopes: list[Envelope]) -> int:
    """Add the events at the end of the feed (in the order given); returns how many rows went in."""
    rows = [row for envelope in envelopes for row in rows_of(envelope)]
    if not rows:
        return 0
    tx.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": APPEND_LOCK})
    members = {row["member_id"] for row in rows if row["member_id"]}
    for envelope in envelopes:
        if envelope.type == "member.erased":
            erase(tx, str(envelope.payload["member_id"]), envelope.occurred_at)
    erased = set(tx.execute(sa.select(erased_members.c.member_id)
                            .where(erased_members.c.member_id.in_(members))).scalars()) if members else set()
    for row in rows:
        if row["member_id"] in erased:
            row["payload"] = domain.scrub(row["type"], row["payload"])
    inserted = tx.execute(pg_insert(feed_events).values(rows).on_conflict_do_nothing(index_elements=["event_id"]))
    return int(inserted.rowcount)


def erase(tx: Tx, member_id: str, erased_at: datetime) -> None:
    """Blank the member's personal fields in every row the feed holds, and remember the erasure so
    an event of theirs arriving later is blanked on the way in."""
    tx.execute(pg_insert(erased_members).values(member_id=member_id, erased_at=erased_at)
               .on_conflict_do_nothing())
    for event_type, fields in domain.PERSONAL_FIELDS.items():
        # a merge row sits under the survivor; the number in it is the merged member's
        owner = (feed_events.c.payload["merged_id"].astext if event_type == "member.merged"
                 else feed_events.c.member_id)
        tx.execute(feed_events.update().where(owner == member_id, feed_events.c.type == event_type)
                   .values(payload=feed_events.c.payload.op("||")(sa.literal(dict.fromkeys(fields), JSONB))))
