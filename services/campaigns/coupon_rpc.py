"""Coupon and rewards-catalog entrypoints (mixed into CampaignsService): parse, check the caller,
call the store and the pure rules, reply."""
from __future__ import annotations

import hashlib
import json
import logging
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import eventlet
from nameko.exceptions import RemoteError, UnknownService
from nameko.rpc import ServiceRpc, rpc
from nameko.timer import timer
from pydantic import BaseModel

from contracts.coupons import (
    AppliedCoupon,
    Basket,
    CatalogItem,
    CatalogItemOut,
    CouponOut,
    CouponRefund,
    CouponRefundResult,
    CouponTemplate,
    Exchange,
    ExchangeResult,
    IssueCoupon,
    IssueJob,
    IssueJobRequest,
    Redeem,
    Redemption,
    RestockItem,
    SkippedMember,
    TemplateOut,
    Validation,
)
from contracts.envelope import Envelope
from contracts.errors import (
    Conflict,
    Forbidden,
    InsufficientPoints,
    InvalidInput,
    NotFound,
    ServiceError,
    ServiceUnavailable,
)
from contracts.events import MemberErased, MemberMerged
from service_runtime.base import parse_request
from service_runtime.config import env_int
from service_runtime.db import Tx
from service_runtime.events import subscribe
from services.campaigns import coupon_domain as domain
from services.campaigns import coupon_issue, member_check, paging
from services.campaigns import coupon_store as store
from services.campaigns.ids import as_uuid

log = logging.getLogger(__name__)
EXPECTED = (InvalidInput, NotFound, Forbidden, Conflict, InsufficientPoints, ServiceUnavailable)
JOB_CHUNK = env_int("COUPON_JOB_CHUNK", 5000)
POINTS_TIMEOUT = 10.0
HOLD_TTL = 900  # seconds: a hold left by a crash releases itself; recovery finishes well before
MANAGERS = ("admin", "marketer")
MAX_DISCOUNT_PERCENT = env_int("COUPON_MAX_DISCOUNT_PERCENT", 50)  # above it a percent coupon needs confirming
AT_THE_TILL = ("clerk", "manager", "admin")


def _now() -> datetime:
    return datetime.now(UTC)


