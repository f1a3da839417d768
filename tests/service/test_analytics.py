"""The analytics service on its real database and broker: catalog, members, points, ERP and coupon
events published to the producers' exchanges, then its answers checked to the cent against sums
computed here from the very events sent (each store's local day and hour), and who may ask what."""
from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from contracts.catalog import ProductChanged, ProductOut, StoreChanged, StoreOut
from contracts.coupons import CouponIssued, CouponRedeemed
from contracts.erp_sync import ErpSaleRecorded
from contracts.errors import Forbidden, InvalidInput
from contracts.events import MemberRegistered, PointsAccrued, PointsRedeemed, PointsReversed, SoldLine
from tests.helpers import scalar, wait_for
from tests.service.feed_support import publish
from tests.service.notify_support import call

MARKETER = json.dumps({"kind": "staff", "id": "mkt-1", "roles": ["marketer"]})
MANAGER_B = json.dumps({"kind": "staff", "id": "mgr-b", "roles": ["manager"], "stores": ["AN-B"]})
CLERK = json.dumps({"kind": "staff", "id": "clk-1", "roles": ["clerk"]})
ZONES = {"AN-A": ZoneInfo("Asia/Shanghai"), "AN-B": ZoneInfo("Europe/London")}
NOV = {"from_day": "2026-11-01", "to_day": "2026-11-30"}


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _store(code: str, region: str, zone: str) -> StoreChanged:
    at = _utc("2026-10-01T00:00:00")
    return StoreChanged(change="created", store=StoreOut(
        code=code, name=code, region=region, time_zone=zone, currency="CNY", version=1, source="manual",
        last_synced_at=at, updated_at=at))


def _sale(member: str, store: str, tid: str, at: str, amount: str, points: int,
          lines: list[SoldLine] | None = None) -> PointsAccrued:
    return PointsAccrued(member_id=member, store=store, source="sale", reference=tid, points=points,
                         amount=Decimal(amount), currency="CNY", occurred_at=_utc(at), balance=0, lines=lines)


@pytest.fixture
def analytics(start_service):
    return start_service("analytics")


