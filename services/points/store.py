"""The only code that touches the points tables (SQLAlchemy Core: this is the hot path)."""
from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert

from service_runtime.bulk import insert_rows
from service_runtime.db import Tx
from services.points import domain
from services.points.tables import (
    accounts,
    activities,
    bonus_audiences,
    bonus_budgets,
    bonus_rules,
    hold_lots,
    holds,
    ledger,
    lots,
    programs,
    refunds,
    reminders,
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


# ---- accounts -----------------------------------------------------------------------------
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


def save_accounts(tx: Tx, changed: Sequence[Account]) -> None:
    if not changed:
        return
    tx.execute(
        accounts.update().where(accounts.c.member_id == sa.bindparam("m_id")).values(
            balance=sa.bindparam("m_balance"), held=sa.bindparam("m_held"), debt=sa.bindparam("m_debt"),
            tier=sa.bindparam("m_tier"), tier_since=sa.bindparam("m_tier_since"), status=sa.bindparam("m_status")),
        [{"m_id": a.member_id, "m_balance": a.balance, "m_held": a.held, "m_debt": a.debt, "m_tier": a.tier,
          "m_tier_since": a.tier_since, "m_status": a.status} for a in changed],
    )


def set_status(tx: Tx, member_id: str, status: str, merged_into: str | None = None) -> None:
    tx.execute(accounts.update().where(accounts.c.member_id == member_id)
               .values(status=status, merged_into=merged_into))




# ---- ledger and lots ----------------------------------------------------------------------
def add_ledger(tx: Tx, rows: list[dict[str, Any]]) -> None:
    if rows:
        tx.execute(ledger.insert(), [{"store": None, "at_store": None, "reference": None, "lot_id": None,
                                      "detail": {}, "actor_id": None, **row} for row in rows])


def add_lots(tx: Tx, rows: list[dict[str, Any]]) -> None:
    rows = [r for r in rows if r["points"] > 0]
    if rows:
        tx.execute(lots.insert(), rows)


def open_lots(tx: Tx, member_id: str) -> list[domain.Lot]:
    """The member's lots with points left (call with the account locked)."""
    rows = tx.execute(sa.select(lots.c.id, lots.c.remaining, lots.c.available_at, lots.c.expires_at, lots.c.store,
                                lots.c.reference)
                      .where(lots.c.member_id == member_id, lots.c.remaining > 0).order_by(lots.c.id)).all()
    return [domain.Lot(r.id, r.remaining, r.available_at, r.expires_at, r.store, r.reference) for r in rows]


def take_from_lots(tx: Tx, taken: list[tuple[domain.Lot, int]]) -> None:
    if taken:
        tx.execute(lots.update().where(lots.c.id == sa.bindparam("l_id"))
                   .values(remaining=lots.c.remaining - sa.bindparam("l_take")),
                   [{"l_id": lot.lot_id, "l_take": take} for lot, take in taken])


def trim_lots(tx: Tx, member_id: str, target: int) -> None:
    """Make the member's open lots add up to ``target`` (soonest expiry first)."""
    open_ = open_lots(tx, member_id)
    excess = sum(lot.remaining for lot in open_) - target
    if excess > 0:
        take_from_lots(tx, domain.consume(domain.by_expiry(open_), excess))


def summaries(tx: Tx, member_ids: Iterable[str], now: datetime) -> dict[str, dict[str, Any]]:
    """Per member: pending, available, and the soonest-expiring points (one query for many)."""
    ids = sorted(set(member_ids))
    if not ids:
        return {}
    rows = tx.execute(sa.text("""
        WITH l AS (SELECT member_id, remaining, available_at, expires_at FROM lots
                   WHERE member_id = ANY(CAST(:ids AS uuid[])) AND remaining > 0),
             m AS (SELECT member_id, min(expires_at) AS soonest FROM l
                   WHERE expires_at > :now GROUP BY member_id)
        SELECT l.member_id,
               coalesce(sum(remaining) FILTER (WHERE available_at > :now), 0) AS pending,
               coalesce(sum(remaining) FILTER (WHERE available_at <= :now
                                              AND (expires_at IS NULL OR expires_at > :now)), 0) AS available,
               min(m.soonest) AS soonest,
               coalesce(sum(remaining) FILTER (WHERE expires_at = m.soonest), 0) AS soonest_points
        FROM l LEFT JOIN m USING (member_id) GROUP BY l.member_id"""), {"ids": ids, "now": now}).all()
    out = {m: {"pending": 0, "available": 0, "soonest": None, "soonest_points": 0} for m in ids}
    for r in rows:
        out[str(r.member_id)] = {"pending": int(r.pending), "available": int(r.available), "soonest": r.soonest,
                                 "soonest_points": int(r.soonest_points)}
    return out


def history(tx: Tx, member_id: str, limit: int, before_id: int | None) -> list[Any]:
    query = sa.select(ledger).where(ledger.c.member_id == member_id)
    if before_id is not None:
        query = query.where(ledger.c.id < before_id)
    return list(tx.execute(query.order_by(ledger.c.id.desc()).limit(limit)).all())




# ---- sales and refunds ----------------------------------------------------------------------
def existing_sales(tx: Tx, keys: Iterable[tuple[str, str]], lock: bool = False) -> dict[tuple[str, str], Any]:
    keys = sorted(set(keys))
    if not keys:
        return {}
    query = sa.select(sales).where(sa.tuple_(sales.c.store, sales.c.transaction_id).in_(keys))
    if lock:
        query = query.with_for_update()
    return {(r.store, r.transaction_id): r for r in tx.execute(query).all()}




def qualifying(tx: Tx, member_ids: Iterable[str], since: datetime) -> dict[str, tuple[Decimal, int]]:
    """(spend after discounts and refunds, points kept) per member since ``since``."""
    ids = sorted(set(member_ids))
    out = {m: (Decimal(0), 0) for m in ids}
    if ids:
        for r in tx.execute(sa.select(sales.c.member_id, sa.func.sum(sales.c.net_amount - sales.c.refunded_amount),
                                      sa.func.sum(sales.c.points - sales.c.points_reversed))
                            .where(sales.c.member_id.in_(ids), sales.c.sold_at >= since)
                            .group_by(sales.c.member_id)).all():
            out[str(r[0])] = (Decimal(r[1] or 0), int(r[2] or 0))
    return out


def earned_between(tx: Tx, member_id: str, start: datetime, end: datetime) -> int:
    return int(tx.execute(sa.select(sa.func.coalesce(sa.func.sum(sales.c.points), 0)).where(
        sales.c.member_id == member_id, sales.c.sold_at >= start, sales.c.sold_at < end)).scalar_one())


def record_refund_on_sale(tx: Tx, store: str, transaction_id: str, amount: Decimal, reversed_: int,
                          returned: int) -> None:
    tx.execute(sales.update().where(sales.c.store == store, sales.c.transaction_id == transaction_id).values(
        refunded_amount=sales.c.refunded_amount + amount, points_reversed=sales.c.points_reversed + reversed_,
        redeemed_returned=sales.c.redeemed_returned + returned))


def existing_refund(tx: Tx, store: str, refund_id: str) -> Any | None:
    return tx.execute(sa.select(refunds).where(refunds.c.store == store, refunds.c.refund_id == refund_id)).first()


def insert_refund(tx: Tx, row: dict[str, Any]) -> bool:
    return tx.execute(pg_insert(refunds).values(**row).on_conflict_do_nothing()).rowcount == 1


# ---- holds ------------------------------------------------------------------------------------
def get_hold(tx: Tx, hold_id: str | None = None, key: tuple[str, str] | None = None, lock: bool = False) -> Any:
    query = sa.select(holds)
    query = query.where(holds.c.id == hold_id) if hold_id else query.where(
        holds.c.store == key[0], holds.c.transaction_id == key[1])  # type: ignore[index]
    return tx.execute(query.with_for_update() if lock else query).first()


def insert_hold(tx: Tx, row: dict[str, Any], taken: list[tuple[domain.Lot, int]]) -> bool:
    if tx.execute(pg_insert(holds).values(**row).on_conflict_do_nothing()).rowcount != 1:
        return False
    tx.execute(hold_lots.insert(), [{"hold_id": row["id"], "lot_id": lot.lot_id, "points": take,
                                     "lot_store": lot.store} for lot, take in taken])
    take_from_lots(tx, taken)
    return True


def finish_hold(tx: Tx, hold_id: str, status: str, now: datetime) -> None:
    tx.execute(holds.update().where(holds.c.id == hold_id).values(status=status, finished_at=now))


def hold_parts(tx: Tx, hold_id: str) -> list[Any]:
    return list(tx.execute(sa.select(hold_lots).where(hold_lots.c.hold_id == hold_id)
                           .order_by(hold_lots.c.lot_id.desc())).all())


def give_back_to_lots(tx: Tx, parts: list[tuple[int, int]]) -> None:
    if parts:
        tx.execute(lots.update().where(lots.c.id == sa.bindparam("l_id"))
                   .values(remaining=lots.c.remaining + sa.bindparam("l_add")),
                   [{"l_id": lot_id, "l_add": points} for lot_id, points in parts])


def redeemed_for_sale(tx: Tx, store: str, transaction_id: str) -> dict[str | None, int]:
    """Points paid on a sale (committed holds), by the store that issued them."""
    rows = tx.execute(sa.select(hold_lots.c.lot_store, sa.func.sum(hold_lots.c.points))
                      .select_from(holds.join(hold_lots, hold_lots.c.hold_id == holds.c.id))
                      .where(holds.c.store == store, holds.c.transaction_id == transaction_id,
                             holds.c.status == "committed").group_by(hold_lots.c.lot_store)).all()
    return {r[0]: int(r[1]) for r in rows}


def sale_members(tx: Tx, keys: Iterable[tuple[str, str]]) -> list[str]:
    keys = sorted(set(keys))
    if not keys:
        return []
    return [str(r[0]) for r in tx.execute(sa.select(sales.c.member_id).where(
        sa.tuple_(sales.c.store, sales.c.transaction_id).in_(keys))).all()]


def expired_holds(tx: Tx, now: datetime, limit: int) -> list[Any]:
    return list(tx.execute(sa.select(holds.c.id, holds.c.member_id).where(
        holds.c.status == "held", holds.c.expires_at <= now).order_by(holds.c.expires_at).limit(limit)).all())


def open_holds(tx: Tx, member_id: str) -> list[Any]:
    return list(tx.execute(sa.select(holds).where(holds.c.member_id == member_id, holds.c.status == "held")).all())


# ---- activities, adjustments --------------------------------------------------------------------
def claim_activity(tx: Tx, member_id: str, kind: str, key: str, points: int) -> bool:
    stmt = pg_insert(activities).values(member_id=member_id, kind=kind, key=key, points=points)
    return tx.execute(stmt.on_conflict_do_nothing()).rowcount == 1


def activities_between(tx: Tx, member_id: str, kind: str, start: datetime, end: datetime) -> int:
    return int(tx.execute(sa.select(sa.func.count()).select_from(activities).where(
        activities.c.member_id == member_id, activities.c.kind == kind, activities.c.created_at >= start,
        activities.c.created_at < end)).scalar_one())


def adjustment(tx: Tx, reference: str) -> list[Any]:
    """The ledger rows of one adjustment (one per issuing store when it spent points)."""
    return list(tx.execute(sa.select(ledger).where(ledger.c.kind == "adjustment", ledger.c.reference == reference)
                           .order_by(ledger.c.id)).all())


def adjusted_today(tx: Tx, actor_id: str, since: datetime) -> int:
    """Points this staff member adjusted since ``since``. Takes a transaction lock per staff
    member first, so two of their adjustments at once (on different members, whose account locks
    do not meet) are checked against the daily limit one after the other."""
    tx.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtextextended("points.adjust:" + actor_id, 0))))
    return int(tx.execute(sa.select(sa.func.coalesce(sa.func.sum(sa.func.abs(ledger.c.delta)), 0)).where(
        ledger.c.kind == "adjustment", ledger.c.actor_id == actor_id, ledger.c.created_at >= since)).scalar_one())


