"""The refunds of one transaction, read in one statement per table and written in one per
table (an offline upload carries tens of them; each alone took about fourteen statements)."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert

from service_runtime.db import Tx
from services.points import domain
from services.points.tables import hold_lots, holds, lots, refunds


def existing_refunds(tx: Tx, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Any]:
    """Recorded refunds by (store, refund_id)."""
    keys = sorted(set(keys))
    if not keys:
        return {}
    rows = tx.execute(sa.select(refunds).where(sa.tuple_(refunds.c.store, refunds.c.refund_id).in_(keys))).all()
    return {(r.store, r.refund_id): r for r in rows}


def redeemed_for_sales(tx: Tx, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], dict[str | None, int]]:
    """Points paid on each sale (committed holds), by the store that issued them."""
    keys = sorted(set(keys))
    out: dict[tuple[str, str], dict[str | None, int]] = {k: {} for k in keys}
    if keys:
        for r in tx.execute(sa.select(holds.c.store, holds.c.transaction_id, hold_lots.c.lot_store,
                                      sa.func.sum(hold_lots.c.points))
                            .select_from(holds.join(hold_lots, hold_lots.c.hold_id == holds.c.id))
                            .where(sa.tuple_(holds.c.store, holds.c.transaction_id).in_(keys),
                                   holds.c.status == "committed")
                            .group_by(holds.c.store, holds.c.transaction_id, hold_lots.c.lot_store)).all():
            out[(r[0], r[1])][r[2]] = int(r[3])
    return out


def open_lots_of(tx: Tx, member_ids: Iterable[str]) -> dict[str, list[domain.Lot]]:
    """Each member's lots with points left, in id order (call with the accounts locked)."""
    ids = sorted(set(member_ids))
    out: dict[str, list[domain.Lot]] = {m: [] for m in ids}
    if ids:
        for r in tx.execute(sa.select(lots.c.member_id, lots.c.id, lots.c.remaining, lots.c.available_at,
                                      lots.c.expires_at, lots.c.store, lots.c.reference)
                            .where(lots.c.member_id.in_(ids), lots.c.remaining > 0).order_by(lots.c.id)).all():
            out[str(r.member_id)].append(domain.Lot(r.id, r.remaining, r.available_at, r.expires_at, r.store,
                                                    r.reference))
    return out


_ON_SALES = sa.text("""
        UPDATE sales SET refunded_amount = sales.refunded_amount + x.amount,
                         points_reversed = sales.points_reversed + x.reversed,
                         redeemed_returned = sales.redeemed_returned + x.returned
        FROM unnest(CAST(:stores AS text[]), CAST(:txns AS text[]), CAST(:amounts AS numeric[]),
                    CAST(:reversed AS bigint[]), CAST(:returned AS bigint[]))
             AS x(store, txn, amount, reversed, returned)
        WHERE sales.store = x.store AND sales.transaction_id = x.txn""")


def record_refunds_on_sales(tx: Tx, changes: Sequence[tuple[str, str, Decimal, int, int]]) -> None:
    """(store, transaction_id, amount refunded, points reversed, redeemed points returned) added
    to each sale, several refunds of one sale summed first."""
    totals: dict[tuple[str, str], list[Any]] = defaultdict(lambda: [Decimal(0), 0, 0])
    for store, txn, amount, reversed_, returned in changes:
        total = totals[(store, txn)]
        total[0] += amount
        total[1] += reversed_
        total[2] += returned
    if not totals:
        return
    keys = sorted(totals)
    tx.execute(_ON_SALES, {
        "stores": [k[0] for k in keys], "txns": [k[1] for k in keys], "amounts": [totals[k][0] for k in keys],
        "reversed": [totals[k][1] for k in keys], "returned": [totals[k][2] for k in keys]})


def insert_refunds(tx: Tx, rows: list[dict[str, Any]]) -> None:
    if rows:
        tx.execute(pg_insert(refunds).values(rows).on_conflict_do_nothing())
