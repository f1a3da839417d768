"""Coupon and rewards-catalog entrypoints of the campaigns service: parse, check the caller,
call a use case, reply."""
from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from contracts.access import CHAIN_READERS, MARKETING, parse_id, require, require_self
from contracts.coupons import (
    Basket,
    CatalogItem,
    CouponRefund,
    CouponTemplate,
    Exchange,
    IssueCoupon,
    IssueJobRequest,
    Redeem,
    RestockItem,
    TemplatePreview,
)
from contracts.envelope import Envelope
from contracts.events import MemberErased, MemberMerged
from service_runtime.base import parse_request
from service_runtime.callers import SignedServiceRpc
from service_runtime.config import env_int
from service_runtime.db import Tx
from service_runtime.events import subscribe
from services.campaigns.coupons import access, catalog, checkout, interface, issuing, repo, templates, wallet
from services.campaigns.coupons.exchanges import Exchanges
from services.campaigns.coupons.views import job_out, request_hash
from services.campaigns.worker import WITH_POINTS, CampaignsWorker, every, rpc_entry

log = logging.getLogger(__name__)
rpc_method = rpc_entry(WITH_POINTS)


class CouponEntrypoints(CampaignsWorker):
    points = SignedServiceRpc("points")
    members = SignedServiceRpc("members")  # only for member ids campaigns' read model does not know yet

    # -- templates -------------------------------------------------------------------------------------
    @rpc_method
    def create_template(self, **request: Any) -> dict[str, Any]:
        require(self.who(), MARKETING)
        template: CouponTemplate = parse_request(CouponTemplate, request)
        with self.tx() as tx:
            return templates.create(tx, template, self.who().id)

    @rpc_method
    def get_template(self, template_id: str) -> dict[str, Any]:
        require(self.who(), CHAIN_READERS)
        with self.tx() as tx:
            return templates.get(tx, parse_id(template_id, "template_id"))

    @rpc_method
    def list_templates(self, limit: int = 200, after: list[str] | None = None) -> dict[str, Any]:
        """A page of templates, newest first: {"items", "next"}."""
        require(self.who(), CHAIN_READERS)
        with self.tx() as tx:
            return templates.page(tx, limit, after)

    # -- issuing -----------------------------------------------------------------------------------------
    @rpc_method
    def preview_template(self, **request: Any) -> dict[str, Any]:
        """What a basket would get from a coupon of these terms (nothing saved)."""
        require(self.who(), MARKETING)
        req: TemplatePreview = parse_request(TemplatePreview, request)
        with self.tx() as tx:
            return templates.preview(tx, req)

    @rpc_method
    def issue_coupon(self, **request: Any) -> dict[str, Any]:
        """One coupon to one member; with a request_id a retry answers the same coupon."""
        require(self.who(), MARKETING)
        req: IssueCoupon = parse_request(IssueCoupon, request)
        template_id, member_id = parse_id(req.template_id, "template_id"), parse_id(req.member_id, "member_id")
        with self.tx() as tx:
            return issuing.issue_coupon(tx, self.members, req, template_id, member_id)

    @rpc_method
    def start_issue_job(self, **request: Any) -> dict[str, Any]:
        """A coupon to each of many members, in the background: answers the job at once."""
        require(self.who(), MARKETING)
        req: IssueJobRequest = parse_request(IssueJobRequest, request)
        with self.tx() as tx:
            job_id = interface.start_issue_job(tx, req.template_id, req.member_ids, source=req.source,
                                               campaign_id=req.campaign_id)
            return job_out(tx, job_id)

    @rpc_method
    def get_issue_job(self, job_id: str) -> dict[str, Any]:
        require(self.who(), MARKETING)
        with self.tx() as tx:
            return job_out(tx, parse_id(job_id, "job_id"))

    @every(env_int("COUPON_JOB_SECONDS", 1))
    def coupon_jobs(self) -> None:
        """Issue jobs chunk by chunk, then finish exchanges a crash left half-way."""
        try:
            issuing.run_issue_jobs(self.worker_db(), self.members)
        except Exception:
            log.exception("coupon issue jobs failed")
        try:
            Exchanges(self.worker_db(), self.points).recover(datetime.now(UTC) - timedelta(seconds=60))
        except Exception:
            log.exception("exchange recovery failed")

    # -- at checkout ---------------------------------------------------------------------------------------
    @rpc_method
    def validate_coupons(self, **request: Any) -> dict[str, Any]:
        """The discount these codes give this basket; changes nothing."""
        basket: Basket = parse_request(Basket, request)
        access.at_store(self.who(), basket.store)
        codes = checkout.codes(basket.codes)
        with self.worker_db().read() as tx:  # changes nothing: no BEGIN/COMMIT round trips
            return checkout.validate(tx, basket, codes)

    @rpc_method
    def redeem_coupons(self, **request: Any) -> dict[str, Any]:
        """Use the codes on a sale; idempotent by (store, transaction_id)."""
        req: Redeem = parse_request(Redeem, request)
        access.at_store(self.who(), req.store)
        codes = checkout.codes(req.codes)
        return checkout.redeem(self.worker_db(), req, codes, request_hash(req))

    @rpc_method
    def refund_coupons(self, **request: Any) -> dict[str, Any]:
        """The sale was refunded: its coupons come back if their template says so (once)."""
        req: CouponRefund = parse_request(CouponRefund, request)
        access.at_store(self.who(), req.store)
        with self.tx() as tx:
            return checkout.refund(tx, req)

    # -- a member's coupons --------------------------------------------------------------------------------
    @rpc_method
    def member_coupons(self, member_id: str, status: str | None = None, limit: int = 200,
                       after: list[str] | None = None) -> dict[str, Any]:
        """A page of the member's coupons, newest first: {"items", "next"} (``next``: pass as ``after``)."""
        member_id = parse_id(member_id, "member_id")
        require_self(self.who(), member_id)
        wallet.check_status(status)
        with self.tx() as tx:
            return wallet.page(tx, member_id, status, limit, after)

    # -- the rewards catalog ---------------------------------------------------------------------------------
    @rpc_method
    def create_catalog_item(self, **request: Any) -> dict[str, Any]:
        require(self.who(), MARKETING)
        item: CatalogItem = parse_request(CatalogItem, request)
        catalog.check_item(item)
        with self.tx() as tx:
            return catalog.create(tx, item)

    @rpc_method
    def catalog(self, active_only: bool = True, limit: int = 200, after: list[Any] | None = None) -> dict[str, Any]:
        """A page of the catalog, cheapest first: {"items", "next"}."""
        with self.tx() as tx:
            return catalog.page(tx, bool(active_only), limit, after)

    @rpc_method
    def restock_item(self, item_id: str, **request: Any) -> dict[str, Any]:
        require(self.who(), MARKETING)
        req: RestockItem = parse_request(RestockItem, request)
        with self.tx() as tx:
            return catalog.restock(tx, parse_id(item_id, "item_id"), req.add)

    @rpc_method
    def exchange(self, **request: Any) -> dict[str, Any]:
        """Points for a reward (see exchanges); idempotent by (member, exchange_key)."""
        req: Exchange = parse_request(Exchange, request)
        member_id, item_id = parse_id(req.member_id, "member_id"), parse_id(req.item_id, "item_id")
        access.exchanger(self.who(), member_id, req.store)
        return Exchanges(self.worker_db(), self.points).exchange(req, member_id, item_id, request_hash(req))

    # -- member lifecycle ------------------------------------------------------------------------------------
    @subscribe("members", "member.merged")
    def on_member_merged_coupons(self, tx: Tx, event: MemberMerged, envelope: Envelope) -> None:
        """The merged member's coupons (used or not) belong to the survivor from now on."""
        repo.move_member(tx, event.merged_id, event.survivor_id)

    @subscribe("members", "member.erased")
    def on_member_erased_coupons(self, tx: Tx, event: MemberErased, envelope: Envelope) -> None:
        repo.erase_member(tx, event.member_id)