# ---- the program and bonus rules -------------------------------------------------------------------
def program_versions(tx: Tx) -> list[Any]:
    return list(tx.execute(sa.select(programs).order_by(programs.c.version)).all())


def add_program(tx: Tx, program: dict[str, Any], effective_from: datetime, created_by: str | None) -> Any:
    tx.execute(sa.text("LOCK TABLE programs IN SHARE ROW EXCLUSIVE MODE"))
    version = int(tx.execute(sa.select(sa.func.coalesce(sa.func.max(programs.c.version), 0))).scalar_one()) + 1
    return tx.execute(programs.insert().values(version=version, effective_from=effective_from, program=program,
                                               created_by=created_by).returning(*programs.c)).one()


def seed_program(tx: Tx, program: dict[str, Any], effective_from: datetime) -> None:
    tx.execute(pg_insert(programs).values(version=1, effective_from=effective_from, program=program,
                                          created_by="default").on_conflict_do_nothing())


def bonus_rules_since(tx: Tx, since: datetime) -> list[Any]:
    return list(tx.execute(sa.select(bonus_rules).where(bonus_rules.c.ends_at > since)
                           .order_by(bonus_rules.c.starts_at)).all())


def all_bonus_rules(tx: Tx) -> list[Any]:
    return list(tx.execute(sa.select(bonus_rules).order_by(bonus_rules.c.starts_at.desc())).all())