def test_events_in_give_exact_figures_per_store_day_hour_and_month(analytics):
    m1, m2 = str(uuid.uuid4()), str(uuid.uuid4())
    product = ProductChanged(change="created", product=ProductOut.model_validate({
        "sku": "AN-DRINK-1", "name": "Tea", "category": "AN-DRINK", "unit_price": "4.00", "version": 1,
        "source": "manual", "last_synced_at": "2026-10-01T00:00:00Z", "updated_at": "2026-10-01T00:00:00Z"}))
    publish(_store("AN-A", "AN-EAST", "Asia/Shanghai"), _store("AN-B", "AN-EAST", "Europe/London"), product,
            MemberRegistered(member_id=m1, member_number="1", registration_store="AN-A", channel="pos",
                             registered_at=_utc("2026-10-15T02:00:00")),
            MemberRegistered(member_id=m2, member_number="2", registration_store="AN-B", channel="pos",
                             registered_at=_utc("2026-11-02T09:00:00")))

    def taken_in() -> bool:  # the stores' zones and the product's category before any sale
        cohorts = call(analytics, "cohorts", caller=MARKETER, from_month="2026-10", to_month="2026-11")["rows"]
        return len(cohorts) == 2 and scalar("analytics", "SELECT count(*) FROM stores WHERE code LIKE 'AN-%'") == 2 \
            and scalar("analytics", "SELECT count(*) FROM products WHERE sku = 'AN-DRINK-1'") == 1

    wait_for(taken_in, timeout=20, message="registrations and the catalog taken in")
    sales = [
        _sale(m1, "AN-A", "T-1", "2026-11-02T02:30:00", "100.50", 100, [
            SoldLine(sku="AN-FOOD-1", category="AN-FOOD", qty=Decimal(2), amount=Decimal("60.50")),
            SoldLine(sku="AN-DRINK-1", qty=Decimal(1), amount=Decimal("40.00"))]),  # the catalog's category
        _sale(m1, "AN-A", "T-2", "2026-11-07T03:00:00", "20.00", 20),  # a Saturday in Shanghai
        _sale(m2, "AN-B", "T-3", "2026-11-02T23:30:00", "55.25", 55),  # 23:30 in London
    ]
    erp = [ErpSaleRecorded(connection="odoo", transaction_id="E-9", version=1, store="AN-A",
                           occurred_at=_utc("2026-11-02T02:00:00"), amount_cents=30000),
           ErpSaleRecorded(connection="odoo", transaction_id="E-9", version=2, store="AN-A",  # corrected
                           occurred_at=_utc("2026-11-02T02:00:00"), amount_cents=25050),
           ErpSaleRecorded(connection="odoo", transaction_id="E-10", version=1, store="AN-A",
                           occurred_at=_utc("2026-11-02T04:00:00"), amount_cents=10000)]
    publish(*sales, *erp,
            PointsAccrued(member_id=m2, store=None, source="checkin", reference="c-1", points=5,
                          occurred_at=_utc("2026-11-03T10:00:00"), balance=0),
            PointsRedeemed(member_id=m1, store="AN-A", transaction_id="T-2", hold_id="h-1", points=30,
                           redeemed_at=_utc("2026-11-07T03:05:00"), balance=0),
            PointsReversed(member_id=m1, store="AN-A", transaction_id="T-2", refund_id="r-1", amount=Decimal("20.00"),
                           points_reversed=20, points_uncovered=0, redeemed_points_returned=0,
                           refunded_at=_utc("2026-11-08T01:00:00"), balance=0),
            *(CouponIssued(coupon_id=str(uuid.uuid4()), template_id="AN-TPL", member_id=m, source="staff",
                           issued_at=_utc("2026-11-01T12:00:00")) for m in (m1, m2)),
            CouponRedeemed(coupon_id=str(uuid.uuid4()), template_id="AN-TPL", store="AN-A", transaction_id="T-1",
                           discount=Decimal("10.00"), redeemed_at=_utc("2026-11-02T02:30:00")))

    def chain_total() -> dict[str, Any]:
        rows = call(analytics, "sales", caller=MARKETER, by="total", **NOV)["rows"]
        return rows[0] if rows else {}

    expected_amount = sum((s.amount or Decimal(0) for s in sales), Decimal(0))
    wait_for(lambda: (chain_total().get("member_sales"), chain_total().get("points_reversed"),
                      chain_total().get("all_amount"), chain_total().get("points_redeemed"))
             == (3, 20, "350.50", 30), timeout=30, message="every event folded in")
    total = chain_total()
    assert total["member_amount"] == str(expected_amount) == "175.75"
    assert total["average_basket"] == "58.58"  # 175.75 / 3
    assert (total["new_buyer_sales"], total["returning_sales"], total["registrations"]) == (2, 1, 1)
    assert total["points_issued"] == sum(s.points for s in sales) + 5
    assert (total["refunds"], total["refund_amount"], total["all_sales"]) == (1, "20.00", 2)

    by_day = {r["key"]: r for r in call(analytics, "sales", caller=MARKETER, scope="store", store="AN-A",
                                        by="day", **NOV)["rows"]}
    assert sorted(by_day) == ["2026-11-02", "2026-11-07", "2026-11-08"]
    assert (by_day["2026-11-02"]["member_amount"], by_day["2026-11-02"]["all_amount"],
            by_day["2026-11-02"]["member_share"]) == ("100.50", "350.50", "0.2867")
    assert by_day["2026-11-07"]["all_sales"] is None  # no ERP figure that day: unknown, not zero
    assert (by_day["2026-11-07"]["points_redeemed"], by_day["2026-11-08"]["refund_amount"]) == (30, "20.00")
    day_types = {r["key"]: r["member_sales"] for r in call(analytics, "sales", caller=MARKETER, scope="region",
                                                          region="AN-EAST", by="day_type", **NOV)["rows"]}
    assert day_types == {"weekday": 2, "weekend": 1}

    # the hour profile of a whole month (month grain) and of loose days (day grain) agree
    expected_hours: dict[int, Decimal] = {}
    for s in sales:
        hour = s.occurred_at.astimezone(ZONES[s.store or ""]).hour
        expected_hours[hour] = expected_hours.get(hour, Decimal(0)) + (s.amount or Decimal(0))
    for days in (NOV, {"from_day": "2026-10-30", "to_day": "2026-11-09"}):
        hours = {int(r["key"]): r for r in call(analytics, "sales", caller=MARKETER, by="hour", **days)["rows"]}
        assert {h: Decimal(r["member_amount"]) for h, r in hours.items() if r["member_sales"]} == expected_hours
        assert (hours[10]["all_amount"], hours[12]["all_amount"], hours[18]["points_issued"]) == (
            "250.50", "100.00", 5)

    top = call(analytics, "top", caller=MARKETER, kind="category", **NOV)["rows"]
    assert [(r["key"], r["amount"], r["qty"]) for r in top] == [("AN-FOOD", "60.50", "2.000"),
                                                                ("AN-DRINK", "40.00", "1.000")]
    assert call(analytics, "coupons", caller=MARKETER, **NOV)["rows"] == [{
        "template_id": "AN-TPL", "issued": 2, "redeemed": 1, "restored": 0, "discount": "10.00",
        "redemption_rate": "0.5000"}]
    assert call(analytics, "repeat", caller=MARKETER, from_month="2026-11", to_month="2026-11")["rows"] == [
        {"month": "2026-11", "buyers": 2, "repeat_buyers": 1, "repeat_rate": "0.5000"}]
    cohorts = call(analytics, "cohorts", caller=MARKETER, from_month="2026-10", to_month="2026-11")["rows"]
    assert [(c["cohort"], c["members"], c["active"][:2]) for c in cohorts] == [("2026-10", 1, [0, 1]),
                                                                               ("2026-11", 1, [1, 0])]

    # store-bound staff: their own store only; other roles not at all; bad input names the field
    mine = call(analytics, "sales", caller=MANAGER_B, scope="store", store="AN-B", by="total", **NOV)["rows"]
    assert mine[0]["member_amount"] == "55.25"
    for caller, where, field in ((MANAGER_B, {"scope": "store", "store": "AN-A"}, "store"),
                                 (MANAGER_B, {"scope": "chain"}, "scope"), (CLERK, {}, "scope")):
        with pytest.raises(Forbidden) as refused:
            call(analytics, "sales", caller=caller, **where, **NOV)
        assert refused.value.field == field
    for bad, field in (({"from_day": "2026-11-30", "to_day": "2026-11-01"}, "to_day"),
                       ({**NOV, "scope": "region"}, "region"), ({**NOV, "by": "minute"}, "by")):
        with pytest.raises(InvalidInput) as refused:
            call(analytics, "sales", caller=MARKETER, **bad)
        assert refused.value.field == field
