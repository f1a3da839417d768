"""Events into the read model: each batch folded into deltas (services/analytics/domain.py) and written
with one upsert per table touched. Days and hours are the store's local ones: the catalog's time zone
of the store, else STORE_TIMEZONES / STORE_DEFAULT_TIMEZONE."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from contracts.coupons import CouponIssued, CouponRedeemed, CouponRestored
from contracts.erp_sync import ErpSaleRecorded
from contracts.events import MemberRegistered, PointsAccrued, PointsRedeemed, PointsReversed
from service_runtime.config import StoreZones
from service_runtime.db import Tx
from services.analytics import domain, repo
from services.analytics import tables as t
from services.analytics.domain import Deltas, Line, local, month_of

NO_STORE = ""


class Zones:
    """Each store's zone for one batch, asked of the read model once."""

    def __init__(self, tx: Tx, stores: Sequence[str | None]) -> None:
        self.known = repo.zones(tx, [s for s in stores if s])
        self.fallback = StoreZones.from_env()

    def local(self, store: str | None, at: datetime) -> tuple[str, date, int]:
        name = self.known.get(store or "") or self.fallback.zone_of(store)
        try:
            zone = ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            zone = ZoneInfo(self.fallback.default)
        day, hour = local(at, zone)
        return store or NO_STORE, day, hour


def registrations(tx: Tx, events: list[MemberRegistered]) -> None:
    zones = Zones(tx, [e.registration_store for e in events])
    rows = []
    by_member = {}
    for event in events:
        store, day, _ = zones.local(event.registration_store, event.registered_at)
        rows.append({"member_id": event.member_id, "cohort": month_of(day), "store": store})
        by_member[event.member_id] = (store, day)
    deltas = Deltas()
    for row in repo.register(tx, rows):
        store, day = by_member[row["member_id"]]
        deltas.add(store, day, 0, registrations=1)
        deltas.count("cohorts", (store, month_of(day)), members=1)
    repo.apply(tx, deltas)


def accruals(tx: Tx, events: list[PointsAccrued]) -> None:
    """Sales (members' purchases, their lines, first purchases and repeat buyers) and points issued."""
    zones = Zones(tx, [e.store for e in events])
    deltas = Deltas()
    sales = [e for e in events if e.source == "sale"]
    for event in events:
        if event.source != "sale":
            store, day, hour = zones.local(event.store, event.occurred_at)
            deltas.add(store, day, hour, points_issued=event.points)
    if sales:
        _sales(tx, zones, sales, deltas)
    repo.apply(tx, deltas)


def _sales(tx: Tx, zones: Zones, sales: list[PointsAccrued], deltas: Deltas) -> None:
    placed = [zones.local(e.store, e.occurred_at) for e in sales]
    per_member: dict[str, list[int]] = defaultdict(list)
    month_sales: dict[tuple[str, date], int] = defaultdict(int)
    store_month_sales: dict[tuple[str, str, date], int] = defaultdict(int)
    for i, (event, (store, day, _)) in enumerate(zip(sales, placed, strict=True)):
        per_member[event.member_id].append(i)
        month_sales[(event.member_id, month_of(day))] += 1
        store_month_sales[(event.member_id, store, month_of(day))] += 1
    members = repo.add_purchases(tx, {m: len(ix) for m, ix in per_member.items()})
    first = set()
    for member, ix in per_member.items():
        pick = domain.first_sale_index(members[member][0] - len(ix), [sales[i].occurred_at for i in ix])
        if pick is not None:
            first.add(ix[pick])
    for (member, month), total in repo.add_month_sales(tx, t.member_months, ("member_id", "month"),
                                                       month_sales).items():
        buyers, repeat = domain.buyer_deltas(total, month_sales[(member, month)])
        deltas.count("chain_month", (month,), buyers=buyers, repeat_buyers=repeat)
        _, cohort, home = members[member]
        if buyers and cohort is not None and month >= cohort:
            deltas.count("cohort_activity", (home, cohort, month), members=1)
    for key, total in repo.add_month_sales(tx, t.member_store_months, ("member_id", "store", "month"),
                                           store_month_sales).items():
        buyers, repeat = domain.buyer_deltas(total, store_month_sales[key])
        deltas.count("store_month", (key[1], key[2]), buyers=buyers, repeat_buyers=repeat)
    lines = [line for e in sales for line in e.lines or ()]
    known = repo.categories(tx, [line.sku for line in lines if line.category is None])
    for i, (event, (store, day, hour)) in enumerate(zip(sales, placed, strict=True)):
        deltas.add(store, day, hour, member_sales=1, member_amount=event.amount or Decimal(0),
                   points_issued=event.points, **({"new_buyer_sales": 1} if i in first else {"returning_sales": 1}))
        for line in event.lines or ():
            deltas.add_line(store, day, Line(line.sku, line.category or known.get(line.sku), line.qty, line.amount))