def add_bonus_rule(tx: Tx, rule: dict[str, Any], name: str, starts_at: datetime, ends_at: datetime,
                   created_by: str | None, source: str = "api", rule_id: str | None = None,
                   audience: str | None = None) -> Any:
    """A new rule; with ``rule_id`` given, an existing rule of that id is kept as it is."""
    rule_id = rule_id or str(uuid.uuid4())
    tx.execute(pg_insert(bonus_rules).values(id=rule_id, name=name, starts_at=starts_at, ends_at=ends_at, rule=rule,
                                             source=source, created_by=created_by, audience=audience)
               .on_conflict_do_nothing())
    return tx.execute(sa.select(bonus_rules).where(bonus_rules.c.id == rule_id)).one()


def grant_audience(tx: Tx, audience: str, member_ids: list[str]) -> None:
    insert_rows(tx, bonus_audiences, [{"audience": audience, "member_id": m} for m in member_ids],
                on_conflict_do_nothing=True)


def granted_audiences(tx: Tx, audiences: set[str], member_ids: list[str]) -> set[tuple[str, str]]:
    """(audience, member) pairs among these audiences and members."""
    if not audiences or not member_ids:
        return set()
    rows = tx.execute(sa.select(bonus_audiences.c.audience, bonus_audiences.c.member_id).where(
        bonus_audiences.c.audience.in_(sorted(audiences)), bonus_audiences.c.member_id.in_(member_ids)))
    return {(r.audience, str(r.member_id)) for r in rows}


