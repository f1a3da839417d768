"""The only code that touches the lifecycle columns and settings (set-based: one statement per
batch of sales or chunk of members, never a statement per member)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert

from service_runtime.db import Tx
from services.members import lifecycle_rules as rules
from services.members.tables import lifecycle_settings, members

LIVE = "status IN ('active', 'frozen')"  # merged and erased records keep the class they had


def thresholds(tx: Tx) -> Any | None:
    return tx.execute(sa.select(lifecycle_settings).where(lifecycle_settings.c.id == 1)).first()


def save_thresholds(tx: Tx, t: rules.Thresholds, actor: str | None) -> Any:
    values = {**t.to_json(), "updated_by": actor, "updated_at": sa.func.now()}
    stmt = pg_insert(lifecycle_settings).values(id=1, version=1, **values)
    return tx.execute(stmt.on_conflict_do_update(index_elements=["id"], set_={
        **values, "version": lifecycle_settings.c.version + 1}).returning(*lifecycle_settings.c)).one()


def _class_sql(t: rules.Thresholds) -> tuple[str, dict[str, Any]]:
    """The class as a SQL expression over a members row at ``:at`` (lifecycle_rules.classify)."""
    idle = "(CAST(:at AS timestamptz) - coalesce(last_purchase_at, created_at))"
    whens = " ".join(f"WHEN {idle} >= make_interval(days => :{name}_days) THEN '{name}'"
                     for name, _ in rules.bands(t))
    params = {f"{name}_days": days for name, days in rules.bands(t)}
    return (f"CASE {whens} WHEN purchase_count >= :min_purchases THEN 'active' ELSE 'new' END",
            {**params, "min_purchases": t.active_min_purchases})


def reclassify(tx: Tx, t: rules.Thresholds, at: datetime, where: str, params: dict[str, Any]) -> list[Any]:
    """Set the class of the live members ``where`` selects whose class is not the one due at
    ``at``; the changed rows with their former class. Rows are locked in id order (no deadlock
    between a sale batch and the timer)."""
    case, case_params = _class_sql(t)
    return list(tx.execute(sa.text(f"""
        WITH due AS (
            SELECT id, lifecycle AS old, {case} AS new FROM members
            WHERE {where} AND {LIVE} AND {case} <> lifecycle
            ORDER BY id FOR UPDATE)
        UPDATE members m SET lifecycle = due.new, lifecycle_changed_at = :at FROM due WHERE m.id = due.id
        RETURNING m.id, due.old, due.new, m.last_purchase_at, m.purchase_count, m.registration_store"""),
        {**params, **case_params, "at": at}).all())


def record_purchases(tx: Tx, purchases: dict[str, tuple[datetime, int]]) -> list[str]:
    """Each member's latest purchase time and count (member -> (latest, how many)); the ids of
    the members found, locked in id order."""
    ids = sorted(purchases)
    found = [str(r) for r in tx.execute(sa.select(members.c.id).where(members.c.id.in_(ids))
                                        .order_by(members.c.id).with_for_update()).scalars()]
    if found:
        tx.execute(sa.text("""
            UPDATE members m SET last_purchase_at = greatest(m.last_purchase_at, s.at),
                                 purchase_count = m.purchase_count + s.n
            FROM unnest(CAST(:ids AS uuid[]), CAST(:ats AS timestamptz[]), CAST(:ns AS int[])) AS s(id, at, n)
            WHERE m.id = s.id"""), {"ids": found, "ats": [purchases[m][0] for m in found],
                                    "ns": [purchases[m][1] for m in found]})
    return found


def absorb_purchases(tx: Tx, survivor_id: str, merged_id: str) -> None:
    """A merge: the survivor's last purchase is the later of both, its count the sum."""
    tx.execute(sa.text("""
        UPDATE members s SET last_purchase_at = greatest(s.last_purchase_at, m.last_purchase_at),
                             purchase_count = s.purchase_count + m.purchase_count
        FROM members m WHERE s.id = :s AND m.id = :m"""), {"s": survivor_id, "m": merged_id})


def chunk_end(tx: Tx, after: str | None, size: int) -> str | None:
    """The last id of the next ``size`` members after ``after`` (None: the rest is smaller)."""
    stmt = sa.select(members.c.id).order_by(members.c.id).offset(size - 1).limit(1)
    if after is not None:
        stmt = stmt.where(members.c.id > after)
    found = tx.execute(stmt).scalar()
    return None if found is None else str(found)
