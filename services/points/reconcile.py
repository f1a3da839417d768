"""Points' side of the ERP reconciliation (the catalog compares): the sales a store accrued on one of
its local days, each with its amount and points. Staff who read reports, ERP keys and other services."""
from __future__ import annotations

from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from nameko.rpc import rpc

from contracts.access import RECONCILERS, require
from contracts.errors import Forbidden, InvalidInput
from service_runtime.base import ServiceBase
from services.points import domain, inputs
from services.points.repo import reconcile


class ReconcileEntrypoints(ServiceBase):
    @rpc(expected_exceptions=(InvalidInput, Forbidden))
    def store_day_sales(self, store: str, day: str) -> list[dict[str, Any]]:
        require(self.caller, RECONCILERS, store=store)
        try:
            local = date.fromisoformat(str(day))
        except ValueError:
            raise InvalidInput("a date as YYYY-MM-DD", "day") from None
        zone = inputs.zone(store)
        start, end = domain.local_day_bounds(datetime.combine(local, time(12), tzinfo=ZoneInfo(zone)), zone)
        with self.db.transaction() as tx:
            rows = reconcile.store_sales(tx, store, start, end)
        return [{"transaction_id": r.transaction_id, "amount": str(r.amount), "refunded": str(r.refunded_amount),
                 "points": int(r.points), "sold_at": r.sold_at.isoformat()} for r in rows]
