"""Analytics service entrypoints: a read model fed by events (services/analytics/ingest.py) and the
questions asked of it (services/analytics/reports.py). Thin: parse, call a use case in one
transaction (the use case checks the caller), answer the contract."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from nameko.rpc import rpc as nameko_rpc

from contracts.analytics import CouponQuery, MonthQuery, SalesQuery, TopQuery
from contracts.catalog import ProductChanged, StoreChanged
from contracts.envelope import Envelope
from contracts.errors import Forbidden, InvalidInput
from contracts.events import (
    MemberErased,
    MemberRegistered,
    MembersImported,
    PointsAccrued,
    PointsRedeemed,
    PointsReversed,
)
from service_runtime.base import ServiceBase, parse_request
from service_runtime.db import Tx
from service_runtime.events import READ_MODEL_WAIT, subscribe, subscribe_batch
from services.analytics import ingest, repo, reports

rpc = nameko_rpc(expected_exceptions=(InvalidInput, Forbidden))  # business errors: not logged as failures
Batch = list[tuple[Any, Envelope]]


class AnalyticsService(ServiceBase):
    name = "analytics"

    # -- the read model -----------------------------------------------------------------------------
    @subscribe("catalog", "store.changed")
    def on_store_changed(self, tx: Tx, event: StoreChanged, envelope: Envelope) -> None:
        s = event.store
        repo.save_store(tx, s.code, s.region, s.brand, s.time_zone, s.version)

    @subscribe("catalog", "product.changed")
    def on_product_changed(self, tx: Tx, event: ProductChanged, envelope: Envelope) -> None:
        repo.save_product(tx, event.product.sku, event.product.category, event.product.version)

    @subscribe_batch("members", "member.registered")
    def on_member_registered(self, tx: Tx, events: list[tuple[MemberRegistered, Envelope]]) -> None:
        ingest.registrations(tx, [e for e, _ in events])

    @subscribe_batch("members", "members.imported", max_batch=10)
    def on_members_imported(self, tx: Tx, events: list[tuple[MembersImported, Envelope]]) -> None:
        ingest.registrations(tx, [m for e, _ in events for m in e.members])

    @subscribe("members", "member.erased")
    def on_member_erased(self, tx: Tx, event: MemberErased, envelope: Envelope) -> None:
        repo.forget_member(tx, event.member_id)

    @subscribe_batch("points", "points.accrued", max_batch=500, max_wait=READ_MODEL_WAIT)
    def on_points_accrued(self, tx: Tx, events: list[tuple[PointsAccrued, Envelope]]) -> None:
        ingest.accruals(tx, [e for e, _ in events])

    @subscribe_batch("points", "points.redeemed")
    def on_points_redeemed(self, tx: Tx, events: list[tuple[PointsRedeemed, Envelope]]) -> None:
        ingest.redemptions(tx, [e for e, _ in events])

    @subscribe_batch("points", "points.reversed")
    def on_points_reversed(self, tx: Tx, events: list[tuple[PointsReversed, Envelope]]) -> None:
        ingest.reversals(tx, [e for e, _ in events])

    @subscribe_batch("catalog", "erp.sale_recorded", max_batch=500)
    def on_erp_sale_recorded(self, tx: Tx, events: Batch) -> None:
        ingest.erp_sales(tx, [e for e, _ in events])

    @subscribe_batch("campaigns", "coupon.issued", max_batch=500)
    def on_coupon_issued(self, tx: Tx, events: Batch) -> None:
        ingest.coupons(tx, [e for e, _ in events], [], [])

    @subscribe_batch("campaigns", "coupon.redeemed")
    def on_coupon_redeemed(self, tx: Tx, events: Batch) -> None:
        ingest.coupons(tx, [], [e for e, _ in events], [])

    @subscribe_batch("campaigns", "coupon.restored")
    def on_coupon_restored(self, tx: Tx, events: Batch) -> None:
        ingest.coupons(tx, [], [], [e for e, _ in events])

    # -- the questions --------------------------------------------------------------------------------
    @rpc
    def sales(self, **request: Any) -> dict[str, Any]:
        query: SalesQuery = parse_request(SalesQuery, request)
        with self.db.transaction() as tx:
            return reports.sales(tx, self.caller, query)

    @rpc
    def top(self, **request: Any) -> dict[str, Any]:
        query: TopQuery = parse_request(TopQuery, request)
        with self.db.transaction() as tx:
            return {"rows": reports.top(tx, self.caller, query)}

    @rpc
    def coupons(self, **request: Any) -> dict[str, Any]:
        query: CouponQuery = parse_request(CouponQuery, request)
        with self.db.transaction() as tx:
            return {"rows": reports.coupons(tx, self.caller, query)}

    @rpc
    def repeat(self, **request: Any) -> dict[str, Any]:
        query: MonthQuery = parse_request(MonthQuery, request)
        with self.db.transaction() as tx:
            return {"rows": reports.repeat(tx, self.caller, query)}

    @rpc
    def cohorts(self, **request: Any) -> dict[str, Any]:
        query: MonthQuery = parse_request(MonthQuery, request)
        with self.db.transaction() as tx:
            return {"rows": reports.cohorts(tx, self.caller, query, datetime.now(UTC).date())}
