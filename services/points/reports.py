"""The store manager's daily report, shaped from the figures the store gives (repo.daily). Pure."""
from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from contracts.errors import InvalidInput
from contracts.points import DailyPoints, DailyReport, DailySales


def takings(total_sales: str | None) -> Decimal | None:
    """The store's total takings of the day (from its POS or the ERP), for the members' share."""
    if total_sales is None:
        return None
    try:
        total = Decimal(str(total_sales))
    except InvalidOperation:
        raise InvalidInput('a decimal amount such as "125000.00"', "total_sales") from None
    if not total.is_finite() or total <= 0 or total >= Decimal(10) ** 14:
        raise InvalidInput("above 0 and below 10^14", "total_sales")
    return total


def daily(store: str, day: date, figures: dict[str, Any], total: Decimal | None) -> DailyReport:
    sold, refunded, points = figures["sales"], figures["refunds"], figures["points"]
    net = Decimal(sold["net"])
    share = None if total is None else min(Decimal(1), net / total).quantize(Decimal("0.0001"))
    return DailyReport(
        store=store, day=day, members_share=share,
        sales=DailySales(count=int(sold["count"]), amount=Decimal(sold["gross"]), net_amount=net,
                         members=int(sold["members"]), refunds=int(refunded["count"]),
                         refunded_amount=Decimal(refunded["amount"])),
        points=DailyPoints(issued=int(points["issued"]), redeemed=int(points["redeemed"]),
                           expired=int(points["expired"]), reversed=int(points["reversed"])))
