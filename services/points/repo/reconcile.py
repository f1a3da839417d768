"""The sales one store accrued in a span of time, for reconciliation against the ERP."""
from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from service_runtime.db import Tx
from services.points.tables import sales


def store_sales(tx: Tx, store: str, start: datetime, end: datetime) -> list[Any]:
    c = sales.c
    return list(tx.execute(sa.select(c.transaction_id, c.amount, c.refunded_amount, c.points, c.sold_at)
                           .where(c.store == store, c.sold_at >= start, c.sold_at < end)
                           .order_by(c.transaction_id)).all())
