"""Ledger operations on one locked account: each keeps the invariants of tables.py.

These functions write through ``repo`` and change the in-memory ``Account``; the caller locks
the account first (``repo.lock_accounts``) and saves it at the end (``repo.save_accounts``).
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from contracts.errors import InsufficientPoints
from contracts.points import Program
from service_runtime.db import Tx
from services.points import domain, ports
from services.points.repo import Account

repo: ports.LedgerRows = ports.REPO  # the in-memory fake in unit tests


class Writes:
    """Ledger and lot rows gathered to be inserted together (an offline batch: two statements,
    not two per sale). Flush before anything reads the lots."""

    def __init__(self) -> None:
        self.ledger: list[dict[str, Any]] = []
        self.lots: list[dict[str, Any]] = []

    def flush(self, tx: Tx) -> None:
        repo.add_ledger(tx, self.ledger)
        repo.add_lots(tx, self.lots)
        self.ledger, self.lots = [], []


def credit(tx: Tx, account: Account, points: int, *, kind: str, store_code: str | None, reference: str,
           program: Program, zone: str, at: datetime, available_at: datetime | None = None,
           detail: dict[str, Any] | None = None, actor_id: str | None = None, writes: Writes | None = None) -> int:
    """Credit points (a new lot); a debt is repaid from them first. Returns the debt repaid.
    With ``writes`` the rows are gathered there instead of inserted now."""
    if points <= 0:
        return 0
    into_lot = domain.credit_into_lot(account.balance, account.held, points)
    account.balance += points
    rows = [{"member_id": account.member_id, "kind": kind, "delta": points, "store": store_code,
             "at_store": store_code, "reference": reference, "detail": detail or {}, "actor_id": actor_id}]
    repaid = min(into_lot, account.debt)
    if repaid:
        account.debt -= repaid
        account.balance -= repaid
        into_lot -= repaid
        rows.append({"member_id": account.member_id, "kind": "debt_repayment", "delta": -repaid,
                     "store": store_code, "at_store": store_code, "reference": reference})
    lot = {"member_id": account.member_id, "store": store_code, "source": kind, "reference": reference,
           "points": into_lot, "remaining": into_lot, "available_at": available_at or at,
           "expires_at": domain.expiry(at, zone, program.expiry)}
    pending = writes or Writes()
    pending.ledger.extend(rows)
    pending.lots.append(lot)
    if writes is None:
        pending.flush(tx)
    account.dirty = True
    return repaid


def debit(tx: Tx, account: Account, points: int, *, kind: str, at_store: str | None, reference: str, now: datetime,
          detail: dict[str, Any] | None = None, actor_id: str | None = None) -> None:
    """Spend available points at once (soonest-expiring lots first), one ledger row per issuing store."""
    lots = domain.spendable(repo.open_lots(tx, account.member_id), now)
    try:
        taken = domain.consume(lots, points)
    except domain.RuleError as exc:
        raise InsufficientPoints(str(exc), "points") from None
    repo.take_from_lots(tx, taken)
    by_store = domain.per_store((lot.store, take) for lot, take in taken)
    repo.add_ledger(tx, [{"member_id": account.member_id, "kind": kind, "delta": -take, "store": issuer,
                           "at_store": at_store, "reference": reference, "detail": detail or {},
                           "actor_id": actor_id} for issuer, take in by_store.items()])
    account.balance -= points
    account.dirty = True


def take_back(account: Account, points: int, lots: list[domain.Lot], *, kind: str, at_store: str | None,
              reference: str, program: Program, detail: dict[str, Any] | None = None, own_lot: str | None = None
              ) -> tuple[list[tuple[domain.Lot, int]], list[dict[str, Any]], int]:
    """Take points back for a refund from the member's open ``lots`` (pending or not, soonest
    expiry first); what is already spent follows the program's refund policy: a negative balance
    down to its limit, or a debt repaid from future earning. Changes the account; returns the
    lots taken from, the ledger rows to write and how many points lots covered."""
    from_balance, to_debt = domain.refund_split(points, account.balance, account.held,
                                                program.refund_policy == "debt", program.negative_limit)
    # the refunded sale's own lot first (its store's liability), then soonest expiry
    ordered = domain.by_expiry(lots, first_reference=own_lot)
    from_lots = min(from_balance, sum(lot.remaining for lot in ordered))
    taken = domain.consume(ordered, from_lots)
    # the negative part (spent points no lot covers) is carried by the refunding store
    by_store = domain.per_store([*((lot.store, take) for lot, take in taken), (at_store, from_balance - from_lots)])
    rows = [{"member_id": account.member_id, "kind": kind, "delta": -take, "store": issuer, "at_store": at_store,
             "reference": reference, "detail": detail or {}} for issuer, take in by_store.items() if take]
    account.balance -= from_balance
    account.debt += to_debt
    account.dirty = True
    return taken, rows, from_lots


def hold(tx: Tx, account: Account, row: dict[str, Any], now: datetime) -> bool:
    """Take the points out of their lots into a hold; False if a hold with this key appeared meanwhile."""
    lots = domain.spendable(repo.open_lots(tx, account.member_id), now)
    try:
        taken = domain.consume(lots, row["points"])
    except domain.RuleError as exc:
        raise InsufficientPoints(str(exc), "points") from None
    if not repo.insert_hold(tx, row, taken):
        return False
    account.held += row["points"]
    account.dirty = True
    return True


def release(tx: Tx, account: Account, hold: Any, status: str, now: datetime) -> None:
    """Give a hold's points back to their lots (as far as the balance still covers them)."""
    account.held -= hold.points
    room = max(0, account.balance - account.held) - sum(lot.remaining for lot in repo.open_lots(tx, account.member_id))
    parts: list[tuple[int, int]] = []
    for part in repo.hold_parts(tx, str(hold.id)):
        give = min(part.points, max(0, room))
        if give:
            parts.append((part.lot_id, give))
            room -= give
    repo.give_back_to_lots(tx, parts)
    repo.finish_hold(tx, str(hold.id), status, now)
    account.dirty = True


def commit(tx: Tx, account: Account, hold: Any, now: datetime) -> None:
    by_store = domain.per_store((part.lot_store, part.points) for part in repo.hold_parts(tx, str(hold.id)))
    repo.add_ledger(tx, [{"member_id": account.member_id, "kind": "redemption", "delta": -points, "store": issuer,
                           "at_store": hold.store, "reference": f"{hold.store}:{hold.transaction_id}",
                           "detail": {"hold_id": str(hold.id)}} for issuer, points in by_store.items()])
    account.held -= hold.points
    account.balance -= hold.points
    repo.finish_hold(tx, str(hold.id), "committed", now)
    account.dirty = True


def pending_until(program: Program, sold_at: datetime) -> datetime:
    return sold_at + timedelta(days=program.pending_days)


def release_expired(tx: Tx, account: Account, now: datetime) -> int:
    """An expired hold stops counting the moment it expires, whatever the hold job does later:
    release this locked account's expired holds before anything reads or spends it. How many."""
    if account.held <= 0:
        return 0  # no query for the many accounts with nothing held
    expired = [h for h in repo.open_holds(tx, account.member_id) if h.expires_at <= now]
    for hold_row in expired:
        release(tx, account, hold_row, "expired", now)
    return len(expired)