def redemptions(tx: Tx, events: list[PointsRedeemed]) -> None:
    zones = Zones(tx, [e.store for e in events])
    deltas = Deltas()
    for event in events:
        store, day, hour = zones.local(event.store, event.redeemed_at)
        deltas.add(store, day, hour, points_redeemed=event.points)
    repo.apply(tx, deltas)


def reversals(tx: Tx, events: list[PointsReversed]) -> None:
    """Refunds count on the day of the refund (the sale's day keeps its sale)."""
    zones = Zones(tx, [e.store for e in events])
    deltas = Deltas()
    for event in events:
        store, day, _ = zones.local(event.store, event.refunded_at)
        deltas.add(store, day, 0, refunds=1, refund_amount=event.amount, points_reversed=event.points_reversed)
    repo.apply(tx, deltas)


def erp_sales(tx: Tx, events: list[ErpSaleRecorded]) -> None:
    """The ERP's sales: a newer version of a sale moves its figures, an older one changes nothing."""
    newest: dict[tuple[str, str], ErpSaleRecorded] = {}
    for event in events:
        key = (event.connection, event.transaction_id)
        if key not in newest or newest[key].version < event.version:
            newest[key] = event
    before = repo.erp_previous(tx, list(newest))
    zones = Zones(tx, [e.store for e in newest.values()])
    deltas, rows = Deltas(), []
    for key, event in newest.items():
        old = before.get(key)
        if old is not None and old.version >= event.version:
            continue
        store, day, hour = zones.local(event.store, event.occurred_at)
        previous = None if old is None else (old.store, old.day, old.hour, old.amount_cents)
        for s, d, h, n, cents in domain.erp_moves(previous, (store, day, hour, event.amount_cents)):
            deltas.add(s, d, h, erp_sales=n, erp_amount=Decimal(cents) / 100)
        rows.append({"connection": key[0], "transaction_id": key[1], "version": event.version, "store": store,
                     "day": day, "hour": hour, "amount_cents": event.amount_cents})
    repo.save_erp_sales(tx, rows)
    repo.apply(tx, deltas)


def coupons(tx: Tx, issued: list[CouponIssued], redeemed: list[CouponRedeemed],
            restored: list[CouponRestored]) -> None:
    """Coupons by template: issued on the chain's day (issuing has no store), redeemed and restored at
    the store of the sale."""
    zones = Zones(tx, [e.store for e in redeemed] + [e.store for e in restored])
    deltas = Deltas()
    for i in issued:
        _, day, _ = zones.local(None, i.issued_at)
        deltas.coupon(i.template_id, NO_STORE, day, issued=1)
    for r in redeemed:
        store, day, _ = zones.local(r.store, r.redeemed_at)
        deltas.coupon(r.template_id, store, day, redeemed=1, discount=r.discount)
    for b in restored:
        store, day, _ = zones.local(b.store, b.restored_at)
        deltas.coupon(b.template_id, store, day, restored=1, discount=-b.discount)
    repo.apply(tx, deltas)
