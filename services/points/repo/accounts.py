"""Points accounts: open, resolve (merges followed), lock in order, save."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert

from service_runtime.db import Tx
from services.points import domain
from services.points.tables import (
    accounts,
    activities,
    holds,
    ledger,
    lots,
    refunds,
    sales,
)


class Account:
    """A member's account row, locked for the transaction, changed in memory and written back."""

    __slots__ = ("member_id", "balance", "held", "debt", "tier", "tier_since", "status", "registration_store",
                 "dirty")

    def __init__(self, row: Any) -> None:
        self.member_id = str(row.member_id)
        self.balance, self.held, self.debt = int(row.balance), int(row.held), int(row.debt)
        self.tier, self.tier_since, self.status = row.tier, row.tier_since, row.status
        self.registration_store = row.registration_store
        self.dirty = False


def open_accounts(tx: Tx, rows: list[dict[str, Any]]) -> int:
    """Open members' accounts (member_id, opened_by_event, member_number, registration_store);
    one already open is left as it is. How many were opened."""
    if not rows:
        return 0
    values = [{**row, "balance": domain.OPENING_BALANCE, "tier": domain.DEFAULT_TIER}  # in key order: no deadlocks
              for row in sorted(rows, key=lambda r: str(r["member_id"]))]
    return int(tx.execute(pg_insert(accounts).values(values)
                          .on_conflict_do_nothing(index_elements=["member_id"])).rowcount)


def get_account(tx: Tx, member_id: str) -> Any | None:
    return tx.execute(sa.select(accounts).where(accounts.c.member_id == member_id)).first()


def resolve(tx: Tx, member_ids: Iterable[str] = (), numbers: Iterable[str] = ()) -> dict[str, str]:
    """Member id or member number -> the id of the account that now holds it (merges followed)."""
    ids, nums = sorted(set(member_ids)), sorted(set(numbers))
    found: dict[str, str] = {}
    if ids or nums:
        rows = tx.execute(sa.select(accounts.c.member_id, accounts.c.member_number, accounts.c.merged_into).where(
            sa.or_(accounts.c.member_id.in_(ids), accounts.c.member_number.in_(nums)))).all()
        for row in rows:
            target = str(row.merged_into or row.member_id)
            if str(row.member_id) in ids:
                found[str(row.member_id)] = target
            if row.member_number in nums:
                found[row.member_number] = target
    chained = {k: v for k, v in found.items() if v not in ids or k != v}
    for _ in range(3):  # a merged member merged again
        nxt = {str(r.member_id): str(r.merged_into) for r in tx.execute(
            sa.select(accounts.c.member_id, accounts.c.merged_into).where(
                accounts.c.member_id.in_(set(chained.values())), accounts.c.merged_into.is_not(None)))}
        if not nxt:
            break
        chained = {k: nxt.get(v, v) for k, v in chained.items()}
        found.update(chained)
    return found


def lock_refs(tx: Tx, member_ids: Iterable[str], numbers: Iterable[str]) -> tuple[dict[str, str], dict[str, Account]]:
    """Resolve member ids and numbers and lock their accounts, in one statement when nobody
    named was merged (the POS path); merged ones lead to their survivors, locked after."""
    ids, nums = sorted(set(member_ids)), sorted(set(numbers))
    if not ids and not nums:
        return {}, {}
    rows = tx.execute(sa.select(accounts).where(sa.or_(accounts.c.member_id.in_(ids),
                                                       accounts.c.member_number.in_(nums)))
                      .order_by(accounts.c.member_id).with_for_update()).all()
    if any(r.merged_into is not None for r in rows):
        resolved = resolve(tx, ids, nums)
        return resolved, lock_accounts(tx, resolved.values())
    resolved = {}
    for r in rows:
        if str(r.member_id) in ids:
            resolved[str(r.member_id)] = str(r.member_id)
        if r.member_number in nums:
            resolved[r.member_number] = str(r.member_id)
    return resolved, {str(r.member_id): Account(r) for r in rows}


def lock_accounts(tx: Tx, member_ids: Iterable[str]) -> dict[str, Account]:
    """Lock the accounts in a fixed order (no deadlocks between concurrent batches)."""
    ids = sorted(set(member_ids))
    if not ids:
        return {}
    rows = tx.execute(sa.select(accounts).where(accounts.c.member_id.in_(ids))
                      .order_by(accounts.c.member_id).with_for_update()).all()
    return {str(r.member_id): Account(r) for r in rows}


