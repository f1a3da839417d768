"""Refunds of recorded sales: points taken back in proportion, redeemed points given back to
the stores that issued them, a tier the sale earned undone.

The refunds of one transaction (an offline upload's, or one from a till) are read in one
statement per table and written in one per table; each is still answered as if it came alone,
after the ones before it (their sales, lots, accounts and refund ids as they left them)."""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from contracts.errors import Conflict, InvalidInput, NotFound, ServiceError
from contracts.events import PointsReversed, TierChanged
from contracts.points import Program, Refund, RefundResult
from service_runtime.db import Tx
from services.points import domain, inputs, ledger, ports
from services.points.programs import Programs
from services.points.repo import Account

repo: ports.LedgerRows = ports.REPO  # the in-memory fake in unit tests


@dataclasses.dataclass
class _Sold:
    """A refunded sale's row as this transaction's refunds leave it."""

    member_id: str
    sold_at: datetime
    points: int
    net_amount: Decimal
    refunded_amount: Decimal
    points_reversed: int
    redeemed_returned: int


@dataclasses.dataclass
class _Refunds:
    """What the refunds of one transaction read once, and the writes they gather."""

    program: Program
    now: datetime
    since: datetime
    recorded: dict[tuple[str, str], Any]
    sold: dict[tuple[str, str], _Sold]
    accounts: dict[str, Account]
    paid: dict[tuple[str, str], dict[str | None, int]]
    lots: dict[str, list[domain.Lot]]
    qualifying: dict[str, tuple[Decimal, int]]
    taken: list[tuple[domain.Lot, int]] = dataclasses.field(default_factory=list)
    ledger: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    on_sales: list[tuple[str, str, Decimal, int, int]] = dataclasses.field(default_factory=list)
    rows: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    events: list[Any] = dataclasses.field(default_factory=list)

    def flush_lots(self, tx: Tx) -> None:
        """Lots taken and ledger rows so far, before anything writes new lots."""
        repo.take_from_lots(tx, self.taken)
        repo.add_ledger(tx, self.ledger)
        self.taken, self.ledger = [], []


def refund(tx: Tx, programs: Programs, refund: Refund) -> RefundResult | ServiceError:
    """One refund alone; a refused one is its answer, not an exception."""
    return refund_many(tx, programs, [(0, refund)])[0]


def refund_many(tx: Tx, programs: Programs, items: Sequence[tuple[int, Refund]]
                ) -> dict[int, RefundResult | ServiceError]:
    """Refunds in order under their sales' account locks, each answered on its own."""
    if not items:
        return {}
    _, program = programs.current(tx)
    now = inputs.now()
    keys = [(r.store, r.transaction_id) for _, r in items]
    # the accounts first, then the sales' rows: the order every path locks them in
    accounts = repo.lock_accounts(tx, repo.sale_members(tx, keys))
    sold = {k: _Sold(str(s.member_id), s.sold_at, s.points, s.net_amount, s.refunded_amount, s.points_reversed,
                     s.redeemed_returned) for k, s in repo.existing_sales(tx, keys, lock=True).items()}
    since = now - timedelta(days=program.tier_window_days)
    batch = _Refunds(program, now, since, repo.existing_refunds(tx, [(r.store, r.refund_id) for _, r in items]),
                     sold, accounts, repo.redeemed_for_sales(tx, keys), repo.open_lots_of(tx, accounts),
                     repo.qualifying(tx, accounts, since))
    outcomes: dict[int, RefundResult | ServiceError] = {}
    for index, item in items:
        try:
            outcomes[index] = _one(tx, batch, item)
        except ServiceError as exc:
            outcomes[index] = exc
    batch.flush_lots(tx)
    repo.record_refunds_on_sales(tx, batch.on_sales)
    repo.insert_refunds(tx, batch.rows)
    repo.save_accounts(tx, [a for a in accounts.values() if a.dirty])
    tx.emit_many(batch.events)
    return outcomes


