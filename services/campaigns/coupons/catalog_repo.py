"""The only code that touches the catalog tables (items and exchanges; SQLAlchemy Core, plain SQL)."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from service_runtime.db import Tx


# ---- the rewards catalog ----------------------------------------------------------------------------------------
def add_item(tx: Tx, item: dict[str, Any]) -> Any:
    return tx.execute(sa.text("""
        INSERT INTO catalog_items (id, name, kind, template_id, gift_sku, points, stock, active)
        VALUES (:id, :name, :kind, :template_id, :gift_sku, :points, :stock, :active) RETURNING *"""),
        {"id": str(uuid.uuid4()), **item}).one()


def get_item(tx: Tx, item_id: str) -> Any:
    return tx.execute(sa.text("SELECT * FROM catalog_items WHERE id = :id"), {"id": item_id}).one_or_none()


def items(tx: Tx, active_only: bool, limit: int = 500, after: tuple[int, str, str] | None = None) -> list[Any]:
    """Cheapest first (points, name, id), after a (points, name, id) position."""
    where = ["active"] if active_only else []
    if after is not None:
        where.append("(points, name, id) > (:p, :name, CAST(:id AS uuid))")
    return list(tx.execute(sa.text("SELECT * FROM catalog_items" + (" WHERE " + " AND ".join(where) if where else "")
                                   + " ORDER BY points, name, id LIMIT :n"),
                           {"n": limit, "p": after[0] if after else None, "name": after[1] if after else None,
                            "id": after[2] if after else None}))


def restock(tx: Tx, item_id: str, add: int) -> Any:
    return tx.execute(sa.text("""UPDATE catalog_items SET stock = coalesce(stock, 0) + :a WHERE id = :id
                                 RETURNING *"""), {"a": add, "id": item_id}).one_or_none()


def take_stock(tx: Tx, item_id: str) -> bool:
    """One unit out of stock, never below zero (a conditional update under the row lock)."""
    return tx.execute(sa.text("""
        UPDATE catalog_items SET stock = stock - 1, exchanged = exchanged + 1
        WHERE id = :id AND (stock IS NULL OR stock > 0) RETURNING id"""), {"id": item_id}).one_or_none() is not None


def take_back_reward(tx: Tx, item_id: str, coupon_id: str | None) -> bool:
    """Undo an exchange's reward whose points could not be collected: the coupon void (only if
    still unused) and the stock unit back. False when the coupon was used already."""
    if coupon_id is not None and tx.execute(sa.text(
            "UPDATE coupons SET state = 'void' WHERE id = :id AND state = 'issued' RETURNING id"),
            {"id": coupon_id}).one_or_none() is None:
        return False
    tx.execute(sa.text("""UPDATE catalog_items SET stock = stock + 1, exchanged = exchanged - 1
                          WHERE id = :id"""), {"id": item_id})  # stock NULL (unlimited) stays NULL
    return True


def count_exchange(tx: Tx, item_id: str) -> None:
    tx.execute(sa.text("UPDATE catalog_items SET exchanged = exchanged + 1 WHERE id = :id"), {"id": item_id})


def get_exchange(tx: Tx, member_id: str, key: str, lock: bool = False) -> Any:
    return tx.execute(sa.text("SELECT * FROM catalog_exchanges WHERE member_id = :m AND exchange_key = :k"
                              + (" FOR UPDATE" if lock else "")), {"m": member_id, "k": key}).one_or_none()


def exchange_by_id(tx: Tx, exchange_id: str, lock: bool = False) -> Any:
    return tx.execute(sa.text("SELECT * FROM catalog_exchanges WHERE id = :id" + (" FOR UPDATE" if lock else "")),
                      {"id": exchange_id}).one_or_none()


def add_exchange(tx: Tx, row: dict[str, Any]) -> bool:
    return tx.execute(sa.text("""
        INSERT INTO catalog_exchanges (id, member_id, exchange_key, item_id, store, points, request_hash)
        VALUES (:id, :member_id, :exchange_key, :item_id, :store, :points, :request_hash)
        ON CONFLICT (member_id, exchange_key) DO NOTHING RETURNING id"""), row).one_or_none() is not None


def set_exchange(tx: Tx, exchange_id: str, **values: Any) -> None:
    sets = ", ".join(f"{k} = :{k}" for k in values)
    tx.execute(sa.text(f"UPDATE catalog_exchanges SET {sets}, updated_at = now() WHERE id = :id"),
               {**values, "id": exchange_id})


def stale_exchanges(tx: Tx, older_than: datetime, limit: int) -> list[Any]:
    return list(tx.execute(sa.text("""
        SELECT id FROM catalog_exchanges WHERE state IN ('pending', 'rewarded') AND updated_at < :t
        ORDER BY updated_at LIMIT :n"""), {"t": older_than, "n": limit}))


def member_exchanges(tx: Tx, member_id: str) -> list[Any]:
    return list(tx.execute(sa.text("SELECT * FROM catalog_exchanges WHERE member_id = :m ORDER BY created_at, id"),
                           {"m": member_id}).all())