def move_bonus_state(tx: Tx, merged_id: str, survivor_id: str) -> None:
    """A merged member's campaign audiences and bonus sales, moved to the survivor."""
    tx.execute(sa.text("INSERT INTO bonus_audiences (audience, member_id) SELECT audience, :survivor "
                       "FROM bonus_audiences WHERE member_id = :merged ON CONFLICT DO NOTHING"),
               {"survivor": survivor_id, "merged": merged_id})
    tx.execute(bonus_audiences.delete().where(bonus_audiences.c.member_id == merged_id))
    # the bonus sales both made count against the survivor's per-member limits
    tx.execute(sa.text("INSERT INTO bonus_member_awards (source, member_id, awards) "
                       "SELECT source, :survivor, awards FROM bonus_member_awards WHERE member_id = :merged "
                       "ON CONFLICT (source, member_id) DO UPDATE "
                       "SET awards = bonus_member_awards.awards + EXCLUDED.awards"),
               {"survivor": survivor_id, "merged": merged_id})
    tx.execute(sa.text("DELETE FROM bonus_member_awards WHERE member_id = :merged"), {"merged": merged_id})


def set_budget(tx: Tx, source: str, cap: int | None, granted: int = 0, per_member: int | None = None) -> None:
    """A source's bonus budget (None: no cap, still counted) and per-member limit. A new one
    starts from ``granted`` (what the campaign granted before it had one); a cap below what was
    granted stops there."""
    start = granted if cap is None else min(granted, cap)
    stmt = pg_insert(bonus_budgets).values(source=source, cap=cap, granted=start, per_member=per_member)
    tx.execute(stmt.on_conflict_do_update(index_elements=["source"], set_={
        "cap": sa.case((stmt.excluded.cap.is_(None), None),
                       else_=sa.func.greatest(stmt.excluded.cap, bonus_budgets.c.granted)),
        "per_member": sa.func.coalesce(stmt.excluded.per_member, bonus_budgets.c.per_member)}))