def _one(tx: Tx, batch: _Refunds, refund: Refund) -> RefundResult | ServiceError:
    digest = inputs.request_hash(refund)
    existing = batch.recorded.get((refund.store, refund.refund_id))
    if existing is not None:
        return replayed(existing, refund, digest)
    key = (refund.store, refund.transaction_id)
    sale = batch.sold.get(key)
    if sale is None:
        raise NotFound("no sale with this transaction_id in this store", "transaction_id")
    account = batch.accounts.get(sale.member_id)
    if account is None:
        raise NotFound("the sale's points account is gone", "transaction_id")
    left = sale.net_amount - sale.refunded_amount
    if refund.amount > left:
        raise InvalidInput(f"more than what is left of the sale ({left})", "amount")
    paid = batch.paid.get(key, {})
    reverse, give_back = domain.refund_shares(sale.points, sale.net_amount, sale.refunded_amount, refund.amount,
                                              sale.points_reversed, sum(paid.values()), sale.redeemed_returned)
    program, now = batch.program, batch.now
    reference = f"{refund.store}:{refund.refund_id}"
    if give_back:  # back to the stores that issued them, as new lots the reversal below may take from
        batch.flush_lots(tx)
        for issuer, points in domain.split(give_back, paid).items():
            lot_writes = ledger.Writes()
            ledger.credit(tx, account, points, kind="redemption_refund", store_code=issuer,
                          reference=reference, program=program, zone=inputs.zone(refund.store), at=now,
                          detail={"transaction_id": refund.transaction_id}, writes=lot_writes)
            for row in lot_writes.ledger:
                row["at_store"] = refund.store
            lot_writes.flush(tx)
        batch.lots[account.member_id] = repo.open_lots(tx, account.member_id)
    taken, rows, from_lots = ledger.take_back(
        account, reverse, batch.lots[account.member_id], kind="reversal", at_store=refund.store,
        reference=reference, program=program,
        detail={"transaction_id": refund.transaction_id, "amount": str(refund.amount)},
        own_lot=f"{refund.store}:{refund.transaction_id}")
    batch.taken += taken
    batch.ledger += rows
    batch.lots[account.member_id] = _after(batch.lots[account.member_id], taken)
    uncovered = reverse - from_lots
    sale.refunded_amount += refund.amount
    sale.points_reversed += reverse
    sale.redeemed_returned += give_back
    batch.on_sales.append((refund.store, refund.transaction_id, refund.amount, reverse, give_back))
    if sale.sold_at >= batch.since:  # the member's qualifying spend and points without the refunded part
        spend, points = batch.qualifying.get(account.member_id, (Decimal(0), 0))
        batch.qualifying[account.member_id] = (spend - refund.amount, points - reverse)
    _tier_after_refund(batch, account, sale.sold_at)
    result = RefundResult(
        store=refund.store, refund_id=refund.refund_id, transaction_id=refund.transaction_id,
        member_id=account.member_id, points_reversed=reverse, points_uncovered=uncovered,
        policy=program.refund_policy if uncovered else None, redeemed_points_returned=give_back,
        balance=account.balance, debt=account.debt)
    row = {"store": refund.store, "refund_id": refund.refund_id, "transaction_id": refund.transaction_id,
           "member_id": account.member_id, "amount": refund.amount, "refunded_at": refund.refunded_at,
           "request_hash": digest, "result": result.model_dump(mode="json")}
    batch.rows.append(row)
    batch.recorded[(refund.store, refund.refund_id)] = _Recorded(digest, row["result"])
    batch.events.append(PointsReversed(
        member_id=account.member_id, store=refund.store, transaction_id=refund.transaction_id,
        refund_id=refund.refund_id, amount=refund.amount, points_reversed=reverse, points_uncovered=uncovered,
        redeemed_points_returned=give_back, refunded_at=refund.refunded_at, balance=account.balance,
        **inputs.acting(refund._actor, refund.terminal)))
    return result


@dataclasses.dataclass
class _Recorded:
    """A refund recorded earlier in this transaction, as a replay of it reads it."""

    request_hash: str
    result: dict[str, Any]


def _after(lots: list[domain.Lot], taken: list[tuple[domain.Lot, int]]) -> list[domain.Lot]:
    """The member's open lots once ``taken`` is taken from them."""
    takes: dict[int, int] = {}
    for lot, take in taken:
        takes[lot.lot_id] = takes.get(lot.lot_id, 0) + take
    left = (dataclasses.replace(lot, remaining=lot.remaining - takes.get(lot.lot_id, 0)) for lot in lots)
    return [lot for lot in left if lot.remaining > 0]


def _tier_after_refund(batch: _Refunds, account: Account, sold_at: datetime) -> None:
    """Qualifying spend without the refunded amount; an upgrade the sale made is undone."""
    program = batch.program
    spend, points = batch.qualifying.get(account.member_id, (Decimal(0), 0))
    lower = domain.tier_after_refund(program, account.tier, spend if program.tier_basis == "spend"
                                     else Decimal(points), account.tier_since, sold_at)
    if lower:
        batch.events.append(TierChanged(member_id=account.member_id, old_tier=account.tier, new_tier=lower,
                                        direction="down", reason="refund", changed_at=batch.now))
        account.tier, account.tier_since, account.dirty = lower, batch.now, True


def replayed(existing: Any, refund: Refund, digest: str | None = None) -> RefundResult | ServiceError:
    if existing.request_hash != (digest or inputs.request_hash(refund)):
        return Conflict("this refund_id was recorded with a different body", "refund_id")
    return RefundResult.model_validate({**existing.result, "replayed": True})
