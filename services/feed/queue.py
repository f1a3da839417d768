"""The webhook delivery queue in SQL: new feed events become pending deliveries of each subscription,
a member's oldest pending delivery is the only one of theirs that may go out (order per member),
claimed with a lease so two replicas never send the same one, and each try recorded."""
from __future__ import annotations

from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert

from service_runtime.db import Tx
from services.feed import domain, reading, secretbox
from services.feed.tables import feed_events, webhook_deliveries, webhooks

d = webhook_deliveries


class Hook(NamedTuple):
    id: Any
    url: str
    secret: str  # opened: it is kept sealed at rest (secretbox)
    round: int


def active(conn: sa.Connection) -> list[Hook]:
    rows = conn.execute(sa.select(webhooks.c.id, webhooks.c.url, webhooks.c.secret, webhooks.c.round)
                        .where(webhooks.c.deleted_at.is_(None)).order_by(webhooks.c.created_at))
    return [Hook(r.id, r.url, secretbox.box().open(r.secret, str(r.id)), r.round) for r in rows]


def fill(engine: sa.Engine, webhook_id: str, window: int) -> int:
    """Queue the subscription's next feed events (keeping at most ``window`` pending); how many."""
    with engine.begin() as conn:
        hook = conn.execute(sa.select(webhooks).where(webhooks.c.id == webhook_id, webhooks.c.deleted_at.is_(None))
                            .with_for_update(skip_locked=True)).first()
        if hook is None:
            return 0  # gone, or another replica is filling it
        waiting = conn.execute(sa.select(sa.func.count()).select_from(
            sa.select(d.c.id).where(d.c.webhook_id == hook.id, d.c.status == "pending").limit(window).subquery()
        )).scalar_one()
        room = window - int(waiting)
        top = reading.head(Tx(conn, "feed"))
        if room <= 0 or top <= hook.scanned_through:
            return 0
        rows = list(conn.execute(
            sa.select(feed_events.c.position, feed_events.c.member_id)
            .where(feed_events.c.position > hook.scanned_through, feed_events.c.position <= top,
                   feed_events.c.type.in_(list(hook.types)))
            .order_by(feed_events.c.position).limit(room)))
        if rows:
            conn.execute(pg_insert(d).values([
                {"webhook_id": hook.id, "round": hook.round, "position": r.position,
                 "order_key": domain.order_key(r.member_id, r.position)} for r in rows]).on_conflict_do_nothing())
        scanned = rows[-1].position if len(rows) == room else top
        conn.execute(webhooks.update().where(webhooks.c.id == hook.id).values(scanned_through=scanned))
        return len(rows)


_HEADS = sa.text(
    "SELECT id, position, attempts FROM ("
    " SELECT DISTINCT ON (order_key) id, position, attempts, leased_until, order_key FROM webhook_deliveries"
    " WHERE webhook_id = :webhook AND round = :round AND status = 'pending' ORDER BY order_key, position) h "
    "WHERE (leased_until IS NULL OR leased_until < now()) AND NOT (id = ANY(:busy)) AND order_key NOT IN ("
    # a delivery superseded by a replay while being tried: that member waits for the try to end
    " SELECT order_key FROM webhook_deliveries WHERE webhook_id = :webhook AND status = 'superseded'"
    " AND leased_until > now()) ORDER BY position LIMIT :n")

_CLAIM = sa.text(
    "WITH claimed AS (UPDATE webhook_deliveries SET leased_until = now() + make_interval(secs => :lease) "
    "WHERE id = ANY(:ids) AND status = 'pending' AND (leased_until IS NULL OR leased_until < now()) "
    "RETURNING id, position, attempts) "
    "SELECT c.id, c.position, c.attempts, f.event_id, f.type, f.version, f.member_id, f.occurred_at, f.recorded_at, "
    "f.payload FROM claimed c LEFT JOIN feed_events f ON f.position = c.position ORDER BY c.position")


def claim_heads(engine: sa.Engine, hook: Any, busy: set[int], n: int, lease_seconds: float) -> list[Any]:
    """Up to ``n`` deliveries that are each the oldest pending one of their member, leased to us, with
    their feed rows (``event_id`` None: the event was purged before it could be delivered)."""
    with engine.begin() as conn:
        ids = [r.id for r in conn.execute(_HEADS, {"webhook": hook.id, "round": hook.round,
                                                   "busy": list(busy), "n": n})]
        if not ids:
            return []
        return list(conn.execute(_CLAIM, {"ids": ids, "lease": lease_seconds}))


def failed_try(engine: sa.Engine, delivery_id: int, error: str, lease_seconds: float) -> bool:
    """One failed try recorded, the lease stretched over the wait before the next; False when the
    delivery is no longer pending (a replay or a deletion superseded it: stop trying)."""
    with engine.begin() as conn:
        return bool(conn.execute(d.update().where(d.c.id == delivery_id, d.c.status == "pending").values(
            attempts=d.c.attempts + 1, last_error=error[:500],
            leased_until=sa.func.now() + sa.func.make_interval(0, 0, 0, 0, 0, 0, lease_seconds))).rowcount)


def finish(engine: sa.Engine, delivery_id: int, status: str, error: str | None, tried: bool = True) -> None:
    """Delivered or dead (a delivery superseded by a replay meanwhile stays superseded)."""
    with engine.begin() as conn:
        done = conn.execute(d.update().where(d.c.id == delivery_id, d.c.status == "pending").values(
            status=status, attempts=d.c.attempts + (1 if tried else 0), finished_at=sa.func.now(),
            last_error=None if error is None else error[:500], leased_until=None)).rowcount
        if not done:
            conn.execute(d.update().where(d.c.id == delivery_id).values(leased_until=None))


def forget_finished(engine: sa.Engine, retention_hours: int) -> int:
    """Delete deliveries finished before the retention window (dead ones too: the feed is gone by then)."""
    with engine.begin() as conn:
        return int(conn.execute(d.delete().where(
            d.c.status != "pending",
            d.c.finished_at < sa.func.now() - sa.func.make_interval(0, 0, 0, 0, retention_hours))).rowcount)
