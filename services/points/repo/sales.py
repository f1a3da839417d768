"""Recorded sales and refunds, read and updated one by one (refunds, tiers, caps)."""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert

from service_runtime.db import Tx
from services.points.tables import (
    refunds,
    sales,
)


def existing_sales(tx: Tx, keys: Iterable[tuple[str, str]], lock: bool = False) -> dict[tuple[str, str], Any]:
    keys = sorted(set(keys))
    if not keys:
        return {}
    query = sa.select(sales).where(sa.tuple_(sales.c.store, sales.c.transaction_id).in_(keys))
    if lock:
        query = query.with_for_update()
    return {(r.store, r.transaction_id): r for r in tx.execute(query).all()}


def qualifying(tx: Tx, member_ids: Iterable[str], since: datetime) -> dict[str, tuple[Decimal, int]]:
    """(spend after discounts and refunds, points kept) per member since ``since``."""
    ids = sorted(set(member_ids))
    out = {m: (Decimal(0), 0) for m in ids}
    if ids:
        for r in tx.execute(sa.select(sales.c.member_id, sa.func.sum(sales.c.net_amount - sales.c.refunded_amount),
                                      sa.func.sum(sales.c.points - sales.c.points_reversed))
                            .where(sales.c.member_id.in_(ids), sales.c.sold_at >= since)
                            .group_by(sales.c.member_id)).all():
            out[str(r[0])] = (Decimal(r[1] or 0), int(r[2] or 0))
    return out


def earned_between(tx: Tx, member_id: str, start: datetime, end: datetime) -> int:
    return int(tx.execute(sa.select(sa.func.coalesce(sa.func.sum(sales.c.points), 0)).where(
        sales.c.member_id == member_id, sales.c.sold_at >= start, sales.c.sold_at < end)).scalar_one())


def record_refund_on_sale(tx: Tx, store: str, transaction_id: str, amount: Decimal, reversed_: int,
                          returned: int) -> None:
    tx.execute(sales.update().where(sales.c.store == store, sales.c.transaction_id == transaction_id).values(
        refunded_amount=sales.c.refunded_amount + amount, points_reversed=sales.c.points_reversed + reversed_,
        redeemed_returned=sales.c.redeemed_returned + returned))


def existing_refund(tx: Tx, store: str, refund_id: str) -> Any | None:
    return tx.execute(sa.select(refunds).where(refunds.c.store == store, refunds.c.refund_id == refund_id)).first()


def insert_refund(tx: Tx, row: dict[str, Any]) -> bool:
    return tx.execute(pg_insert(refunds).values(**row).on_conflict_do_nothing()).rowcount == 1


def sale_members(tx: Tx, keys: Iterable[tuple[str, str]]) -> list[str]:
    keys = sorted(set(keys))
    if not keys:
        return []
    return [str(r[0]) for r in tx.execute(sa.select(sales.c.member_id).where(
        sa.tuple_(sales.c.store, sales.c.transaction_id).in_(keys))).all()]
