"""Webhook subscriptions: create (the secret shown once), list, get, delete, their deliveries, and
the operator's replay from a cursor."""
from __future__ import annotations

import secrets
import uuid
from typing import Any

import sqlalchemy as sa

from contracts.errors import InvalidInput, NotFound
from contracts.feed import Replay, WebhookIn
from service_runtime.db import Tx
from services.feed import domain, reading, secretbox
from services.feed.tables import feed_events, webhook_deliveries, webhooks

DELIVERY_STATUSES = ("pending", "delivered", "dead", "superseded")


def _counts(tx: Tx, webhook_id: str) -> dict[str, int]:
    rows = tx.execute(sa.select(webhook_deliveries.c.status, sa.func.count()).where(
        webhook_deliveries.c.webhook_id == webhook_id, webhook_deliveries.c.status.in_(("pending", "dead")),
    ).group_by(webhook_deliveries.c.status))
    found = {status: int(count) for status, count in rows}
    return {"pending": found.get("pending", 0), "dead": found.get("dead", 0)}


def view(tx: Tx, row: Any) -> dict[str, Any]:
    return {"id": str(row.id), "url": row.url, "types": list(row.types), "description": row.description,
            "cursor": domain.encode_cursor(row.scanned_through), "created_at": row.created_at.isoformat(),
            **_counts(tx, str(row.id))}


def parse_id(raw: str, field: str = "webhook_id") -> str:
    try:
        return str(uuid.UUID(str(raw)))
    except ValueError:
        raise InvalidInput("a UUID", field) from None


def load(tx: Tx, webhook_id: str, lock: bool = False) -> Any:
    query = sa.select(webhooks).where(webhooks.c.id == parse_id(webhook_id), webhooks.c.deleted_at.is_(None))
    row = tx.execute(query.with_for_update() if lock else query).first()
    if row is None:
        raise NotFound(f"no webhook {webhook_id}", "webhook_id")
    return row


def create(tx: Tx, cmd: WebhookIn, created_by: str | None) -> dict[str, Any]:
    types = domain.check_types(cmd.types)
    start = reading.head(tx) if cmd.after is None else reading.start_of(tx, cmd.after)
    secret = "whsec_" + secrets.token_urlsafe(32)
    webhook_id = str(uuid.uuid4())
    tx.execute(webhooks.insert().values(id=webhook_id, url=str(cmd.url), types=types,
                                        secret=secretbox.box().seal(secret, webhook_id),
                                        description=cmd.description, scanned_through=start, created_by=created_by))
    return {**view(tx, load(tx, webhook_id)), "secret": secret}


def listed(tx: Tx) -> list[dict[str, Any]]:
    rows = tx.execute(sa.select(webhooks).where(webhooks.c.deleted_at.is_(None)).order_by(webhooks.c.created_at))
    return [view(tx, row) for row in rows]


def delete(tx: Tx, webhook_id: str) -> None:
    load(tx, webhook_id, lock=True)
    tx.execute(webhooks.update().where(webhooks.c.id == webhook_id).values(deleted_at=sa.func.now()))
    tx.execute(webhook_deliveries.update().where(webhook_deliveries.c.webhook_id == webhook_id,
                                                 webhook_deliveries.c.status == "pending")
               .values(status="superseded", finished_at=sa.func.now(), last_error="webhook deleted"))


def deliveries(tx: Tx, webhook_id: str, status: str | None, after: int | None, limit: int) -> list[dict[str, Any]]:
    """Newest first; ``after``: the id of the last delivery of the previous page."""
    load(tx, webhook_id)
    if status is not None and status not in DELIVERY_STATUSES:
        raise InvalidInput(f"one of {list(DELIVERY_STATUSES)}", "status")
    d = webhook_deliveries
    query = (sa.select(d, feed_events.c.event_id, feed_events.c.type, feed_events.c.member_id)
             .select_from(d.outerjoin(feed_events, feed_events.c.position == d.c.position))
             .where(d.c.webhook_id == webhook_id).order_by(d.c.id.desc()).limit(limit))
    if status is not None:
        query = query.where(d.c.status == status)
    if after is not None:
        query = query.where(d.c.id < after)
    return [{"id": r.id, "webhook_id": str(r.webhook_id), "cursor": domain.encode_cursor(r.position),
             "event_id": None if r.event_id is None else str(r.event_id), "type": r.type, "member_id": r.member_id,
             "status": r.status, "attempts": r.attempts, "last_error": r.last_error,
             "created_at": r.created_at.isoformat(),
             "finished_at": None if r.finished_at is None else r.finished_at.isoformat()} for r in tx.execute(query)]


def replay(tx: Tx, webhook_id: str, cmd: Replay) -> dict[str, Any]:
    """Deliver again every event after the cursor, in feed order: a new round of deliveries; what the
    last round still had pending is superseded, so no member's events go out twice at once."""
    row = load(tx, webhook_id, lock=True)
    start = reading.start_of(tx, cmd.after)
    tx.execute(webhook_deliveries.update().where(webhook_deliveries.c.webhook_id == row.id,
                                                 webhook_deliveries.c.status == "pending")
               .values(status="superseded", finished_at=sa.func.now(), last_error="superseded by a replay"))
    tx.execute(webhooks.update().where(webhooks.c.id == row.id)
               .values(round=webhooks.c.round + 1, scanned_through=start))
    return view(tx, load(tx, webhook_id))