def take_award(tx: Tx, source: str, member_id: str) -> bool:
    """Count one more bonus-earning sale of this member for the source; False when its
    per-member limit is reached (the member's account lock serialises their sales)."""
    row = tx.execute(sa.text(
        "INSERT INTO bonus_member_awards (source, member_id, awards) "
        "SELECT source, :m, 1 FROM bonus_budgets WHERE source = :s AND per_member IS NOT NULL "
        "ON CONFLICT (source, member_id) DO UPDATE SET awards = bonus_member_awards.awards + 1 "
        "WHERE bonus_member_awards.awards < (SELECT per_member FROM bonus_budgets WHERE source = :s) "
        "RETURNING awards"), {"s": source, "m": member_id}).first()
    if row is not None:
        return True
    limited = tx.execute(sa.select(bonus_budgets.c.per_member).where(bonus_budgets.c.source == source)).scalar()
    return limited is None


def give_back_award(tx: Tx, source: str, member_id: str) -> None:
    """Undo take_award (the sale's bonus came to nothing: its budget was spent)."""
    tx.execute(sa.text("UPDATE bonus_member_awards SET awards = awards - 1 WHERE source = :s AND member_id = :m"),
               {"s": source, "m": member_id})


def budgeted_sources(tx: Tx) -> set[str]:
    return {str(r[0]) for r in tx.execute(sa.select(bonus_budgets.c.source))}


def lock_budgets(tx: Tx, sources: set[str]) -> None:
    """Lock these sources' budget rows in a fixed order (take_budget locks them one by one)."""
    if len(sources) > 1:
        tx.execute(sa.select(bonus_budgets.c.source).where(bonus_budgets.c.source.in_(sorted(sources)))
                   .order_by(bonus_budgets.c.source).with_for_update())


def take_budget(tx: Tx, source: str, want: int) -> int:
    """Up to ``want`` bonus points from the source's budget (all of it without a budget), taken
    under the budget row's lock so concurrent sales never grant past the cap."""
    row = tx.execute(sa.text(
        "WITH b AS (SELECT source, cap, granted FROM bonus_budgets WHERE source = :source FOR UPDATE) "
        "UPDATE bonus_budgets t SET granted = LEAST(b.cap, b.granted + :want) FROM b WHERE t.source = b.source "
        "RETURNING LEAST(b.cap, b.granted + :want) - b.granted"), {"source": source, "want": want}).first()
    return want if row is None else int(row[0])


def end_bonus_rules_of(tx: Tx, source: str, now: datetime) -> None:
    """End a source's rules now; those not started yet are withdrawn."""
    tx.execute(bonus_rules.delete().where(bonus_rules.c.source == source, bonus_rules.c.starts_at >= now))
    tx.execute(bonus_rules.update().where(bonus_rules.c.source == source, bonus_rules.c.ends_at > now)
               .values(ends_at=now))


def end_bonus_rule(tx: Tx, rule_id: str, now: datetime) -> Any | None:
    return tx.execute(bonus_rules.update().where(bonus_rules.c.id == rule_id).values(
        ends_at=sa.func.least(bonus_rules.c.ends_at, now)).returning(*bonus_rules.c)).first()


# ---- jobs ------------------------------------------------------------------------------------------
def members_with_expired_lots(tx: Tx, now: datetime, limit: int) -> list[str]:
    return [str(r[0]) for r in tx.execute(sa.select(lots.c.member_id).where(
        lots.c.remaining > 0, lots.c.expires_at <= now).group_by(lots.c.member_id).limit(limit)).all()]


def expiring_between(tx: Tx, start: datetime, end: datetime, limit: int) -> list[Any]:
    """(member, expires_at, points) not yet reminded of."""
    return list(tx.execute(sa.text("""
        SELECT l.member_id, l.expires_at, sum(l.remaining) AS points FROM lots l
        WHERE l.remaining > 0 AND l.expires_at > :start AND l.expires_at <= :end
          AND NOT EXISTS (SELECT 1 FROM expiry_reminders r WHERE r.member_id = l.member_id
                          AND r.expires_at = l.expires_at)
        GROUP BY l.member_id, l.expires_at ORDER BY l.expires_at LIMIT :limit"""),
        {"start": start, "end": end, "limit": limit}).all())


def claim_reminder(tx: Tx, member_id: str, expires_at: datetime, points: int) -> bool:
    return tx.execute(pg_insert(reminders).values(member_id=member_id, expires_at=expires_at, points=points)
                      .on_conflict_do_nothing()).rowcount == 1


