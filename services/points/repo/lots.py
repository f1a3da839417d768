"""The ledger and its lots: rows, lots taken and given back, summaries, history, job queries."""
from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert

from service_runtime.db import Tx
from services.points import domain
from services.points.tables import (
    ledger,
    lots,
    reminders,
)


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


_TAKE = sa.text("""
            UPDATE lots SET remaining = lots.remaining - x.take
            FROM unnest(CAST(:ids AS bigint[]), CAST(:takes AS bigint[])) AS x(id, take)
            WHERE lots.id = x.id AND lots.id = ANY(CAST(:ids AS bigint[]))""")


def take_from_lots(tx: Tx, taken: list[tuple[domain.Lot, int]]) -> None:
    """One statement however many lots (takes from one lot summed first)."""
    totals: dict[int, int] = {}
    for lot, take in taken:
        totals[lot.lot_id] = totals.get(lot.lot_id, 0) + take
    if totals:
        ids = sorted(totals)
        tx.execute(_TAKE, {"ids": ids, "takes": [totals[i] for i in ids]})


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


# never-expiring lots sort last (psycopg2 cannot read 'infinity' back as a datetime)
NEVER = datetime(9999, 12, 31, tzinfo=UTC)
_EXPIRY_ORDER = sa.func.coalesce(lots.c.expires_at, sa.literal(NEVER, sa.DateTime(timezone=True)))


def member_lots(tx: Tx, member_id: str, limit: int, after: tuple[datetime, int] | None) -> list[Any]:
    """Open lots, soonest expiry first (never-expiring last), after an (expiry, id) position."""
    query = sa.select(lots, _EXPIRY_ORDER.label("expiry_key")).where(lots.c.member_id == member_id,
                                                                     lots.c.remaining > 0)
    if after is not None:
        query = query.where(sa.tuple_(_EXPIRY_ORDER, lots.c.id) > sa.tuple_(
            sa.literal(after[0], sa.DateTime(timezone=True)), sa.literal(after[1], sa.BigInteger)))
    return list(tx.execute(query.order_by(_EXPIRY_ORDER, lots.c.id).limit(limit)).all())


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
