"""In-memory stand-ins for points' persistence (ports.LedgerRows), programs and transaction, so
the sale, refund and hold use cases run in milliseconds. No locks and no rollback: what needs
them is tested on PostgreSQL (tests/service)."""
from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from contracts.points import Program
from services.points import domain
from services.points.domain import CENT
from services.points.repo import Account, add_to_summary


class FakePrograms:
    def __init__(self, program: Program | None = None, bonuses: list[domain.Bonus] | None = None,
                 budgeted: set[str] | None = None) -> None:
        self.program = program or Program()
        self._bonuses, self._budgeted = bonuses or [], budgeted or set()

    def at(self, tx: Any, when: datetime) -> tuple[int, Program]:
        return 1, self.program

    def current(self, tx: Any) -> tuple[int, Program]:
        return 1, self.program

    def bonuses(self, tx: Any) -> list[domain.Bonus]:
        return self._bonuses

    def budgeted(self, tx: Any) -> set[str]:
        return self._budgeted

    def invalidate(self) -> None:
        pass


class FakeRows:
    """The tables as dicts and lists; each method does what its SQL in services/points/repo does."""

    def __init__(self) -> None:
        self.accounts: dict[str, dict[str, Any]] = {}
        self.numbers: dict[str, str] = {}
        self.ledger: list[dict[str, Any]] = []
        self.lots: dict[int, dict[str, Any]] = {}
        self.sales: dict[tuple[str, str], SimpleNamespace] = {}
        self.refunds: dict[tuple[str, str], SimpleNamespace] = {}
        self.holds: dict[str, SimpleNamespace] = {}
        self.hold_lots: list[SimpleNamespace] = []
        self.budgets: dict[str, dict[str, Any]] = {}
        self.awards: dict[tuple[str, str], int] = {}
        self.audiences: set[tuple[str, str]] = set()
        self._ids = itertools.count(1)

    # -- set-up ------------------------------------------------------------------------------
    def open(self, member_id: str, number: str | None = None, status: str = "active", balance: int = 0,
             tier: str = "normal") -> None:
        self.accounts[member_id] = {"member_id": member_id, "balance": balance, "held": 0, "debt": 0, "tier": tier,
                                    "tier_since": None, "status": status, "registration_store": None}
        if number:
            self.numbers[number] = member_id

    def account(self, member_id: str) -> dict[str, Any]:
        return self.accounts[member_id]

    # -- accounts ----------------------------------------------------------------------------
    def resolve(self, tx: Any, member_ids: Iterable[str] = (), numbers: Iterable[str] = ()) -> dict[str, str]:
        found = {m: m for m in member_ids if m in self.accounts}
        found.update({n: self.numbers[n] for n in numbers if n in self.numbers})
        return found

    def lock_accounts(self, tx: Any, member_ids: Iterable[str]) -> dict[str, Account]:
        return {m: Account(SimpleNamespace(**self.accounts[m])) for m in sorted(set(member_ids)) if m in self.accounts}

    def lock_refs(self, tx: Any, member_ids: Iterable[str], numbers: Iterable[str]
                  ) -> tuple[dict[str, str], dict[str, Account]]:
        resolved = self.resolve(tx, member_ids, numbers)
        return resolved, self.lock_accounts(tx, resolved.values())

    def save_accounts(self, tx: Any, changed: Sequence[Account]) -> None:
        for a in changed:
            self.accounts[a.member_id].update(balance=a.balance, held=a.held, debt=a.debt, tier=a.tier,
                                              tier_since=a.tier_since, status=a.status)

    # -- ledger and lots ---------------------------------------------------------------------
    def add_ledger(self, tx: Any, rows: list[dict[str, Any]]) -> None:
        self.ledger.extend({"store": None, "at_store": None, "reference": None, **r} for r in rows)

    def add_lots(self, tx: Any, rows: list[dict[str, Any]]) -> None:
        for r in rows:
            if r["points"] > 0:
                self.lots[next(self._ids)] = dict(r)

    def open_lots(self, tx: Any, member_id: str) -> list[domain.Lot]:
        return [domain.Lot(i, r["remaining"], r["available_at"], r["expires_at"], r["store"], r["reference"])
                for i, r in sorted(self.lots.items()) if r["member_id"] == member_id and r["remaining"] > 0]

    def take_from_lots(self, tx: Any, taken: list[tuple[domain.Lot, int]]) -> None:
        for lot, take in taken:
            self.lots[lot.lot_id]["remaining"] -= take

    def give_back_to_lots(self, tx: Any, parts: list[tuple[int, int]]) -> None:
        for lot_id, points in parts:
            self.lots[lot_id]["remaining"] += points

    def summaries(self, tx: Any, member_ids: Iterable[str], now: datetime) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for m in sorted(set(member_ids)):
            summary = {"pending": 0, "available": 0, "soonest": None, "soonest_points": 0}
            for r in self.lots.values():
                if r["member_id"] == m and r["remaining"] > 0:
                    add_to_summary(summary, r, now)
            out[m] = summary
        return out

    # -- sales and refunds -------------------------------------------------------------------
    def sale_context(self, tx: Any, member_ids: Sequence[str], keys: Sequence[tuple[str, str]], since: datetime,
                     now: datetime) -> tuple[dict[tuple[str, str], Any], dict[str, tuple[Decimal, int]],
                                             dict[str, dict[str, Any]]]:
        existing = {k: self.sales[k] for k in keys if k in self.sales}
        return existing, self.qualifying(tx, member_ids, since), self.summaries(tx, member_ids, now)

    def add_to_summary(self, summary: dict[str, Any], lot: dict[str, Any], now: datetime) -> None:
        add_to_summary(summary, lot, now)

    def write_sales(self, tx: Any, ledger_rows: list[dict[str, Any]], lot_rows: list[dict[str, Any]],
                    sale_rows: list[dict[str, Any]], changed: Sequence[Account]) -> int:
        self.add_ledger(tx, ledger_rows)
        self.add_lots(tx, lot_rows)
        inserted = 0
        for row in sale_rows:
            key = (row["store"], row["transaction_id"])
            if key not in self.sales:
                money = {k: Decimal(row[k]).quantize(CENT) for k in ("amount", "net_amount")}  # numeric(14, 2)
                self.sales[key] = SimpleNamespace(**{**row, **money}, refunded_amount=CENT * 0, points_reversed=0,
                                                  redeemed_returned=0)
                inserted += 1
        self.save_accounts(tx, changed)
        return inserted

    def earned_between(self, tx: Any, member_id: str, start: datetime, end: datetime) -> int:
        return sum(s.points for s in self.sales.values() if s.member_id == member_id and start <= s.sold_at < end)

    def existing_sales(self, tx: Any, keys: Iterable[tuple[str, str]], lock: bool = False
                       ) -> dict[tuple[str, str], Any]:
        return {k: self.sales[k] for k in keys if k in self.sales}

    def sale_members(self, tx: Any, keys: Iterable[tuple[str, str]]) -> list[str]:
        return [self.sales[k].member_id for k in keys if k in self.sales]

    def qualifying(self, tx: Any, member_ids: Iterable[str], since: datetime) -> dict[str, tuple[Decimal, int]]:
        out = {m: (Decimal(0), 0) for m in member_ids}
        for s in self.sales.values():
            if s.member_id in out and s.sold_at >= since:
                spend, points = out[s.member_id]
                out[s.member_id] = (spend + s.net_amount - s.refunded_amount, points + s.points - s.points_reversed)
        return out

    def record_refund_on_sale(self, tx: Any, store: str, transaction_id: str, amount: Decimal, reversed_: int,
                              returned: int) -> None:
        sale = self.sales[(store, transaction_id)]
        sale.refunded_amount += amount
        sale.points_reversed += reversed_
        sale.redeemed_returned += returned

    def existing_refund(self, tx: Any, store: str, refund_id: str) -> Any | None:
        return self.refunds.get((store, refund_id))

    def insert_refund(self, tx: Any, row: dict[str, Any]) -> bool:
        key = (row["store"], row["refund_id"])
        if key in self.refunds:
            return False
        self.refunds[key] = SimpleNamespace(**row)
        return True

    def redeemed_for_sale(self, tx: Any, store: str, transaction_id: str) -> dict[str | None, int]:
        out: dict[str | None, int] = {}
        for hold in self.holds.values():
            if (hold.store, hold.transaction_id, hold.status) == (store, transaction_id, "committed"):
                for part in self.hold_parts(tx, hold.id):
                    out[part.lot_store] = out.get(part.lot_store, 0) + part.points
        return out

    def existing_refunds(self, tx: Any, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Any]:
        return {k: self.refunds[k] for k in keys if k in self.refunds}

    def redeemed_for_sales(self, tx: Any, keys: Iterable[tuple[str, str]]
                           ) -> dict[tuple[str, str], dict[str | None, int]]:
        return {k: self.redeemed_for_sale(tx, *k) for k in keys}

    def open_lots_of(self, tx: Any, member_ids: Iterable[str]) -> dict[str, list[domain.Lot]]:
        return {m: self.open_lots(tx, m) for m in member_ids}

    def record_refunds_on_sales(self, tx: Any, changes: Sequence[tuple[str, str, Decimal, int, int]]) -> None:
        for store, txn, amount, reversed_, returned in changes:
            self.record_refund_on_sale(tx, store, txn, amount, reversed_, returned)

    def insert_refunds(self, tx: Any, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            self.insert_refund(tx, row)

    # -- holds -------------------------------------------------------------------------------
    def get_hold(self, tx: Any, hold_id: str | None = None, key: tuple[str, str] | None = None,
                 lock: bool = False) -> Any:
        if hold_id:
            return self.holds.get(hold_id)
        return next((h for h in self.holds.values() if key == (h.store, h.transaction_id)), None)

    def insert_hold(self, tx: Any, row: dict[str, Any], taken: list[tuple[domain.Lot, int]]) -> bool:
        if self.get_hold(tx, key=(row["store"], row["transaction_id"])) is not None:
            return False
        self.holds[row["id"]] = SimpleNamespace(**row, finished_at=None, created_at=datetime.now(UTC))
        self.hold_lots.extend(SimpleNamespace(hold_id=row["id"], lot_id=lot.lot_id, points=take, lot_store=lot.store)
                              for lot, take in taken)
        self.take_from_lots(tx, taken)
        return True

    def finish_hold(self, tx: Any, hold_id: str, status: str, now: datetime) -> None:
        self.holds[hold_id].status, self.holds[hold_id].finished_at = status, now

    def hold_parts(self, tx: Any, hold_id: str) -> list[Any]:
        return sorted((p for p in self.hold_lots if p.hold_id == hold_id), key=lambda p: -p.lot_id)

    def open_holds(self, tx: Any, member_id: str) -> list[Any]:
        return [h for h in self.holds.values() if h.member_id == member_id and h.status == "held"]

    # -- campaign budgets --------------------------------------------------------------------
    def granted_audiences(self, tx: Any, audiences: set[str], member_ids: list[str]) -> set[tuple[str, str]]:
        return {(a, m) for a, m in self.audiences if a in audiences and m in member_ids}

    def lock_budgets(self, tx: Any, sources: set[str]) -> None:
        pass

    def take_award(self, tx: Any, source: str, member_id: str) -> bool:
        limit = self.budgets.get(source, {}).get("per_member")
        if limit is None:
            return True
        if self.awards.get((source, member_id), 0) >= limit:
            return False
        self.awards[(source, member_id)] = self.awards.get((source, member_id), 0) + 1
        return True

    def give_back_award(self, tx: Any, source: str, member_id: str) -> None:
        self.awards[(source, member_id)] -= 1

    def take_budget(self, tx: Any, source: str, want: int) -> int:
        budget = self.budgets.get(source)
        if budget is None:
            return want
        granted = want if budget["cap"] is None else min(want, budget["cap"] - budget["granted"])
        budget["granted"] += granted
        return int(granted)
