"""Use cases of the reconciliation: one store's day now (the route), and every store the ERP sold in on
one day (the job, which keeps each result in erp_reconciliations)."""
from __future__ import annotations

from datetime import date
from typing import Any, Protocol

from contracts.errors import InvalidInput
from service_runtime.db import WorkerDb
from services.catalog.erp import reconcile, repo


class Points(Protocol):
    def store_day_sales(self, store: str, day: str) -> list[dict[str, Any]]: ...


def parse_day(raw: str) -> date:
    try:
        return date.fromisoformat(str(raw))
    except ValueError:
        raise InvalidInput("a date as YYYY-MM-DD", "day") from None


def store_day(db: WorkerDb, points: Points, store: str, day: date) -> dict[str, Any]:
    with db.transaction() as tx:
        erp = repo.sales_of(tx, store, day)
    ledger = points.store_day_sales(store=store, day=day.isoformat())  # outside our transaction: an RPC
    return reconcile.compare(store, day, erp, ledger).model_dump(mode="json")


def run_day(db: WorkerDb, points: Points, day: date) -> list[dict[str, Any]]:
    """Reconcile every store with ERP sales on ``day``; each result replaces the day's earlier one."""
    with db.transaction() as tx:
        stores = repo.stores_with_sales(tx, day)
    done = []
    for store in stores:
        report = store_day(db, points, store, day)
        with db.transaction() as tx:
            repo.save_reconciliation(tx, report)
        done.append({k: report[k] if k in ("store", "day", "matched") else len(report[k])
                     for k in ("store", "day", "matched", "missing", "extra", "mismatched")})
    return done