def tiered_members(tx: Tx, after: str | None, limit: int, base_tier: str) -> list[str]:
    query = sa.select(accounts.c.member_id).where(accounts.c.tier != base_tier, accounts.c.status == "active")
    if after:
        query = query.where(accounts.c.member_id > after)
    return [str(r[0]) for r in tx.execute(query.order_by(accounts.c.member_id).limit(limit)).all()]


# ---- merges, erasure, export -------------------------------------------------------------------------
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


# ---- reports ------------------------------------------------------------------------------------------
def liability(tx: Tx, day_from: Any, day_to: Any, zone: str, store: str | None) -> list[Any]:
    """Outstanding points per issuing store at the end of each day (days in ``zone``)."""
    return list(tx.execute(sa.text("""
        WITH days AS (SELECT generate_series(CAST(:day_from AS date), CAST(:day_to AS date), interval '1 day')::date
                      AS day),
             stores AS (SELECT DISTINCT store FROM ledger WHERE (CAST(:store AS text) IS NULL OR store = :store))
        SELECT s.store, d.day,
               (SELECT coalesce(sum(delta), 0) FROM ledger l
                WHERE l.store IS NOT DISTINCT FROM s.store
                  AND l.created_at < ((d.day + 1)::timestamp AT TIME ZONE :zone)) AS points
        FROM stores s CROSS JOIN days d ORDER BY s.store NULLS FIRST, d.day"""),
        {"day_from": day_from, "day_to": day_to, "zone": zone, "store": store}).all())


def settlement(tx: Tx, start: datetime, end: datetime) -> list[Any]:
    """Points earned in one store and spent in another (committed holds), less points given back
    when the sale they paid for was refunded, in [start, end)."""
    return list(tx.execute(sa.text("""
        SELECT earned_store, spent_store, sum(points) AS points FROM (
          SELECT hl.lot_store AS earned_store, h.store AS spent_store, hl.points
          FROM holds h JOIN hold_lots hl ON hl.hold_id = h.id
          WHERE h.status = 'committed' AND h.finished_at >= :start AND h.finished_at < :end
          UNION ALL
          SELECT store, at_store, -delta FROM ledger
          WHERE kind = 'redemption_refund' AND created_at >= :start AND created_at < :end) m
        GROUP BY earned_store, spent_store HAVING sum(points) <> 0
        ORDER BY 1 NULLS FIRST, 2"""), {"start": start, "end": end}).all())


# ---- the sale path in two statements -------------------------------------------------------------
# A POS sale pays a database round trip per statement; these two carry what the general
# functions above do in seven (existing sales, qualifying spend, lot summaries; then ledger,
# lots, sales and accounts). The accounts are locked before, so the reads see every sale
# committed by whoever held the lock before us.
def sale_context(tx: Tx, member_ids: Sequence[str], keys: Sequence[tuple[str, str]], since: datetime,
                 now: datetime) -> tuple[dict[tuple[str, str], Any], dict[str, tuple[Decimal, int]],
                                         dict[str, dict[str, Any]]]:
    """(existing sales by key, qualifying (spend, points) by member, lot summaries by member)."""
    row = tx.execute(sa.text("""
        SELECT
          (SELECT coalesce(json_agg(json_build_object('store', s.store, 'transaction_id', s.transaction_id,
                                                      'request_hash', s.request_hash, 'result', s.result)), '[]')
           FROM sales s JOIN unnest(CAST(:stores AS text[]), CAST(:txns AS text[])) AS k(store, txn)
             ON s.store = k.store AND s.transaction_id = k.txn) AS existing,
          (SELECT coalesce(json_agg(json_build_object('member_id', q.member_id, 'spend', q.spend::text,
                                                      'points', q.points)), '[]')
           FROM (SELECT member_id, sum(net_amount - refunded_amount) AS spend, sum(points - points_reversed) AS points
                 FROM sales WHERE member_id = ANY(CAST(:ids AS uuid[])) AND sold_at >= :since
                 GROUP BY member_id) q) AS spend,
          (SELECT coalesce(json_agg(json_build_object('member_id', member_id, 'pending', pending,
                                                      'available', available, 'soonest', soonest)), '[]')
           FROM (SELECT member_id,
                        coalesce(sum(remaining) FILTER (WHERE available_at > :now), 0) AS pending,
                        coalesce(sum(remaining) FILTER (WHERE available_at <= :now
                                                        AND (expires_at IS NULL OR expires_at > :now)), 0) AS available,
                        min(expires_at) FILTER (WHERE expires_at > :now) AS soonest
                 FROM lots WHERE member_id = ANY(CAST(:ids AS uuid[])) AND remaining > 0
                 GROUP BY member_id) t) AS lots,
          (SELECT coalesce(json_agg(json_build_object('member_id', member_id, 'expires_at', expires_at,
                                                      'points', points)), '[]')
           FROM (SELECT member_id, expires_at, sum(remaining) AS points FROM lots
                 WHERE member_id = ANY(CAST(:ids AS uuid[])) AND remaining > 0 AND expires_at > :now
                 GROUP BY member_id, expires_at) e) AS expiring
        """), {"stores": [k[0] for k in keys], "txns": [k[1] for k in keys], "ids": list(member_ids),
               "since": since, "now": now}).one()
    existing = {(e["store"], e["transaction_id"]): _Existing(e["request_hash"], e["result"]) for e in row.existing}
    spend = {m: (Decimal(0), 0) for m in member_ids}
    spend.update({q["member_id"]: (Decimal(q["spend"]), int(q["points"])) for q in row.spend})
    summaries = {m: {"pending": 0, "available": 0, "soonest": None, "soonest_points": 0} for m in member_ids}
    for s in row.lots:
        soonest = None if s["soonest"] is None else datetime.fromisoformat(s["soonest"])
        summaries[s["member_id"]] = {"pending": int(s["pending"]), "available": int(s["available"]),
                                     "soonest": soonest, "soonest_points": 0}
    for e in row.expiring:
        summary = summaries[e["member_id"]]
        if summary["soonest"] is not None and datetime.fromisoformat(e["expires_at"]) == summary["soonest"]:
            summary["soonest_points"] = int(e["points"])
    return existing, spend, summaries


