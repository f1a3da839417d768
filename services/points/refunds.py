"""Refunds of recorded sales: points taken back in proportion, redeemed points given back to
the stores that issued them, a tier the sale earned undone."""
from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from contracts.errors import Conflict, InvalidInput, NotFound, ServiceError
from contracts.events import PointsReversed, TierChanged
from contracts.points import Refund, RefundResult
from service_runtime.db import Tx
from services.points import domain, inputs, ledger, ports
from services.points.programs import Programs
from services.points.repo import Account

repo: ports.LedgerRows = ports.REPO  # the in-memory fake in unit tests


def refund(tx: Tx, programs: Programs, refund: Refund) -> RefundResult | ServiceError:
    """One refund under its sale's account lock; a refused one is its answer, not an exception."""
    try:
        existing = repo.existing_refund(tx, refund.store, refund.refund_id)
        if existing is not None:
            return replayed(existing, refund)
        key = (refund.store, refund.transaction_id)
        sale = repo.existing_sales(tx, [key]).get(key)
        if sale is None:
            raise NotFound("no sale with this transaction_id in this store", "transaction_id")
        account = repo.lock_accounts(tx, [str(sale.member_id)]).get(str(sale.member_id))
        if account is None:
            raise NotFound("the sale's points account is gone", "transaction_id")
        sale = repo.existing_sales(tx, [key], lock=True)[key]
        existing = repo.existing_refund(tx, refund.store, refund.refund_id)  # raced while we waited
        if existing is not None:
            return replayed(existing, refund)
        left = sale.net_amount - sale.refunded_amount
        if refund.amount > left:
            raise InvalidInput(f"more than what is left of the sale ({left})", "amount")
        paid = repo.redeemed_for_sale(tx, refund.store, refund.transaction_id)
        reverse, give_back = domain.refund_shares(sale.points, sale.net_amount, sale.refunded_amount, refund.amount,
                                                  sale.points_reversed, sum(paid.values()), sale.redeemed_returned)
        _, program = programs.current(tx)
        reference = f"{refund.store}:{refund.refund_id}"
        zone = inputs.zone(refund.store)
        now = inputs.now()
        for issuer, points in domain.split(give_back, paid).items():  # back to the stores that issued them
            lot_writes = ledger.Writes()
            ledger.credit(tx, account, points, kind="redemption_refund", store_code=issuer,
                          reference=reference, program=program, zone=zone, at=now,
                          detail={"transaction_id": refund.transaction_id}, writes=lot_writes)
            for row in lot_writes.ledger:
                row["at_store"] = refund.store
            lot_writes.flush(tx)
        from_lots = ledger.take_back(
            tx, account, reverse, kind="reversal", at_store=refund.store, reference=reference, program=program,
            detail={"transaction_id": refund.transaction_id, "amount": str(refund.amount)},
            own_lot=f"{refund.store}:{refund.transaction_id}")
        uncovered = reverse - from_lots
        repo.record_refund_on_sale(tx, refund.store, refund.transaction_id, refund.amount, reverse, give_back)
        tier_after_refund(tx, programs, account, sale.sold_at, now)
        result = RefundResult(
            store=refund.store, refund_id=refund.refund_id, transaction_id=refund.transaction_id,
            member_id=account.member_id, points_reversed=reverse, points_uncovered=uncovered,
            policy=program.refund_policy if uncovered else None, redeemed_points_returned=give_back,
            balance=account.balance, debt=account.debt)
        repo.insert_refund(tx, {"store": refund.store, "refund_id": refund.refund_id,
                                "transaction_id": refund.transaction_id, "member_id": account.member_id,
                                "amount": refund.amount, "refunded_at": refund.refunded_at,
                                "request_hash": inputs.request_hash(refund), "result": result.model_dump(mode="json")})
        repo.save_accounts(tx, [account])
        tx.emit(PointsReversed(member_id=account.member_id, store=refund.store,
                               transaction_id=refund.transaction_id, refund_id=refund.refund_id,
                               amount=refund.amount, points_reversed=reverse, points_uncovered=uncovered,
                               redeemed_points_returned=give_back, refunded_at=refund.refunded_at,
                               balance=account.balance))
        return result
    except ServiceError as exc:
        return exc


def tier_after_refund(tx: Tx, programs: Programs, account: Account, sold_at: datetime, now: datetime) -> None:
    """Qualifying spend recomputed without the refunded amount; an upgrade the sale made is undone."""
    _, program = programs.current(tx)
    spend, points = repo.qualifying(tx, [account.member_id],
                                    now - timedelta(days=program.tier_window_days))[account.member_id]
    lower = domain.tier_after_refund(program, account.tier, spend if program.tier_basis == "spend"
                                     else Decimal(points), account.tier_since, sold_at)
    if lower:
        tx.emit(TierChanged(member_id=account.member_id, old_tier=account.tier, new_tier=lower,
                            direction="down", reason="refund", changed_at=now))
        account.tier, account.tier_since, account.dirty = lower, now, True


def replayed(existing: Any, refund: Refund) -> RefundResult | ServiceError:
    if existing.request_hash != inputs.request_hash(refund):
        return Conflict("this refund_id was recorded with a different body", "refund_id")
    return RefundResult.model_validate({**existing.result, "replayed": True})
