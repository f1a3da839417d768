"""The only code that touches the campaign tables (campaigns, history, audience, outcomes)."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert

from service_runtime.db import Tx
from services.campaigns.campaigns.tables import (
    campaign_history,
    campaign_members,
    campaign_outcomes,
    campaigns,
)

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
    the same formula as rules.control_bucket. Idempotent (primary key)."""
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


def live_triggered(tx: Tx, to_class: str, now: datetime) -> list[Any]:
    """Running campaigns that trigger on members turning into this lifecycle class."""
    return list(tx.execute(sa.select(C.c.id).where(C.c.spec["trigger_lifecycle"].astext == to_class,
                                                   C.c.status == "running", C.c.starts_at <= now,
                                                   C.c.ends_at > now)).all())


def triggered_classes(tx: Tx) -> set[str]:
    """The lifecycle classes some running campaign triggers on."""
    return {str(c) for c in tx.execute(sa.select(C.c.spec["trigger_lifecycle"].astext).distinct().where(
        C.c.status == "running", C.c.spec["trigger_lifecycle"].astext.is_not(None))).scalars()}


def enrol(tx: Tx, campaign_id: str, member_id: str, threshold: int) -> None:
    """One member joins the audience (control or not by the launch's formula); idempotent."""
    tx.execute(sa.text("""
        INSERT INTO campaign_members (campaign_id, member_id, control, store)
        SELECT :c, m.member_id,
               (('x' || substr(md5(:c || ':' || m.member_id::text), 1, 8))::bit(32)::bigint % 10000) < :t, m.store
        FROM rm_members m WHERE m.member_id = :m
        ON CONFLICT DO NOTHING"""), {"c": campaign_id, "m": member_id, "t": threshold})


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


_ATTRIBUTE_REFUNDS = sa.text("""
    UPDATE campaign_sales cs SET refunded = least(cs.amount, cs.refunded + r.amount)
    FROM unnest(CAST(:s AS text[]), CAST(:t AS text[]), CAST(:x AS numeric[])) AS r(store, ref, amount)
    WHERE cs.store = r.store AND cs.transaction_id = r.ref""")


def attribute_sales(tx: Tx, sales: list[tuple[str, str | None, str, datetime, Decimal]]) -> None:
    """Sales (member, store, transaction id, time, amount) of members in a launched campaign's
    audience (treated or control), each in every campaign whose window [launch, launch +
    attribution_days) holds its time. One statement per batch; a replay adds nothing."""
    if not sales:
        return
    tx.execute(sa.text("""
        INSERT INTO campaign_sales (campaign_id, store, transaction_id, member_id, at, amount)
        SELECT cm.campaign_id, s.store, s.ref, cm.member_id, s.at, s.amount
        FROM unnest(CAST(:m AS uuid[]), CAST(:s AS text[]), CAST(:r AS text[]), CAST(:a AS timestamptz[]),
                    CAST(:x AS numeric[])) AS s(member_id, store, ref, at, amount)
        JOIN campaign_members cm ON cm.member_id = s.member_id
        JOIN campaigns c ON c.id = cm.campaign_id
        WHERE c.launched_at IS NOT NULL AND s.at >= c.launched_at
          AND s.at < c.launched_at + make_interval(days => c.attribution_days)
        ON CONFLICT DO NOTHING"""),
        {"m": [m for m, *_ in sales], "s": [shop or "" for _, shop, *_ in sales], "r": [r for _, _, r, _, _ in sales],
         "a": [at for *_, at, _ in sales], "x": [amount for *_, amount in sales]})


def attribute_refunds(tx: Tx, refunds: dict[tuple[str, str], Decimal]) -> None:
    """Refunds (amount by store and transaction id) of attributed sales take their amount off
    those sales (never below zero), whenever they come: attributed sales are net of their
    refunds. One statement; summed first, which gives what one at a time would (amounts > 0)."""
    if not refunds:
        return
    tx.execute(_ATTRIBUTE_REFUNDS, {"s": [s for s, _ in refunds], "t": [t for _, t in refunds],
                                    "x": list(refunds.values())})


def results(tx: Tx, campaign_id: str) -> list[Any]:
    """Per home store and group (treated/control): members, delivered, converted (members with
    an attributed sale not refunded in full) and attributed sales net of refunds."""
    return list(tx.execute(sa.text("""
        WITH bought AS (
            SELECT member_id, sum(amount - refunded) AS spend,
                   bool_or(refunded = 0 OR refunded < amount) AS converted
            FROM campaign_sales WHERE campaign_id = :c GROUP BY member_id),
        delivered AS (
            SELECT DISTINCT member_id FROM campaign_outcomes
            WHERE campaign_id = :c AND status IN ('sent', 'delivered'))
        SELECT coalesce(cm.store, '') AS store, cm.control, count(*) AS members,
               count(d.member_id) AS delivered, count(*) FILTER (WHERE b.converted) AS converted,
               coalesce(sum(b.spend), 0) AS spend
        FROM campaign_members cm
        LEFT JOIN bought b ON b.member_id = cm.member_id
        LEFT JOIN delivered d ON d.member_id = cm.member_id
        WHERE cm.campaign_id = :c
        GROUP BY 1, 2"""), {"c": campaign_id}).all())
