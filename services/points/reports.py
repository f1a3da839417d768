"""Reports: points liability per issuing store, settlement between stores, and the store
manager's daily report (shaped from the figures repo.daily gives)."""
from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from contracts.errors import InvalidInput
from contracts.points import DailyPoints, DailyReport, DailySales, LiabilityRow, SettlementRow
from service_runtime.config import StoreZones
from service_runtime.db import WorkerDb
from services.points import domain, inputs, repo
from services.points.programs import Programs


def days(day_from: str, day_to: str) -> tuple[date, date]:
    """A range of at most 366 days, from and to included."""
    try:
        start, end = date.fromisoformat(str(day_from)), date.fromisoformat(str(day_to))
    except ValueError:
        raise InvalidInput("a date as YYYY-MM-DD", "from") from None
    for day, field in ((start, "from"), (end, "to")):
        if not 1900 <= day.year <= 9998:
            raise InvalidInput("a year between 1900 and 9998", field)
    if end < start:
        raise InvalidInput("before from", "to")
    if (end - start).days > 366:
        raise InvalidInput("at most 366 days", "to")
    return start, end


def _value(points: int, point_value: Decimal) -> Decimal:
    return (Decimal(points) * point_value).quantize(Decimal("0.01"))


def liability(db: WorkerDb, programs: Programs, start: date, end: date, store: str | None) -> list[LiabilityRow]:
    """Outstanding points per issuing store at the end of each day (the chain's own as "chain")."""
    zone = StoreZones.from_env().default
    with db.transaction() as tx:
        _, program = programs.current(tx)
        rows = repo.liability(tx, start, end, zone, store)
    return [LiabilityRow(store=r.store, bucket="store" if r.store is not None else "chain", day=r.day,
                         points=int(r.points), value=_value(int(r.points), program.point_value)) for r in rows]


def daily_report(db: WorkerDb, store: str, day: date, total: Decimal | None) -> DailyReport:
    zone = inputs.zone(store)
    start_at, end_at = domain.local_day_bounds(datetime.combine(day, time(12), tzinfo=ZoneInfo(zone)), zone)
    with db.transaction() as tx:
        figures = repo.daily(tx, store, start_at, end_at)
    return daily(store, day, figures, total)


def settlement(db: WorkerDb, programs: Programs, start: date, end: date, stores: tuple[str, ...] | None
               ) -> list[SettlementRow]:
    """Points earned in one store and spent in another; a store-bound caller sees its own stores'."""
    zone = ZoneInfo(StoreZones.from_env().default)
    begin = datetime.combine(start, time(0), tzinfo=zone).astimezone(UTC)
    finish = datetime.combine(end + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
    with db.transaction() as tx:
        _, program = programs.current(tx)
        rows = repo.settlement(tx, begin, finish)
    return [SettlementRow(earned_store=r.earned_store, spent_store=r.spent_store, points=int(r.points),
                          value=_value(int(r.points), program.point_value)) for r in rows
            if stores is None or {r.earned_store, r.spent_store} & set(stores)]


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
