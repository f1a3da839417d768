"""Redemption holds and the lot points they took."""
from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert

from service_runtime.db import Tx
from services.points import domain
from services.points.repo.lots import take_from_lots
from services.points.tables import (
    hold_lots,
    holds,
    lots,
)


def get_hold(tx: Tx, hold_id: str | None = None, key: tuple[str, str] | None = None, lock: bool = False) -> Any:
    query = sa.select(holds)
    if hold_id:
        query = query.where(holds.c.id == hold_id)
    elif key is not None:
        query = query.where(holds.c.store == key[0], holds.c.transaction_id == key[1])
    return tx.execute(query.with_for_update() if lock else query).first()


def insert_hold(tx: Tx, row: dict[str, Any], taken: list[tuple[domain.Lot, int]]) -> bool:
    if tx.execute(pg_insert(holds).values(**row).on_conflict_do_nothing()).rowcount != 1:
        return False
    tx.execute(hold_lots.insert(), [{"hold_id": row["id"], "lot_id": lot.lot_id, "points": take,
                                     "lot_store": lot.store} for lot, take in taken])
    take_from_lots(tx, taken)
    return True


def finish_hold(tx: Tx, hold_id: str, status: str, now: datetime) -> None:
    tx.execute(holds.update().where(holds.c.id == hold_id).values(status=status, finished_at=now))


def hold_parts(tx: Tx, hold_id: str) -> list[Any]:
    return list(tx.execute(sa.select(hold_lots).where(hold_lots.c.hold_id == hold_id)
                           .order_by(hold_lots.c.lot_id.desc())).all())


def give_back_to_lots(tx: Tx, parts: list[tuple[int, int]]) -> None:
    if parts:
        tx.execute(lots.update().where(lots.c.id == sa.bindparam("l_id"))
                   .values(remaining=lots.c.remaining + sa.bindparam("l_add")),
                   [{"l_id": lot_id, "l_add": points} for lot_id, points in parts])


def redeemed_for_sale(tx: Tx, store: str, transaction_id: str) -> dict[str | None, int]:
    """Points paid on a sale (committed holds), by the store that issued them."""
    rows = tx.execute(sa.select(hold_lots.c.lot_store, sa.func.sum(hold_lots.c.points))
                      .select_from(holds.join(hold_lots, hold_lots.c.hold_id == holds.c.id))
                      .where(holds.c.store == store, holds.c.transaction_id == transaction_id,
                             holds.c.status == "committed").group_by(hold_lots.c.lot_store)).all()
    return {r[0]: int(r[1]) for r in rows}


def expired_holds(tx: Tx, now: datetime, limit: int) -> list[Any]:
    return list(tx.execute(sa.select(holds.c.id, holds.c.member_id).where(
        holds.c.status == "held", holds.c.expires_at <= now).order_by(holds.c.expires_at).limit(limit)).all())


def open_holds(tx: Tx, member_id: str) -> list[Any]:
    return list(tx.execute(sa.select(holds).where(holds.c.member_id == member_id, holds.c.status == "held")).all())