class _Existing:
    __slots__ = ("request_hash", "result")

    def __init__(self, request_hash: str, result: dict[str, Any]) -> None:
        self.request_hash, self.result = request_hash, result


def add_to_summary(summary: dict[str, Any], lot: dict[str, Any], now: datetime) -> None:
    """A summary from sale_context, with a lot written after it."""
    remaining, expires = lot["remaining"], lot["expires_at"]
    if remaining <= 0:
        return
    if lot["available_at"] > now:
        summary["pending"] += remaining
    elif expires is None or expires > now:
        summary["available"] += remaining
    if expires is not None and expires > now:
        if summary["soonest"] is None or expires < summary["soonest"]:
            summary["soonest"], summary["soonest_points"] = expires, remaining
        elif expires == summary["soonest"]:
            summary["soonest_points"] += remaining


def write_sales(tx: Tx, ledger_rows: list[dict[str, Any]], lot_rows: list[dict[str, Any]],
                sale_rows: list[dict[str, Any]], changed: Sequence[Account]) -> int:
    """Insert ledger, lots and sales and save the accounts in one statement; returns how many
    sales were inserted (fewer than given: another process recorded one meanwhile)."""
    def js(rows: list[dict[str, Any]]) -> str:
        return json.dumps(rows, default=_json_default)

    result = tx.execute(sa.text("""
        WITH l AS (
          INSERT INTO ledger (member_id, kind, delta, store, at_store, reference, detail, actor_id)
          SELECT member_id, kind, delta, store, at_store, reference, coalesce(detail, '{}'), actor_id
          FROM jsonb_to_recordset(CAST(:ledger AS jsonb)) AS x(member_id uuid, kind text, delta bigint, store text,
               at_store text, reference text, detail jsonb, actor_id text)),
        o AS (
          INSERT INTO lots (member_id, store, source, reference, points, remaining, available_at, expires_at)
          SELECT member_id, store, source, reference, points, remaining, available_at, expires_at
          FROM jsonb_to_recordset(CAST(:lots AS jsonb)) AS x(member_id uuid, store text, source text,
               reference text, points bigint, remaining bigint, available_at timestamptz, expires_at timestamptz)
          WHERE points > 0),
        a AS (
          UPDATE accounts SET balance = x.balance, held = x.held, debt = x.debt, tier = x.tier,
                 tier_since = x.tier_since, status = x.status
          FROM jsonb_to_recordset(CAST(:accounts AS jsonb)) AS x(member_id uuid, balance bigint, held bigint,
               debt bigint, tier text, tier_since timestamptz, status text)
          WHERE accounts.member_id = x.member_id
            AND accounts.member_id = ANY(CAST(:account_ids AS uuid[]))),  -- the index, not a scan (row estimates
                                                                          -- of jsonb_to_recordset are blind)
        s AS (
          INSERT INTO sales (store, transaction_id, member_id, terminal, amount, net_amount, currency, sold_at,
                             points, program_version, request_hash, result)
          SELECT store, transaction_id, member_id, terminal, amount, net_amount, currency, sold_at, points,
                 program_version, request_hash, result
          FROM jsonb_to_recordset(CAST(:sales AS jsonb)) AS x(store text, transaction_id text, member_id uuid,
               terminal text, amount numeric, net_amount numeric, currency text, sold_at timestamptz, points bigint,
               program_version int, request_hash text, result jsonb)
          ON CONFLICT DO NOTHING RETURNING 1)
        SELECT count(*) FROM s"""), {
        "ledger": js(ledger_rows), "lots": js(lot_rows), "sales": js(sale_rows),
        "account_ids": [a.member_id for a in changed],
        "accounts": js([{"member_id": a.member_id, "balance": a.balance, "held": a.held, "debt": a.debt,
                         "tier": a.tier, "tier_since": a.tier_since, "status": a.status} for a in changed]),
    })
    return int(result.scalar_one())


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"not JSON: {type(value).__name__}")


