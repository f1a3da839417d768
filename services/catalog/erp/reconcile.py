"""Reconciliation of one store's day: the ERP's sales (erp_sales, from the adapters) against the sales
the points ledger accrued (asked of points), by transaction id. Pure: the comparison and its text."""
from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal
from typing import Any

from contracts.erp_sync import ReconciledSale, ReconciliationOut


def _money(cents: int) -> str:
    return str((Decimal(cents) / 100).quantize(Decimal("0.01")))


def _cents(amount: str) -> int:
    return int((Decimal(amount) * 100).to_integral_value())


def compare(store: str, day: date, erp: list[dict[str, Any]], ledger: list[dict[str, Any]]) -> ReconciliationOut:
    """``erp``: erp_sales rows; ``ledger``: points' store_day_sales answer. Amounts compared in cents."""
    by_id = {s["transaction_id"]: s for s in erp}
    accrued = {s["transaction_id"]: s for s in ledger}
    missing, extra, mismatched = [], [], []
    matched = 0
    for tid in sorted(by_id.keys() | accrued.keys()):
        mine, theirs = by_id.get(tid), accrued.get(tid)
        line = ReconciledSale(transaction_id=tid, erp_amount=_money(mine["amount_cents"]) if mine else None,
                              ledger_amount=_money(_cents(theirs["amount"])) if theirs else None,
                              points=int(theirs["points"]) if theirs else None,
                              member_ref=mine.get("member_ref") if mine else None)
        if theirs is None:
            missing.append(line)
        elif mine is None:
            extra.append(line)
        elif mine["amount_cents"] != _cents(theirs["amount"]):
            mismatched.append(line)
        else:
            matched += 1
    return ReconciliationOut(
        store=store, day=day, erp_count=len(erp), erp_amount=_money(sum(s["amount_cents"] for s in erp)),
        ledger_count=len(ledger), ledger_amount=_money(sum(_cents(s["amount"]) for s in ledger)),
        ledger_points=sum(int(s["points"]) for s in ledger), matched=matched, missing=missing, extra=extra,
        mismatched=mismatched)


def as_csv(report: dict[str, Any]) -> str:
    """The report an accountant opens in a spreadsheet: totals first, then one row per difference."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["store", report["store"], "day", report["day"]])
    writer.writerow(["", "count", "amount", "points"])
    writer.writerow(["ERP", report["erp_count"], report["erp_amount"], ""])
    writer.writerow(["points ledger", report["ledger_count"], report["ledger_amount"], report["ledger_points"]])
    writer.writerow(["matched", report["matched"], "", ""])
    writer.writerow([])
    writer.writerow(["difference", "transaction_id", "erp_amount", "ledger_amount", "points", "erp_customer"])
    for kind in ("missing", "extra", "mismatched"):
        for line in report[kind]:
            writer.writerow([kind, line["transaction_id"], line["erp_amount"] or "", line["ledger_amount"] or "",
                             "" if line["points"] is None else line["points"], line["member_ref"] or ""])
    return out.getvalue()