def _hash(model: BaseModel) -> str:
    return hashlib.sha256(json.dumps(model.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()


def _template_out(row: Any) -> dict[str, Any]:
    off = store.rules_of(row.terms).discount_percent
    terms = {k: v for k, v in row.terms.items() if k != "percent"}  # older templates' name for discount_percent
    return TemplateOut.model_validate({
        **terms, "discount_percent": off, "price_percent": None if off is None else Decimal(100) - off,
        "template_id": str(row.id), "issued_count": row.issued_count, "issued_value": row.issued_value,
        "redeemed_count": row.redeemed, "created_at": row.created_at}).model_dump(mode="json")


def _coupon_out(row: Any, now: datetime, replayed: bool = False) -> CouponOut:
    return CouponOut(coupon_id=str(row.id), code=row.code, template_id=str(row.template_id), name=row.name,
                     kind=row.kind, member_id=None if row.member_id is None else str(row.member_id),
                     status=domain.status(row.state, row.valid_from, row.valid_until, now),  # type: ignore[arg-type]
                     source=row.source, campaign_id=row.campaign_id, valid_from=row.valid_from,
                     valid_until=row.valid_until, issued_at=row.issued_at, redeemed_at=row.redeemed_at,
                     redeemed_store=row.redeemed_store, discount=row.discount, replayed=replayed)


def _codes(raw: list[str]) -> list[str]:
    """Typed codes checked (length, alphabet, check character) before anything is looked up."""
    out = []
    for i, code in enumerate(raw):
        problem = domain.code_problem(code)
        if problem:
            raise InvalidInput(problem, "code" if len(raw) == 1 else f"codes.{i}")
        out.append(domain.normalise(code))
    return out


class _Race(Exception):
    """Another till recorded this sale between our look and our insert."""


class PointsUnavailable(Conflict):
    """The points service did not answer: the exchange stays pending (retried, never half-done)."""


class CouponEntrypoints:
    points = ServiceRpc("points")
    members = ServiceRpc("members")  # only for member ids campaigns' read model does not know yet

    # -- who may do what (the gateway checks too; this holds for any caller) ---------------------------
    def _role(self, *roles: str) -> None:
        caller = self.caller  # type: ignore[attr-defined]
        if caller.kind == "internal":
            return
        if caller.kind != "staff" or not set(roles) & set(caller.roles):
            raise Forbidden(f"for {', '.join(roles)} only")

    def _at_store(self, store_code: str) -> None:
        caller = self.caller  # type: ignore[attr-defined]
        if caller.kind == "member":
            raise Forbidden("members do not redeem coupons themselves")
        if caller.stores is not None and store_code not in caller.stores:
            raise Forbidden(f"not allowed for store {store_code!r}", "store")

    def _own(self, member_id: str) -> None:
        caller = self.caller  # type: ignore[attr-defined]
        if caller.kind == "member" and caller.member_id != member_id:
            raise Forbidden("a member reaches only their own coupons", "member_id")

    # -- templates ---------------------------------------------------------------------------------
    @rpc(expected_exceptions=EXPECTED)
    def create_template(self, **request: Any) -> dict[str, Any]:
        self._role(*MANAGERS)
        template: CouponTemplate = parse_request(CouponTemplate, request)
        # kept as the share taken off, however given; the confirmation is a question, not a term
        terms = {**template.model_dump(mode="json", exclude={"percent", "price_percent", "confirm_high_discount"}),
                 "discount_percent": None if template.off_percent() is None else str(template.off_percent())}
        rules = store.rules_of(terms)
        problem = domain.template_problem(rules, template.valid_from, template.valid_until, template.valid_days,
                                          template.budget_value) or domain.percent_problem(
            rules, template.budget_count, Decimal(MAX_DISCOUNT_PERCENT), template.confirm_high_discount,
            "price_percent" if template.price_percent is not None else "discount_percent")
        if problem:
            raise InvalidInput(problem[1], problem[0])
        with self.db.transaction() as tx:  # type: ignore[attr-defined]
            row = store.add_template(tx, terms, domain.face_value(rules), self.caller.id)  # type: ignore[attr-defined]
            return _template_out(row)

    @rpc(expected_exceptions=EXPECTED)
    def get_template(self, template_id: str) -> dict[str, Any]:
        self._role(*MANAGERS, "manager", "auditor")
        with self.db.transaction() as tx:  # type: ignore[attr-defined]
            row = store.get_template(tx, as_uuid(template_id, "template_id"))
            if row is None:
                raise NotFound("no such coupon template", "template_id")
            return _template_out(row)

    @rpc(expected_exceptions=EXPECTED)
    def list_templates(self, limit: int = 200, after: list[str] | None = None) -> dict[str, Any]:
        """A page of templates, newest first: {"items", "next"}."""
        self._role(*MANAGERS, "manager", "auditor")
        limit = paging.check_limit(limit)
        start = paging.position(after, paging.TEMPLATE_POSITION)
        with self.db.transaction() as tx:  # type: ignore[attr-defined]
            rows, more = paging.cut(store.templates(tx, limit + 1, start), limit,  # type: ignore[arg-type]
                                    lambda r: [r.created_at.isoformat(), str(r.id)])
            return {"items": [_template_out(r) for r in rows], "next": more}

    # -- issuing -------------------------------------------------------------------------------------
    @rpc(expected_exceptions=EXPECTED)
    def issue_coupon(self, **request: Any) -> dict[str, Any]:
        """One coupon to one member; with a request_id a retry answers the same coupon."""
        self._role(*MANAGERS)
        req: IssueCoupon = parse_request(IssueCoupon, request)
        template_id, member_id = as_uuid(req.template_id, "template_id"), as_uuid(req.member_id, "member_id")
        key = (f"request:{template_id}:{req.request_id}" if req.request_id
               else f"{req.source}:{uuid.uuid4()}")
        with self.db.transaction() as tx:  # type: ignore[attr-defined]
            why = member_check.not_members(tx, self.members, [member_id]).get(member_id)
            if why == member_check.UNKNOWN:
                raise NotFound("no such member", "member_id")
            if why is not None:
                raise Conflict(f"no coupon for this member: {why.replace('_', ' ')}", "member_id")
            return self._issue_one(tx, template_id, member_id, key, req.source, req.campaign_id).model_dump(
                mode="json")

    def _issue_one(self, tx: Tx, template_id: str, member_id: str, key: str, source: str,
                   campaign_id: str | None) -> CouponOut:
        now = _now()
        template = store.get_template(tx, template_id, lock=True)
        if template is None:
            raise NotFound("no such coupon template", "template_id")
        outcome = store.issue(tx, template, [member_id], [key], source=source, campaign_id=campaign_id, job_id=None,
                              now=now)
        why = outcome.skipped.get(key)
        if why == "already":
            row = store.coupon_by_key(tx, key)
            if str(row.member_id) != member_id or str(row.template_id) != template_id:
                raise Conflict("this request_id was used for another member or template", "request_id")
            return _coupon_out(row, now, replayed=True)
        if why == "per_member_limit":
            raise Conflict(f"the member already has {template.per_member_limit} of these", "per_member_limit")
        if why is not None:
            raise Conflict("the template's budget is used up", why)
        return _coupon_out(store.coupon_by_id(tx, str(outcome.coupons[0].id)), now)

    @rpc(expected_exceptions=EXPECTED)
    def start_issue_job(self, **request: Any) -> dict[str, Any]:
        """A coupon to each of many members, in the background: answers the job at once."""
        self._role(*MANAGERS)
        req: IssueJobRequest = parse_request(IssueJobRequest, request)
        with self.db.transaction() as tx:  # type: ignore[attr-defined]
            job_id = coupon_issue.start_issue_job(tx, req.template_id, req.member_ids, source=req.source,
                                                  campaign_id=req.campaign_id)
            return self._job_out(tx, job_id)

    @rpc(expected_exceptions=EXPECTED)
    def get_issue_job(self, job_id: str) -> dict[str, Any]:
        self._role(*MANAGERS)
        with self.db.transaction() as tx:  # type: ignore[attr-defined]
            return self._job_out(tx, as_uuid(job_id, "job_id"))

    @staticmethod
    def _job_out(tx: Tx, job_id: str) -> dict[str, Any]:
        row = store.get_job(tx, job_id)
        if row is None:
            raise NotFound("no such issue job", "job_id")
        return IssueJob(job_id=str(row.id), template_id=str(row.template_id), campaign_id=row.campaign_id,
                        status=row.status, total=row.total, processed=row.position, issued=row.issued,
                        skipped=row.skipped, skipped_reasons=row.skipped_reasons,
                        skipped_members=[SkippedMember(member_id=m, reason=r) for m, r in row.skipped_members],
                        error=row.error, created_at=row.created_at, finished_at=row.finished_at).model_dump(mode="json")

    @timer(interval=env_int("COUPON_JOB_SECONDS", 1))
    def coupon_jobs(self) -> None:
        """Issue jobs chunk by chunk (each chunk one transaction, the job row locked with SKIP LOCKED:
        two processes share a job's chunks, a restart resumes at the saved position), then finish
        exchanges a crash left half-way."""
        try:
            self.run_issue_jobs()
        except Exception:
            log.exception("coupon issue jobs failed")
        try:
            self._recover_exchanges(_now() - timedelta(seconds=60))
        except Exception:
            log.exception("exchange recovery failed")

    def run_issue_jobs(self) -> int:
        chunks = 0
        while True:
            with self.db.transaction() as tx:  # type: ignore[attr-defined]
                claimed = store.claim_job(tx, JOB_CHUNK)
                if claimed is None:
                    return chunks
                job, members = claimed
                now = _now()
                template = store.get_template(tx, str(job.template_id), lock=True)
                if template is None:
                    store.fail_job(tx, str(job.id), "template gone", now)
                    continue
                try:  # ids that are no member are skipped with their reason and use no budget
                    gone = member_check.not_members(tx, self.members, members)
                except ServiceUnavailable as exc:
                    log.warning("issue job %s waits for the members service: %s", job.id, exc)
                    return chunks  # nothing of this chunk is written; the next tick tries again
                wanted = [m for m in members if m not in gone]
                keys = [coupon_issue.issue_key(str(job.id), job.campaign_id, m, job.occurrence) for m in wanted]
                outcome = store.issue(tx, template, wanted, keys, source=job.source, campaign_id=job.campaign_id,
                                      job_id=str(job.id), now=now)
                done = job.position + len(members) >= job.total or not members
                store.advance_job(tx, job, len(members), len(outcome.coupons),
                                  [*gone.values(), *outcome.skipped.values()], gone, done, now)
                chunks += 1

    # -- at checkout -----------------------------------------------------------------------------------
    def _apply(self, tx: Tx, basket: Basket, codes: list[str], lock: bool) -> tuple[Validation, list[Any]]:
        now = _now()
        member = None if basket.member_id is None else as_uuid(basket.member_id, "member_id")
        found = (store.lock_codes if lock else store.find_codes)(tx, codes)
        rows = []
        for i, code in enumerate(codes):
            field = "code" if len(codes) == 1 else f"codes.{i}"
            row = found.get(code)
            if row is None:
                raise NotFound("no such coupon", field)
            if row.state == "redeemed":
                raise Conflict("this coupon has been used", field)
            if row.state == "void":
                raise Conflict("this coupon is void", field)
            if member is not None and row.member_id is not None and str(row.member_id) != member:
                raise Forbidden("this coupon belongs to another member", field)
            if now < row.valid_from:
                raise InvalidInput(f"valid from {row.valid_from.isoformat()}", field)
            if now >= row.valid_until:
                raise InvalidInput(f"expired at {row.valid_until.isoformat()}", field)
            rows.append(row)
        lines = [domain.Line(sku=i.sku, amount=i.amount, qty=i.qty, category=i.category) for i in basket.items]
        cart = domain.Basket(store=basket.store, amount=basket.amount, lines=lines)
        try:
            offs = domain.combine([(r.code, store.rules_of(r.terms)) for r in rows], cart)
        except domain.Refusal as exc:
            raise InvalidInput(exc.message, exc.field) from None
        applied = [AppliedCoupon(code=r.code, coupon_id=str(r.id), template_id=str(r.template_id), kind=r.kind,
                                 discount=off, gift_sku=r.terms.get("gift_sku"))
                   for r, (_, off) in zip(rows, offs, strict=True)]
        total = sum((a.discount for a in applied), Decimal(0))
        return Validation(store=basket.store, amount=basket.amount, discount=total, amount_due=basket.amount - total,
                          coupons=applied), rows

    @rpc(expected_exceptions=EXPECTED)
    def validate_coupons(self, **request: Any) -> dict[str, Any]:
        """The discount these codes give this basket; changes nothing."""
        basket: Basket = parse_request(Basket, request)
        self._at_store(basket.store)
        codes = _codes(basket.codes)
        with self.db.transaction() as tx:  # type: ignore[attr-defined]
            result, _ = self._apply(tx, basket, codes, lock=False)
        return result.model_dump(mode="json")

    @rpc(expected_exceptions=EXPECTED)
    def redeem_coupons(self, **request: Any) -> dict[str, Any]:
        """Use the codes on a sale; idempotent by (store, transaction_id). Two tills with one coupon:
        the coupon rows are locked, the second sees it used (409 naming the code)."""
        req: Redeem = parse_request(Redeem, request)
        self._at_store(req.store)
        codes = _codes(req.codes)
        digest = _hash(req)
        for _attempt in (1, 2):
            try:
                return self._redeem(req, codes, digest)
            except _Race:
                continue
        raise Conflict("the same sale is being recorded concurrently: retry", "transaction_id")

    def _redeem(self, req: Redeem, codes: list[str], digest: str) -> dict[str, Any]:
        with self.db.transaction() as tx:  # type: ignore[attr-defined]
            existing = store.get_redemption(tx, req.store, req.transaction_id)
            if existing is not None:
                return self._replay(existing, digest)
            try:
                result, rows = self._apply(tx, req, codes, lock=True)
            except Conflict:  # a retry of this very sale, racing its first try, finds the coupon used by it
                existing = store.get_redemption(tx, req.store, req.transaction_id)
                if existing is not None:
                    return self._replay(existing, digest)
                raise
            now = _now()
            redemption = Redemption(**result.model_dump(), redemption_id=str(uuid.uuid4()),
                                    transaction_id=req.transaction_id, redeemed_at=now)
            if not store.add_redemption(tx, {
                    "id": redemption.redemption_id, "store": req.store, "transaction_id": req.transaction_id,
                    "terminal": req.terminal, "request_hash": digest,
                    "result": redemption.model_dump(mode="json"), "coupon_ids": [c.coupon_id for c in
                                                                                 result.coupons],
                    "discount": result.discount, "redeemed_at": now}):
                raise _Race()  # the same sale recorded by another till a moment ago: answer that
            store.mark_redeemed(tx, redemption.redemption_id, [(c.coupon_id, c.discount) for c in result.coupons],
                                now)
            return redemption.model_dump(mode="json")

    @staticmethod
    def _replay(existing: Any, digest: str) -> dict[str, Any]:
        if existing.request_hash != digest:
            raise Conflict("this transaction_id was redeemed with a different body", "transaction_id")
        return {**existing.result, "replayed": True}

    @rpc(expected_exceptions=EXPECTED)
    def refund_coupons(self, **request: Any) -> dict[str, Any]:
        """The sale was refunded: its coupons come back if their template says so (once)."""
        req: CouponRefund = parse_request(CouponRefund, request)
        self._at_store(req.store)
        with self.db.transaction() as tx:  # type: ignore[attr-defined]
            redemption = store.get_redemption(tx, req.store, req.transaction_id, lock=True)
            if redemption is None:
                raise NotFound("no coupons were redeemed on this sale", "transaction_id")
            if redemption.state == "refunded":
                return {**redemption.refund_result, "replayed": True}
            now = _now()
            rows = store.redemption_coupons(tx, redemption)
            back = [r for r in rows if r.terms.get("restore_on_refund", True)]
            store.restore(tx, [str(r.id) for r in back])
            result = CouponRefundResult(store=req.store, transaction_id=req.transaction_id,
                                        restored=[r.code for r in back],
                                        kept=[r.code for r in rows if r not in back]).model_dump(mode="json")
            store.mark_refunded(tx, str(redemption.id), result, now)
            return result

    # -- a member's coupons -------------------------------------------------------------------------------
    @rpc(expected_exceptions=EXPECTED)
    def member_coupons(self, member_id: str, status: str | None = None, limit: int = 200,
                       after: list[str] | None = None) -> dict[str, Any]:
        """A page of the member's coupons, newest first: {"items", "next"} (``next``: pass as ``after``)."""
        member_id = as_uuid(member_id, "member_id")
        self._own(member_id)
        if status is not None and status not in ("valid", "used", "expired", "not_yet_valid", "void"):
            raise InvalidInput("one of valid, used, expired, not_yet_valid, void", "status")
        limit = paging.check_limit(limit)
        start = paging.position(after, paging.COUPON_POSITION)
        now = _now()
        with self.db.transaction() as tx:  # type: ignore[attr-defined]
            rows = store.member_coupons(tx, member_id, limit + 1, status, now, start)  # type: ignore[arg-type]
        rows, more = paging.cut(rows, limit, lambda r: [r.issued_at.isoformat(), str(r.id)])
        return {"items": [_coupon_out(r, now).model_dump(mode="json") for r in rows], "next": more}

    # -- the rewards catalog ------------------------------------------------------------------------------
    @staticmethod
    def _item_out(row: Any) -> dict[str, Any]:
        return CatalogItemOut(item_id=str(row.id), name=row.name, kind=row.kind,
                              template_id=None if row.template_id is None else str(row.template_id),
                              gift_sku=row.gift_sku, points=row.points, stock=row.stock, active=row.active,
                              exchanged=row.exchanged, created_at=row.created_at).model_dump(mode="json")

    @rpc(expected_exceptions=EXPECTED)
    def create_catalog_item(self, **request: Any) -> dict[str, Any]:
        self._role(*MANAGERS)
        item: CatalogItem = parse_request(CatalogItem, request)
        if item.kind == "coupon":
            if item.template_id is None:
                raise InvalidInput("a coupon item names its template", "template_id")
            if item.gift_sku is not None:
                raise InvalidInput("only for gift items", "gift_sku")
        else:
            if item.gift_sku is None:
                raise InvalidInput("a gift item names its sku", "gift_sku")
            if item.stock is None:
                raise InvalidInput("a gift item has a stock", "stock")
            if item.template_id is not None:
                raise InvalidInput("only for coupon items", "template_id")
        with self.db.transaction() as tx:  # type: ignore[attr-defined]
            if item.template_id is not None:
                item.template_id = as_uuid(item.template_id, "template_id")
                if store.get_template(tx, item.template_id) is None:
                    raise NotFound("no such coupon template", "template_id")
            return self._item_out(store.add_item(tx, item.model_dump()))

    @rpc(expected_exceptions=EXPECTED)
    def catalog(self, active_only: bool = True, limit: int = 200, after: list[Any] | None = None) -> dict[str, Any]:
        """A page of the catalog, cheapest first: {"items", "next"}."""
        limit = paging.check_limit(limit)
        start = paging.position(after, paging.ITEM_POSITION)
        with self.db.transaction() as tx:  # type: ignore[attr-defined]
            rows, more = paging.cut(store.items(tx, bool(active_only), limit + 1, start),  # type: ignore[arg-type]
                                    limit, lambda r: [int(r.points), r.name, str(r.id)])
            return {"items": [self._item_out(r) for r in rows], "next": more}

    @rpc(expected_exceptions=EXPECTED)
    def restock_item(self, item_id: str, **request: Any) -> dict[str, Any]:
        self._role(*MANAGERS)
        req: RestockItem = parse_request(RestockItem, request)
        with self.db.transaction() as tx:  # type: ignore[attr-defined]
            row = store.restock(tx, as_uuid(item_id, "item_id"), req.add)
            if row is None:
                raise NotFound("no such catalog item", "item_id")
            return self._item_out(row)

    @rpc(expected_exceptions=EXPECTED)
    def exchange(self, **request: Any) -> dict[str, Any]:
        """Points for a reward: hold the points, give the reward, commit the hold; on any failure
        release it. Idempotent by (member, exchange_key); a crash half-way is finished by the timer."""
        req: Exchange = parse_request(Exchange, request)
        member_id, item_id = as_uuid(req.member_id, "member_id"), as_uuid(req.item_id, "item_id")
        self._own(member_id)
        caller = self.caller  # type: ignore[attr-defined]
        if caller.kind == "key" or (caller.kind == "staff" and not set(AT_THE_TILL) & set(caller.roles)):
            raise Forbidden("exchanges are made by the member or by staff at a counter")
        if caller.stores is not None and req.store not in caller.stores:
            raise Forbidden(f"not allowed for store {req.store!r}", "store")
        digest = _hash(req)
        with self.db.transaction() as tx:  # type: ignore[attr-defined]
            item = store.get_item(tx, item_id)
            if item is None or not item.active:
                raise NotFound("no such catalog item", "item_id")
            exchange_id = str(uuid.uuid4())
            created = store.add_exchange(tx, {"id": exchange_id, "member_id": member_id,
                                              "exchange_key": req.exchange_key, "item_id": item_id,
                                              "store": req.store, "points": item.points, "request_hash": digest})
            if not created:
                existing = store.get_exchange(tx, member_id, req.exchange_key)
                if existing.request_hash != digest:
                    raise Conflict("this exchange_key was used with a different body", "exchange_key")
                exchange_id = str(existing.id)
        try:
            return self._drive(exchange_id, replayed=not created)
        except PointsUnavailable as exc:  # by its own class name the gateway would answer 500, not 503
            raise ServiceUnavailable(exc.args[0], "exchange_key") from None

    def _drive(self, exchange_id: str, replayed: bool = False) -> dict[str, Any]:
        """Take an exchange from wherever it is to completed or failed (safe to run again)."""
        with self.db.transaction() as tx:  # type: ignore[attr-defined]
            ex = store.exchange_by_id(tx, exchange_id)
        if ex.state == "pending":
            try:
                hold = self._points_call("hold", member_id=str(ex.member_id), store=ex.store,
                                         transaction_id=f"exchange-{ex.id}", points=int(ex.points),
                                         ttl_seconds=HOLD_TTL)
            except ServiceError as exc:
                if not isinstance(exc, PointsUnavailable):  # refused: no hold was placed
                    self._fail(exchange_id, None, exc)
                raise
            if hold["status"] != "held":  # an earlier try got this far and the hold has ended since
                self._fail(exchange_id, None, Conflict(f"the points hold is {hold['status']}", "exchange_key"))
                raise Conflict(f"the points hold is {hold['status']}", "exchange_key")
            try:
                with self.db.transaction() as tx:  # type: ignore[attr-defined]
                    ex = store.exchange_by_id(tx, exchange_id, lock=True)
                    if ex.state == "pending":
                        coupon_id = self._reward(tx, ex)
                        store.set_exchange(tx, exchange_id, state="rewarded", hold_id=hold["hold_id"],
                                           coupon_id=coupon_id)
            except ServiceError as exc:
                self._fail(exchange_id, hold["hold_id"], exc)
                raise
            with self.db.transaction() as tx:  # type: ignore[attr-defined]
                ex = store.exchange_by_id(tx, exchange_id)
        if ex.state == "rewarded":
            try:
                self._points_call("commit_hold", hold_id=ex.hold_id)
            except (Conflict, NotFound) as exc:  # the hold ended (expired, released) before we committed it
                self._take_back(exchange_id, exc)
                raise Conflict(f"the points could not be collected ({exc}); the reward was taken back",
                               "exchange_key") from None
            with self.db.transaction() as tx:  # type: ignore[attr-defined]
                store.set_exchange(tx, exchange_id, state="completed")
                ex = store.exchange_by_id(tx, exchange_id)
        if ex.state == "failed":
            raise Conflict(f"this exchange failed: {ex.error}", "exchange_key")
        return self._exchange_out(ex, replayed)

    def _reward(self, tx: Tx, ex: Any) -> str | None:
        item = store.get_item(tx, str(ex.item_id))
        if not store.take_stock(tx, str(ex.item_id)):
            raise Conflict("out of stock", "item_id")
        if item.kind == "gift":
            return None
        coupon = self._issue_one(tx, str(item.template_id), str(ex.member_id), f"exchange:{ex.id}", "exchange", None)
        return coupon.coupon_id

    def _take_back(self, exchange_id: str, exc: ServiceError) -> None:
        """Never a reward with no points spent: void the coupon / restock the gift and fail the
        exchange; a coupon used meanwhile cannot come back, which the error says for ops."""
        with self.db.transaction() as tx:  # type: ignore[attr-defined]
            ex = store.exchange_by_id(tx, exchange_id, lock=True)
            if ex.state != "rewarded":
                return
            if store.take_back_reward(tx, str(ex.item_id), None if ex.coupon_id is None else str(ex.coupon_id)):
                error = f"points not collected ({exc}); reward taken back"
            else:
                error = f"points not collected ({exc}); the coupon was already used: settle by hand"
                log.error("exchange %s: %s", exchange_id, error)
            store.set_exchange(tx, exchange_id, state="failed", error=error[:500])

    def _fail(self, exchange_id: str, hold_id: str | None, exc: ServiceError) -> None:
        if hold_id is not None:
            try:
                self._points_call("release_hold", hold_id=hold_id)
            except Exception:  # the hold releases itself after HOLD_TTL; recovery tries again
                log.exception("releasing hold %s of exchange %s", hold_id, exchange_id)
                return
        with self.db.transaction() as tx:  # type: ignore[attr-defined]
            store.set_exchange(tx, exchange_id, state="failed", error=str(exc)[:500])

    def _exchange_out(self, ex: Any, replayed: bool) -> dict[str, Any]:
        now = _now()
        with self.db.transaction() as tx:  # type: ignore[attr-defined]
            item = store.get_item(tx, str(ex.item_id))
            coupon = store.coupon_by_id(tx, str(ex.coupon_id)) if ex.coupon_id else None
        return ExchangeResult(exchange_id=str(ex.id), item_id=str(ex.item_id), member_id=str(ex.member_id),
                              points=ex.points, status="completed" if ex.state == "completed" else "pending",
                              coupon=_coupon_out(coupon, now) if coupon is not None else None,
                              gift_sku=item.gift_sku if item.kind == "gift" else None,
                              created_at=ex.created_at, replayed=replayed).model_dump(mode="json")

    def _points_call(self, method: str, **kwargs: Any) -> dict[str, Any]:
        """One RPC to the points service (the caller's identity travels with it), with a timeout;
        its typed errors come back as ours."""
        try:
            with eventlet.Timeout(POINTS_TIMEOUT):
                result: dict[str, Any] = getattr(self.points, method)(**kwargs)
                return result
        except RemoteError as exc:
            cls = {c.__name__: c for c in EXPECTED}.get(exc.exc_type)
            if cls is not None:
                args = exc.value if isinstance(exc.value, list) else None
                message = str(args[0]) if args else str(exc.value)
                raise cls(message, args[1] if args and len(args) > 1 else None) from None
            raise
        except (eventlet.Timeout, UnknownService):
            raise PointsUnavailable("the points service did not answer in time: retry with the same key",
                                    "exchange_key") from None

    def _recover_exchanges(self, older_than: datetime) -> None:
        with self.db.transaction() as tx:  # type: ignore[attr-defined]
            stale = store.stale_exchanges(tx, older_than, 100)
        for row in stale:
            try:
                self._drive(str(row.id))
            except ServiceError as exc:
                log.info("exchange %s: %s", row.id, exc)

    # -- campaign figures and member lifecycle --------------------------------------------------------------
    @subscribe("members", "member.merged")
    def on_member_merged_coupons(self, tx: Tx, event: MemberMerged, envelope: Envelope) -> None:
        """The merged member's coupons (used or not) belong to the survivor from now on."""
        store.move_member(tx, event.merged_id, event.survivor_id)

    @subscribe("members", "member.erased")
    def on_member_erased_coupons(self, tx: Tx, event: MemberErased, envelope: Envelope) -> None:
        store.erase_member(tx, event.member_id)