_SAVE = sa.text("""
        UPDATE accounts SET balance = x.balance, held = x.held, debt = x.debt, tier = x.tier,
                            tier_since = x.tier_since, status = x.status
        FROM unnest(CAST(:ids AS uuid[]), CAST(:balances AS bigint[]), CAST(:helds AS bigint[]),
                    CAST(:debts AS bigint[]), CAST(:tiers AS text[]), CAST(:sinces AS timestamptz[]),
                    CAST(:statuses AS text[])) AS x(member_id, balance, held, debt, tier, tier_since, status)
        WHERE accounts.member_id = x.member_id
          AND accounts.member_id = ANY(CAST(:ids AS uuid[]))  -- the index, whatever unnest's estimate""")


def save_accounts(tx: Tx, changed: Sequence[Account]) -> None:
    """One statement however many accounts (psycopg2 sends an executemany row by row)."""
    if not changed:
        return
    tx.execute(_SAVE, {
        "ids": [a.member_id for a in changed], "balances": [a.balance for a in changed],
        "helds": [a.held for a in changed], "debts": [a.debt for a in changed], "tiers": [a.tier for a in changed],
        "sinces": [a.tier_since for a in changed], "statuses": [a.status for a in changed]})


def set_status(tx: Tx, member_id: str, status: str, merged_into: str | None = None) -> None:
    tx.execute(accounts.update().where(accounts.c.member_id == member_id)
               .values(status=status, merged_into=merged_into))


def tiered_members(tx: Tx, after: str | None, limit: int, base_tier: str) -> list[str]:
    query = sa.select(accounts.c.member_id).where(accounts.c.tier != base_tier, accounts.c.status == "active")
    if after:
        query = query.where(accounts.c.member_id > after)
    return [str(r[0]) for r in tx.execute(query.order_by(accounts.c.member_id).limit(limit)).all()]


def move_member(tx: Tx, from_id: str, to_id: str) -> None:
    """Lots, ledger history, sales and activities of a merged member go to the survivor."""
    for table in (lots, ledger, sales, refunds):
        tx.execute(table.update().where(table.c.member_id == from_id).values(member_id=to_id))
    tx.execute(sa.text("""
        INSERT INTO activities (member_id, kind, key, points, created_at)
        SELECT :to, kind, key, points, created_at FROM activities WHERE member_id = :from
        ON CONFLICT DO NOTHING"""), {"to": to_id, "from": from_id})
    tx.execute(activities.delete().where(activities.c.member_id == from_id, activities.c.kind != "referral"))


def export_rows(tx: Tx, member_id: str) -> dict[str, list[Any]]:
    return {
        "sales": list(tx.execute(sa.select(sales.c.store, sales.c.transaction_id, sales.c.amount,
                                           sales.c.net_amount, sales.c.currency, sales.c.sold_at, sales.c.points,
                                           sales.c.refunded_amount, sales.c.points_reversed)
                                 .where(sales.c.member_id == member_id).order_by(sales.c.sold_at)).all()),
        "ledger": list(tx.execute(sa.select(ledger).where(ledger.c.member_id == member_id)
                                  .order_by(ledger.c.id)).all()),
        "holds": list(tx.execute(sa.select(holds).where(holds.c.member_id == member_id)).all()),
        "activities": list(tx.execute(sa.select(activities).where(activities.c.member_id == member_id)).all()),
    }


# one statement, parsed once: the till's look-up is a hot path (docs/decisions/0028-set-based-consumers.md)
_BRIEF = sa.text("""
    WITH a AS (
        SELECT a.member_id, a.balance, a.tier,
               coalesce(sum(h.points) FILTER (WHERE h.expires_at > :now), 0) AS held,
               coalesce(sum(h.points) FILTER (WHERE h.expires_at <= :now), 0) AS lapsed
        FROM accounts a LEFT JOIN holds h ON h.member_id = a.member_id AND h.status = 'held'
        WHERE a.member_id = ANY(CAST(:ids AS uuid[]))
        GROUP BY a.member_id),
    l AS (
        SELECT member_id, sum(remaining) FILTER (WHERE available_at <= :now
                                                 AND (expires_at IS NULL OR expires_at > :now)) AS available
        FROM lots WHERE member_id = ANY(CAST(:ids AS uuid[])) AND remaining > 0 GROUP BY member_id)
    SELECT a.member_id, a.balance, a.tier, a.held, a.lapsed, coalesce(l.available, 0) AS available
    FROM a LEFT JOIN l USING (member_id)""")


def brief(tx: Tx, member_ids: list[str], now: datetime) -> dict[str, dict[str, Any]]:
    """What a till shows of each account: balance, tier, points held by live holds (an expired
    hold counts for nothing, released or not) and available points (one statement, no lock)."""
    rows = tx.execute(_BRIEF, {"ids": member_ids, "now": now}).all()
    return {str(r.member_id): {
        "balance": int(r.balance), "tier": r.tier, "held": int(r.held),
        # lapsed holds' points go back to the lots at the next read or spend: available already
        "available": max(0, min(int(r.available) + int(r.lapsed), int(r.balance) - int(r.held))),
    } for r in rows}
