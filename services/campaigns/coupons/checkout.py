"""Coupons at the till: what codes give a basket, using them on a sale, and a sale's refund."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from contracts.access import parse_id
from contracts.coupons import (
    AppliedCoupon,
    Basket,
    CouponRedeemed,
    CouponRefund,
    CouponRefundResult,
    CouponRestored,
    Redeem,
    Redemption,
    Validation,
)
from contracts.errors import Conflict, Forbidden, InvalidInput, NotFound
from service_runtime.db import Tx, WorkerDb
from services.campaigns.coupons import domain, ports, scope

repo: ports.CheckoutRows = ports.REPO  # the in-memory fake in unit tests


class _Race(Exception):
    """Another till recorded this sale between our look and our insert."""


def codes(raw: list[str]) -> list[str]:
    """Typed codes checked (length, alphabet, check character) before anything is looked up."""
    out = []
    for i, code in enumerate(raw):
        problem = domain.code_problem(code)
        if problem:
            raise InvalidInput(problem, "code" if len(raw) == 1 else f"codes.{i}")
        out.append(domain.normalise(code))
    return out


def apply(tx: Tx, basket: Basket, codes: list[str], lock: bool) -> tuple[Validation, list[Any]]:
    now = datetime.now(UTC)
    member = None if basket.member_id is None else parse_id(basket.member_id, "member_id")
    found = (repo.lock_codes if lock else repo.find_codes)(tx, codes)
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
    found_rules = [(r.code, repo.rules_of(r.terms)) for r in rows]
    try:
        offs = domain.combine(found_rules, scope.basket(tx, basket, [rules for _, rules in found_rules]))
    except domain.Refusal as exc:
        raise InvalidInput(exc.message, exc.field) from None
    applied = [AppliedCoupon(code=r.code, coupon_id=str(r.id), template_id=str(r.template_id), kind=r.kind,
                             discount=off, gift_sku=r.terms.get("gift_sku"))
               for r, (_, off) in zip(rows, offs, strict=True)]
    total = sum((a.discount for a in applied), Decimal(0))
    return Validation(store=basket.store, amount=basket.amount, discount=total, amount_due=basket.amount - total,
                      coupons=applied), rows


def validate(tx: Tx, basket: Basket, codes: list[str]) -> dict[str, Any]:
    """The discount these codes give this basket; changes nothing."""
    result, _ = apply(tx, basket, codes, lock=False)
    return result.model_dump(mode="json")


def redeem(db: WorkerDb, req: Redeem, codes: list[str], digest: str) -> dict[str, Any]:
    """Use the codes on a sale; idempotent by (store, transaction_id). Two tills with one coupon:
    the coupon rows are locked, the second sees it used (409 naming the code)."""
    for _attempt in (1, 2):
        try:
            return _redeem(db, req, codes, digest)
        except _Race:
            continue
    raise Conflict("the same sale is being recorded concurrently: retry", "transaction_id")


def _redeem(db: WorkerDb, req: Redeem, codes: list[str], digest: str) -> dict[str, Any]:
    with db.transaction() as tx:
        existing = repo.get_redemption(tx, req.store, req.transaction_id)
        if existing is not None:
            return _replay(existing, digest)
        try:
            result, _rows = apply(tx, req, codes, lock=True)
        except Conflict:  # a retry of this very sale, racing its first try, finds the coupon used by it
            existing = repo.get_redemption(tx, req.store, req.transaction_id)
            if existing is not None:
                return _replay(existing, digest)
            raise
        now = datetime.now(UTC)
        redemption = Redemption(**result.model_dump(), redemption_id=str(uuid.uuid4()),
                                transaction_id=req.transaction_id, redeemed_at=now)
        if not repo.record_redemption(tx, {
                "id": redemption.redemption_id, "store": req.store, "transaction_id": req.transaction_id,
                "terminal": req.terminal, "request_hash": digest,
                "result": redemption.model_dump(mode="json"),
                "coupon_ids": [c.coupon_id for c in result.coupons],
                "discount": result.discount, "redeemed_at": now}, [(c.coupon_id, c.discount) for c in result.coupons]):
            raise _Race()  # the same sale recorded by another till a moment ago: answer that
        tx.emit_many([CouponRedeemed(coupon_id=c.coupon_id, template_id=c.template_id, store=req.store,
                                     transaction_id=req.transaction_id, discount=c.discount, redeemed_at=now)
                      for c in result.coupons])
        return redemption.model_dump(mode="json")


def _replay(existing: Any, digest: str) -> dict[str, Any]:
    if existing.request_hash != digest:
        raise Conflict("this transaction_id was redeemed with a different body", "transaction_id")
    return {**existing.result, "replayed": True}


def refund(tx: Tx, req: CouponRefund) -> dict[str, Any]:
    """The sale was refunded: its coupons come back if their template says so (once)."""
    redemption = repo.get_redemption(tx, req.store, req.transaction_id, lock=True)
    if redemption is None:
        raise NotFound("no coupons were redeemed on this sale", "transaction_id")
    if redemption.state == "refunded":
        return {**redemption.refund_result, "replayed": True}
    now = datetime.now(UTC)
    rows = repo.redemption_coupons(tx, redemption)
    back = [r for r in rows if r.terms.get("restore_on_refund", True)]
    repo.restore(tx, [str(r.id) for r in back])
    tx.emit_many([CouponRestored(coupon_id=str(r.id), template_id=str(r.template_id), store=req.store,
                                 transaction_id=req.transaction_id, restored_at=now,
                                 discount=r.discount if r.discount is not None else Decimal(0))
                  for r in back])
    result = CouponRefundResult(store=req.store, transaction_id=req.transaction_id,
                                restored=[r.code for r in back],
                                kept=[r.code for r in rows if r not in back]).model_dump(mode="json")
    repo.mark_refunded(tx, str(redemption.id), result, now)
    return result
