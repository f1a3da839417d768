"""The only code that touches the campaign tables (campaigns, history, audience, outcomes)."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert

from service_runtime.db import Tx
from services.campaigns.segment_tables import campaign_history, campaign_members, campaign_outcomes, campaigns

C = campaigns


def add(tx: Tx, values: dict[str, Any], actor: str | None) -> tuple[Any, bool]:
    """(row, created): an existing id is returned as it is (a retry)."""
    created = tx.execute(pg_insert(C).values(**values, created_by=actor).on_conflict_do_nothing()).rowcount == 1
    if created:
        history(tx, values["id"], None, "draft", actor, "created")
    return get(tx, values["id"]), created


def get(tx: Tx, campaign_id: str, lock: bool = False) -> Any:
    stmt = sa.select(C).where(C.c.id == campaign_id)
    return tx.execute(stmt.with_for_update() if lock else stmt).first()


def listing(tx: Tx, status: str | None, limit: int = 500, after: tuple[datetime, str] | None = None) -> list[Any]:
    """Newest first (created_at, then id), after a (created_at, id) position."""
    stmt = sa.select(C).order_by(C.c.created_at.desc(), C.c.id.desc()).limit(limit)
    if status:
        stmt = stmt.where(C.c.status == status)
    if after is not None:
        stmt = stmt.where(sa.tuple_(C.c.created_at, C.c.id) < sa.tuple_(sa.literal(after[0]),
                                                                         sa.cast(after[1], C.c.id.type)))
    return list(tx.execute(stmt).all())


def history(tx: Tx, campaign_id: str, old: str | None, new: str, actor: str | None, note: str | None) -> None:
    tx.execute(campaign_history.insert().values(campaign_id=campaign_id, from_status=old, to_status=new,
                                                actor=actor, note=note))


def history_of(tx: Tx, campaign_id: str, limit: int = 500, after: int | None = None) -> list[Any]:
    """Oldest first, after the entry numbered ``after``."""
    stmt = (sa.select(campaign_history).where(campaign_history.c.campaign_id == campaign_id)
            .order_by(campaign_history.c.id).limit(limit))
    if after is not None:
        stmt = stmt.where(campaign_history.c.id > after)
    return list(tx.execute(stmt).all())


def set_status(tx: Tx, row: Any, new: str, actor: str | None, note: str | None = None, **values: Any) -> Any:
    updated = tx.execute(C.update().where(C.c.id == row.id).values(status=new, version=C.c.version + 1, **values)
                         .returning(*C.c)).one()
    history(tx, str(row.id), row.status, new, actor, note)
    return updated


def set_spec(tx: Tx, row: Any, spec: dict[str, Any], actor: str | None, note: str) -> Any:
    updated = tx.execute(C.update().where(C.c.id == row.id).values(spec=spec, version=C.c.version + 1)
                         .returning(*C.c)).one()
    history(tx, str(row.id), row.status, row.status, actor, note)
    return updated


def fill_audience(tx: Tx, campaign_id: str, snapshot_id: str, threshold: int) -> int:
    """The snapshot's members, each in the control group or not by a hash of (campaign, member):
    the same formula as campaign_rules.control_bucket. Idempotent (primary key)."""
    return int(tx.execute(sa.text("""
        INSERT INTO campaign_members (campaign_id, member_id, control, store)
        SELECT :c, sm.member_id,
               (('x' || substr(md5(:c || ':' || sm.member_id::text), 1, 8))::bit(32)::bigint % 10000) < :t,
               m.store
        FROM snapshot_members sm LEFT JOIN rm_members m ON m.member_id = sm.member_id
        WHERE sm.snapshot_id = :s
        ON CONFLICT DO NOTHING"""), {"c": campaign_id, "s": snapshot_id, "t": threshold}).rowcount)


def grant(tx: Tx, campaign_id: str, per_member_limit: int, cap: int | None,
          member_id: str | None = None) -> list[tuple[str, int]]:
    """Count one more reward for treated members (all, or one) under their per-member limit and
    within the campaign's cap; returns who got one, with its number (their 1st, 2nd...). Run under
    the campaign's row lock, so concurrent grants never pass the cap."""
    remaining = None
    if cap is not None:
        remaining = cap - rewards_given(tx, campaign_id)
        if remaining <= 0:
            return []
    return [(str(r[0]), int(r[1])) for r in tx.execute(sa.text("""
        UPDATE campaign_members SET rewards = rewards + 1
        WHERE campaign_id = :c AND member_id IN (
            SELECT member_id FROM campaign_members
            WHERE campaign_id = :c AND NOT control AND rewards < :limit
              AND (CAST(:m AS uuid) IS NULL OR member_id = CAST(:m AS uuid))
            ORDER BY member_id LIMIT :remaining)
        RETURNING member_id, rewards"""), {"c": campaign_id, "limit": per_member_limit, "m": member_id,
                                  "remaining": remaining}).all()]


