"""Campaign bonus budgets, per-member award limits and treated audiences."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert

from service_runtime.bulk import insert_rows
from service_runtime.db import Tx
from services.points.tables import (
    bonus_audiences,
    bonus_budgets,
)


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
