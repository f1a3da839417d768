"""Helpers for segment and campaign tests: read-model rows written as the event handlers write
them (test_segments_read_model proves the handlers), each test in its own store so tests sharing
the database do not see each other's members."""
from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from service_runtime.config import database_url
from tests.callers import entrypoint_hook


def call(container: Any, method: str, *args: Any, **kwargs: Any) -> Any:
    with entrypoint_hook(container, method) as hook:
        return hook(*args, **kwargs)


def new_store() -> str:
    return "T" + uuid.uuid4().hex[:8].upper()


def execute(sql: str, params: Any = None) -> None:
    engine = sa.create_engine(database_url("campaigns"), poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(sql), params or {})
    finally:
        engine.dispose()


def add_member(store: str, *, tier: str = "normal", tags: tuple[str, ...] = (), gender: str | None = None,
               birthday: date | None = None, channel: str = "pos", registered_at: datetime | None = None,
               balance: int = 0, purchases: list[tuple[date, Decimal]] = (), status: str = "active",
               member_id: str | None = None) -> str:
    """A member in the read model with one purchase per (day, amount)."""
    member_id = member_id or str(uuid.uuid4())
    last = max((d for d, _ in purchases), default=None)
    execute("""INSERT INTO rm_members (member_id, status, tier, store, channel, gender, birthday, tags, registered_at,
                                       balance, last_purchase_at)
               VALUES (:m, :status, :tier, :store, :channel, :gender, :birthday, :tags, :reg, :balance, :last)""",
            {"m": member_id, "status": status, "tier": tier, "store": store, "channel": channel, "gender": gender,
             "birthday": birthday, "tags": list(tags), "reg": registered_at or datetime(2024, 1, 1, tzinfo=UTC),
             "balance": balance,
             "last": None if last is None else datetime.combine(last, datetime.min.time(), UTC) + timedelta(hours=12)})
    if purchases:
        execute("""INSERT INTO rm_purchases (member_id, day, store, purchases, spend) VALUES (:m, :d, :s, 1, :a)
                   ON CONFLICT (member_id, day, store) DO UPDATE
                   SET purchases = rm_purchases.purchases + 1, spend = rm_purchases.spend + excluded.spend""",
                [{"m": member_id, "d": d, "s": store, "a": a} for d, a in purchases])
    return member_id


def sell(container: Any, *sales: tuple[str, str, datetime, str], store: str = "S1") -> None:
    """Sales (member, transaction id, time of sale, amount) as points publishes them, in one batch
    through campaigns' points.accrued handler."""
    from contracts.events import PointsAccrued

    batch = [PointsAccrued(member_id=m, store=store, source="sale", reference=ref, points=1, balance=1,
                           amount=Decimal(amount), occurred_at=at).envelope(occurred_at=at).model_dump(mode="json")
             for m, ref, at, amount in sales]
    with entrypoint_hook(container, "on_points_accrued") as handle:
        handle(batch)