def daily(tx: Tx, store: str, start: datetime, end: datetime) -> dict[str, Any]:
    """A store's day in [start, end): member sales and refunds by their time, points by when the
    ledger booked them (issued by the store; redeemed and reversed at it; expired of its lots)."""
    sold = tx.execute(sa.text("""
        SELECT count(*) AS count, coalesce(sum(amount), 0) AS gross, coalesce(sum(net_amount), 0) AS net,
               count(DISTINCT member_id) AS members
        FROM sales WHERE store = :store AND sold_at >= :start AND sold_at < :end"""),
        {"store": store, "start": start, "end": end}).one()
    refunded = tx.execute(sa.text("""
        SELECT count(*) AS count, coalesce(sum(amount), 0) AS amount
        FROM refunds WHERE store = :store AND refunded_at >= :start AND refunded_at < :end"""),
        {"store": store, "start": start, "end": end}).one()
    points = tx.execute(sa.text("""
        SELECT coalesce(sum(delta) FILTER (WHERE delta > 0 AND store = :store
                          AND kind IN ('accrual', 'activity', 'adjustment')), 0) AS issued,
               coalesce(-sum(delta) FILTER (WHERE kind = 'redemption' AND at_store = :store), 0) AS redeemed,
               coalesce(-sum(delta) FILTER (WHERE kind = 'expiry' AND store = :store), 0) AS expired,
               coalesce(-sum(delta) FILTER (WHERE kind = 'reversal' AND at_store = :store), 0) AS reversed
        FROM ledger WHERE created_at >= :start AND created_at < :end
          AND (store = :store OR at_store = :store)"""), {"store": store, "start": start, "end": end}).one()
    return {"sales": sold._asdict(), "refunds": refunded._asdict(), "points": points._asdict()}


def brief(tx: Tx, member_ids: list[str], now: datetime) -> dict[str, dict[str, Any]]:
    """What a till shows of each account: balance, tier, points held by live holds (an expired
    hold counts for nothing, released or not) and available points (one statement, no lock)."""
    rows = tx.execute(sa.text("""
        SELECT a.member_id, a.balance, a.tier, a.status,
               coalesce(sum(h.points) FILTER (WHERE h.expires_at > :now), 0) AS held,
               coalesce(sum(h.points) FILTER (WHERE h.expires_at <= :now), 0) AS lapsed
        FROM accounts a LEFT JOIN holds h ON h.member_id = a.member_id AND h.status = 'held'
        WHERE a.member_id = ANY(CAST(:ids AS uuid[]))
        GROUP BY a.member_id"""), {"ids": member_ids, "now": now}).all()
    lots = summaries(tx, [str(r.member_id) for r in rows], now)
    return {str(r.member_id): {
        "balance": int(r.balance), "tier": r.tier, "held": int(r.held),
        # lapsed holds' points go back to the lots at the next read or spend: available already
        "available": max(0, min(lots[str(r.member_id)]["available"] + int(r.lapsed), int(r.balance) - int(r.held))),
    } for r in rows}
