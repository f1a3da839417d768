"""Report queries: liability, settlement between stores, a store's day."""
from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from service_runtime.db import Tx


def liability(tx: Tx, day_from: Any, day_to: Any, zone: str, store: str | None) -> list[Any]:
    """Outstanding points per issuing store at the end of each day (days in ``zone``)."""
    return list(tx.execute(sa.text("""
        WITH days AS (SELECT generate_series(CAST(:day_from AS date), CAST(:day_to AS date), interval '1 day')::date
                      AS day),
             stores AS (SELECT DISTINCT store FROM ledger WHERE (CAST(:store AS text) IS NULL OR store = :store))
        SELECT s.store, d.day,
               (SELECT coalesce(sum(delta), 0) FROM ledger l
                WHERE l.store IS NOT DISTINCT FROM s.store
                  AND l.created_at < ((d.day + 1)::timestamp AT TIME ZONE :zone)) AS points
        FROM stores s CROSS JOIN days d ORDER BY s.store NULLS FIRST, d.day"""),
        {"day_from": day_from, "day_to": day_to, "zone": zone, "store": store}).all())


def settlement(tx: Tx, start: datetime, end: datetime) -> list[Any]:
    """Points earned in one store and spent in another (committed holds), less points given back
    when the sale they paid for was refunded, in [start, end)."""
    return list(tx.execute(sa.text("""
        SELECT earned_store, spent_store, sum(points) AS points FROM (
          SELECT hl.lot_store AS earned_store, h.store AS spent_store, hl.points
          FROM holds h JOIN hold_lots hl ON hl.hold_id = h.id
          WHERE h.status = 'committed' AND h.finished_at >= :start AND h.finished_at < :end
          UNION ALL
          SELECT store, at_store, -delta FROM ledger
          WHERE kind = 'redemption_refund' AND created_at >= :start AND created_at < :end) m
        GROUP BY earned_store, spent_store HAVING sum(points) <> 0
        ORDER BY 1 NULLS FIRST, 2"""), {"start": start, "end": end}).all())


def daily(tx: Tx, store: str, start: datetime, end: datetime) -> dict[str, Any]:
    """A store's day in [start, end): member sales and refunds by their time, points by when the
    ledger booked them (issued by the store; redeemed and reversed at it; expired of its lots)."""
    sold = tx.execute(sa.text("""
        SELECT count(*) AS count, coalesce(sum(amount), 0) AS gross, coalesce(sum(net_amount), 0) AS net,
               count(DISTINCT member_id) AS members
        FROM sales WHERE store = :store AND sold_at >= :start AND sold_at < :end"""),
        {"store": store, "start": start, "end": end}).one()
    refunded = tx.execute(sa.text("""
        SELECT count(*) AS count, coalesce(sum(amount), 0) AS amount
        FROM refunds WHERE store = :store AND refunded_at >= :start AND refunded_at < :end"""),
        {"store": store, "start": start, "end": end}).one()
    points = tx.execute(sa.text("""
        SELECT coalesce(sum(delta) FILTER (WHERE delta > 0 AND store = :store
                          AND kind IN ('accrual', 'activity', 'adjustment')), 0) AS issued,
               coalesce(-sum(delta) FILTER (WHERE kind = 'redemption' AND at_store = :store), 0) AS redeemed,
               coalesce(-sum(delta) FILTER (WHERE kind = 'expiry' AND store = :store), 0) AS expired,
               coalesce(-sum(delta) FILTER (WHERE kind = 'reversal' AND at_store = :store), 0) AS reversed
        FROM ledger WHERE created_at >= :start AND created_at < :end
          AND (store = :store OR at_store = :store)"""), {"store": store, "start": start, "end": end}).one()
    return {"sales": sold._asdict(), "refunds": refunded._asdict(), "points": points._asdict()}
