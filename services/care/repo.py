"""The only code that touches the care service's tables."""
from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from service_runtime.db import Tx
from services.care.tables import goodwill, ticket_history, tickets


def insert_ticket(tx: Tx, values: dict[str, Any]) -> dict[str, Any] | None:
    """The new row; None when its request_id opened a ticket already."""
    stmt = insert(tickets).values(**values).on_conflict_do_nothing(index_elements=["request_id"]).returning(tickets)
    row = tx.execute(stmt).mappings().first()
    return dict(row) if row is not None else None


def by_request(tx: Tx, request_id: str) -> dict[str, Any] | None:
    row = tx.execute(sa.select(tickets).where(tickets.c.request_id == request_id)).mappings().first()
    return dict(row) if row is not None else None


def get(tx: Tx, ticket_id: str, lock: bool = False) -> dict[str, Any] | None:
    query = sa.select(tickets).where(tickets.c.id == ticket_id)
    row = tx.execute(query.with_for_update() if lock else query).mappings().first()
    return dict(row) if row is not None else None


def update(tx: Tx, ticket_id: str, now: datetime, **values: Any) -> dict[str, Any]:
    stmt = (sa.update(tickets).where(tickets.c.id == ticket_id)
            .values(**values, version=tickets.c.version + 1, updated_at=now).returning(tickets))
    return dict(tx.execute(stmt).mappings().one())


def add_history(tx: Tx, ticket_id: str, at: datetime, actor: tuple[str, str | None], action: str, *,
                from_status: str | None = None, to_status: str | None = None, note: str | None = None,
                detail: dict[str, Any] | None = None) -> None:
    tx.execute(sa.insert(ticket_history).values(
        ticket_id=ticket_id, at=at, actor_kind=actor[0], actor_id=actor[1], action=action,
        from_status=from_status, to_status=to_status, note=note, detail=detail or {}))


def history(tx: Tx, ticket_id: str) -> list[dict[str, Any]]:
    rows = tx.execute(sa.select(ticket_history).where(ticket_history.c.ticket_id == ticket_id)
                      .order_by(ticket_history.c.id)).mappings()
    return [dict(row) for row in rows]


def page(tx: Tx, filters: dict[str, Any], now: datetime, after: tuple[datetime, str] | None,
         limit: int) -> list[dict[str, Any]]:
    """Newest first; ``stores`` limits to tickets at or handled by those stores."""
    query = sa.select(tickets)
    for column in ("member_id", "status", "assignee"):
        if filters.get(column) is not None:
            query = query.where(tickets.c[column] == filters[column])
    if filters.get("store") is not None:
        query = query.where(sa.or_(tickets.c.store == filters["store"], tickets.c.assigned_store == filters["store"]))
    if filters.get("stores") is not None:
        allowed = list(filters["stores"])
        query = query.where(sa.or_(tickets.c.store.in_(allowed), tickets.c.assigned_store.in_(allowed)))
    open_ = tickets.c.status.notin_(("resolved", "closed"))
    if filters.get("overdue") is True:
        query = query.where(open_, tickets.c.due_at < now)
    elif filters.get("overdue") is False:
        query = query.where(sa.not_(sa.and_(open_, tickets.c.due_at < now)))
    if after is not None:
        query = query.where(sa.tuple_(tickets.c.created_at, tickets.c.id) < sa.tuple_(sa.literal(after[0]),
                                                                                      sa.literal(after[1])))
    query = query.order_by(tickets.c.created_at.desc(), tickets.c.id.desc()).limit(limit)
    return [dict(row) for row in tx.execute(query).mappings()]


def add_goodwill(tx: Tx, ticket_id: str, entry_id: int, points: int, staff: str | None, at: datetime) -> bool:
    """False when this ledger entry was noted already (a retry)."""
    stmt = insert(goodwill).values(entry_id=entry_id, ticket_id=ticket_id, points=points, staff=staff, at=at) \
        .on_conflict_do_nothing()
    return bool(tx.execute(stmt).rowcount)


def member_tickets(tx: Tx, member_id: str) -> list[dict[str, Any]]:
    rows = tx.execute(sa.select(tickets).where(tickets.c.member_id == member_id).order_by(tickets.c.created_at))
    return [dict(row) for row in rows.mappings()]


def scrub_member(tx: Tx, member_id: str, now: datetime) -> list[dict[str, Any]]:
    """Erase the free text of a member's tickets (theirs and staff's notes about them): what stays is
    the category, severity, states and dates, which hold nothing personal."""
    ids = sa.select(tickets.c.id).where(tickets.c.member_id == member_id).scalar_subquery()
    tx.execute(sa.update(ticket_history).where(ticket_history.c.ticket_id.in_(ids))
               .values(note=None, detail=sa.text("detail - 'attachments'")))
    rows = tx.execute(sa.update(tickets).where(tickets.c.member_id == member_id, tickets.c.text.is_not(None))
                      .values(text=None, attachments=[], rating_comment=None, sale_reference=None,
                              coupon_code=None, version=tickets.c.version + 1, updated_at=now)
                      .returning(tickets)).mappings()
    return [dict(row) for row in rows]


def overdue_count(tx: Tx, now: datetime) -> int:
    return int(tx.execute(sa.select(sa.func.count()).select_from(tickets).where(
        tickets.c.status.notin_(("resolved", "closed")), tickets.c.due_at < now)).scalar_one())