def rewards_given(tx: Tx, campaign_id: str) -> int:
    return int(tx.execute(sa.select(sa.func.coalesce(sa.func.sum(campaign_members.c.rewards), 0))
                          .where(campaign_members.c.campaign_id == campaign_id)).scalar_one())


def live_of_type(tx: Tx, kind: str, now: datetime) -> list[Any]:
    return list(tx.execute(sa.select(C.c.id).where(C.c.type == kind, C.c.status == "running", C.c.starts_at <= now,
                                                   C.c.ends_at > now)).all())


def treated(tx: Tx, campaign_id: str, limit: int | None = None, after: str | None = None) -> list[Any]:
    """Treated members in member id order (a page of ``limit`` after ``after``, or all)."""
    stmt = (sa.select(campaign_members.c.member_id, campaign_members.c.store)
            .where(campaign_members.c.campaign_id == campaign_id, campaign_members.c.control.is_(False))
            .order_by(campaign_members.c.member_id))
    if after is not None:
        stmt = stmt.where(campaign_members.c.member_id > after)
    return list(tx.execute(stmt.limit(limit) if limit is not None else stmt).all())


def audience_counts(tx: Tx, campaign_id: str) -> tuple[int, int]:
    row = tx.execute(sa.select(sa.func.count().filter(campaign_members.c.control.is_(False)),
                               sa.func.count().filter(campaign_members.c.control.is_(True)))
                     .where(campaign_members.c.campaign_id == campaign_id)).one()
    return int(row[0]), int(row[1])


def due(tx: Tx, now: datetime) -> list[Any]:
    """Campaigns the timer moves: scheduled ones whose start came, live ones whose end came."""
    return list(tx.execute(sa.select(C.c.id).where(sa.or_(
        sa.and_(C.c.status == "scheduled", C.c.starts_at <= now),
        sa.and_(C.c.status.in_(("scheduled", "running", "paused")), C.c.ends_at <= now)))).all())


def running_member_days(tx: Tx) -> list[Any]:
    return list(tx.execute(sa.select(C).where(C.c.status == "running", C.c.type == "member_day")).all())


def record_outcome(tx: Tx, message_id: str, campaign_id: str, member_id: str | None, status: str,
                   at: datetime) -> None:
    """The latest status of a message (an older outcome arriving late does not overwrite a newer one)."""
    stmt = pg_insert(campaign_outcomes).values(message_id=message_id, campaign_id=campaign_id, member_id=member_id,
                                               status=status, at=at)
    tx.execute(stmt.on_conflict_do_update(index_elements=["message_id"],
                                          set_={"status": stmt.excluded.status, "at": stmt.excluded.at},
                                          where=campaign_outcomes.c.at <= stmt.excluded.at))


def results(tx: Tx, campaign_id: str, first: date, last: date) -> list[Any]:
    """Per home store and group (treated/control): members, delivered, buyers and their spend in
    the attribution window, from the read model."""
    return list(tx.execute(sa.text("""
        WITH bought AS (
            SELECT p.member_id, sum(p.spend) AS spend
            FROM campaign_members cm JOIN rm_purchases p ON p.member_id = cm.member_id
            WHERE cm.campaign_id = :c AND p.day BETWEEN :first AND :last
            GROUP BY p.member_id HAVING sum(p.purchases) > 0),
        delivered AS (
            SELECT DISTINCT member_id FROM campaign_outcomes
            WHERE campaign_id = :c AND status IN ('sent', 'delivered'))
        SELECT coalesce(cm.store, '') AS store, cm.control, count(*) AS members,
               count(d.member_id) AS delivered, count(b.member_id) AS converted,
               coalesce(sum(b.spend), 0) AS spend
        FROM campaign_members cm
        LEFT JOIN bought b ON b.member_id = cm.member_id
        LEFT JOIN delivered d ON d.member_id = cm.member_id
        WHERE cm.campaign_id = :c
        GROUP BY 1, 2"""), {"c": campaign_id, "first": first, "last": last}).all())
