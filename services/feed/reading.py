"""Reading the feed by cursor, and the retention purge that deletes its oldest part.

The purge deletes a prefix of positions (everything up to the last position recorded before the
retention window) and remembers the highest one it deleted, so a cursor below that is known to
have missed events and is refused (410) rather than silently skipping them."""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from contracts.errors import Gone
from service_runtime.db import Tx
from services.feed import domain
from services.feed.tables import feed_events, feed_state

PURGE_BATCH = 5_000


def head(tx: Tx) -> int:
    """The last position visible now (every position below it is settled: ingest.APPEND_LOCK)."""
    return int(tx.execute(sa.select(sa.func.coalesce(sa.func.max(feed_events.c.position), 0))).scalar_one())


def purged_through(tx: Tx) -> int:
    return int(tx.execute(sa.select(feed_state.c.purged_through).where(feed_state.c.id == 1)).scalar_one())


def check_retained(tx: Tx, after: int, field: str = "after") -> None:
    if after < purged_through(tx):
        raise Gone("events after this cursor have passed the feed's retention and were deleted; start again from "
                   "a full export, then read from the cursor of the oldest item (GET /v1/feed without `after`)",
                   field)


def start_of(tx: Tx, cursor: str | None, field: str = "after") -> int:
    """The position a cursor stands for; no cursor: just before the oldest event still kept."""
    if not cursor:
        return purged_through(tx)
    after = domain.decode_cursor(cursor, field)
    check_retained(tx, after, field)
    return after


def item(row: Any) -> dict[str, Any]:
    return {"cursor": domain.encode_cursor(row.position), "event_id": str(row.event_id), "type": row.type,
            "version": row.version, "member_id": row.member_id, "occurred_at": row.occurred_at.isoformat(),
            "recorded_at": row.recorded_at.isoformat(), "data": row.payload}


def of_member(tx: Tx, member_id: str) -> list[dict[str, Any]]:
    rows = tx.execute(sa.select(feed_events).where(feed_events.c.member_id == member_id)
                      .order_by(feed_events.c.position))
    return [item(row) for row in rows]


def page(tx: Tx, cursor: str | None, types: list[str] | None, limit: int) -> dict[str, Any]:
    """Items after the cursor, in feed order; ``next_cursor`` moves past filtered-out events too."""
    after = start_of(tx, cursor)
    top = head(tx)  # read first: rows up to it are all committed, so nothing below it comes later
    query = (sa.select(feed_events).where(feed_events.c.position > after, feed_events.c.position <= top)
             .order_by(feed_events.c.position).limit(limit + 1))
    if types is not None:
        query = query.where(feed_events.c.type.in_(types))
    rows = list(tx.execute(query))
    has_more = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1].position if has_more else max(top, after)
    return {"items": [item(row) for row in rows], "next_cursor": domain.encode_cursor(last), "has_more": has_more}


def purge(engine: sa.Engine, retention_hours: int, batch: int = PURGE_BATCH) -> int:
    """Delete the events recorded before the retention window (a prefix of positions); returns how many."""
    with engine.begin() as conn:
        cut = conn.execute(sa.select(sa.func.max(feed_events.c.position)).where(
            feed_events.c.recorded_at < sa.func.now() - sa.func.make_interval(0, 0, 0, 0, retention_hours))
        ).scalar()
    if cut is None:
        return 0
    total = 0
    while True:
        with engine.begin() as conn:
            conn.execute(feed_state.update().where(feed_state.c.id == 1)
                         .values(purged_through=sa.func.greatest(feed_state.c.purged_through, cut)))
            victims = sa.select(feed_events.c.position).where(feed_events.c.position <= cut).limit(batch)
            deleted = conn.execute(feed_events.delete().where(feed_events.c.position.in_(victims))).rowcount
        total += deleted
        if deleted < batch:
            return total
