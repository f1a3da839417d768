"""The only code that touches the read model, segment and RFM tables: event projections, the
rule compiler (one SQL query over the read model) and the RFM recompute (window functions)."""
from __future__ import annotations

import time
import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert

from service_runtime.bulk import insert_rows, update_rows
from service_runtime.db import Tx
from services.campaigns import rfm
from services.campaigns.segment_rules import Condition, Group
from services.campaigns.segment_tables import (
    campaign_bonus,
    rfm_jobs,
    rm_members,
    rm_purchases,
    rm_scores,
    segment_snapshots,
    segments,
    snapshot_members,
)

M = rm_members
S = rm_scores


# ---- read model projections (each runs once per event: the inbox) --------------------------------
def _ensure_member(tx: Tx, member_id: str) -> None:
    tx.execute(pg_insert(M).values(member_id=member_id).on_conflict_do_nothing())


_PROFILE = ("store", "gender", "birthday", "tags")
# a member known already (an event of theirs came first) gets registration facts, and profile
# fields only if no newer profile update came first
_REGISTERED_UPSERT = (("member_id",), {
    "registered_at": "EXCLUDED.registered_at", "channel": "EXCLUDED.channel",
    **{c: f'CASE WHEN rm_members.profile_version = 0 THEN EXCLUDED."{c}" ELSE rm_members."{c}" END' for c in _PROFILE},
})


def members_registered(tx: Tx, registered: dict[str, dict[str, Any]]) -> None:
    """Open (or complete) members, by member id, in one statement (a member import is a burst)."""
    rows = [{"member_id": member_id, **values, "tags": values.get("tags") or []}
            for member_id, values in registered.items()]
    insert_rows(tx, M, rows, upsert=_REGISTERED_UPSERT)


def member_updated(tx: Tx, member_id: str, version: int, status: str, changes: dict[str, Any]) -> None:
    """Apply the segmentation fields of a newer profile version (older versions change nothing)."""
    _ensure_member(tx, member_id)
    values: dict[str, Any] = {"profile_version": version}
    if "registration_store" in changes:
        values["store"] = changes.pop("registration_store")
    if "tags" in changes:
        changes["tags"] = changes["tags"] or []
    values.update(changes)
    tx.execute(M.update().where(M.c.member_id == member_id, M.c.profile_version < version).values(**values))
    tx.execute(M.update().where(M.c.member_id == member_id, M.c.status.in_(("active", "frozen")))
               .values(status="frozen" if status == "frozen" else "active"))


def member_erased(tx: Tx, member_id: str) -> None:
    """Personal attributes go; purchase totals (not personal) stay for the chain's figures."""
    _ensure_member(tx, member_id)
    tx.execute(M.update().where(M.c.member_id == member_id).values(
        status="erased", gender=None, birthday=None, tags=[], profile_version=2**31 - 1))


def member_merged(tx: Tx, survivor_id: str, merged_id: str) -> None:
    """The merged member's purchases count for the survivor from now on."""
    _ensure_member(tx, survivor_id)
    _ensure_member(tx, merged_id)
    tx.execute(sa.text("""
        INSERT INTO rm_purchases (member_id, day, store, purchases, spend)
        SELECT :s, day, store, purchases, spend FROM rm_purchases WHERE member_id = :m
        ON CONFLICT (member_id, day, store) DO UPDATE
        SET purchases = rm_purchases.purchases + excluded.purchases, spend = rm_purchases.spend + excluded.spend"""),
        {"s": survivor_id, "m": merged_id})
    tx.execute(rm_purchases.delete().where(rm_purchases.c.member_id == merged_id))
    tx.execute(sa.text("""
        UPDATE rm_members s SET last_purchase_at = greatest(s.last_purchase_at, m.last_purchase_at)
        FROM rm_members m WHERE s.member_id = :s AND m.member_id = :m"""), {"s": survivor_id, "m": merged_id})
    tx.execute(M.update().where(M.c.member_id == merged_id).values(status="merged"))


def balance(tx: Tx, member_id: str, value: int, at: datetime) -> None:
    """The balance an event reported, unless a later event's balance is there already."""
    _ensure_member(tx, member_id)
    tx.execute(M.update().where(M.c.member_id == member_id,
                                sa.or_(M.c.balance_at.is_(None), M.c.balance_at <= at))
               .values(balance=value, balance_at=at))


def purchase(tx: Tx, member_id: str, store: str | None, at: datetime, count: int, amount: Decimal) -> None:
    """A sale (count 1, its amount) or a refund (count 0, minus the refunded amount) on its day."""
    stmt = pg_insert(rm_purchases).values(member_id=member_id, day=at.date(), store=store or "",
                                          purchases=count, spend=amount)
    tx.execute(stmt.on_conflict_do_update(index_elements=["member_id", "day", "store"], set_={
        "purchases": rm_purchases.c.purchases + stmt.excluded.purchases,
        "spend": rm_purchases.c.spend + stmt.excluded.spend}))
    if count > 0:
        tx.execute(M.update().where(M.c.member_id == member_id, sa.or_(
            M.c.last_purchase_at.is_(None), M.c.last_purchase_at < at)).values(last_purchase_at=at))


def sales_seen(tx: Tx, balances: dict[str, tuple[int, datetime]],
               purchases: list[tuple[str, str | None, datetime, int, Decimal]],
               bonuses: dict[tuple[str, str], tuple[int, Decimal]] | None = None) -> None:
    """A batch of points events in a few statements whatever its size: each member's latest
    balance (by event time, unless a later one is there already), the batch's purchases
    (member, store, time, count, amount) summed per member, day and store, and the bonus points
    (and their value) campaigns granted, by (campaign, store)."""
    if bonuses:
        insert_rows(tx, campaign_bonus, [{"campaign_id": c, "store": shop, "points": n, "value": value}
                                         for (c, shop), (n, value) in bonuses.items()],
                    upsert=(("campaign_id", "store"), {"points": "campaign_bonus.points + EXCLUDED.points",
                                                       "value": "campaign_bonus.value + EXCLUDED.value"}))
    insert_rows(tx, M, [{"member_id": m} for m in balances], on_conflict_do_nothing=True)
    update_rows(tx, M, [{"member_id": m, "balance": value, "balance_at": at} for m, (value, at) in balances.items()],
                key=["member_id"], values={"balance": "r.balance", "balance_at": "r.balance_at"},
                where="rm_members.balance_at IS NULL OR rm_members.balance_at <= r.balance_at")
    days: dict[tuple[str, date, str], list[Any]] = {}
    last: dict[str, datetime] = {}
    for member_id, shop, at, count, amount in purchases:
        day = days.setdefault((member_id, at.date(), shop or ""), [0, Decimal(0)])
        day[0] += count
        day[1] += amount
        if count > 0 and (member_id not in last or last[member_id] < at):
            last[member_id] = at
    insert_rows(tx, rm_purchases, [{"member_id": m, "day": d, "store": shop, "purchases": n, "spend": spend}
                                   for (m, d, shop), (n, spend) in days.items()],
                upsert=(("member_id", "day", "store"), {"purchases": "rm_purchases.purchases + EXCLUDED.purchases",
                                                        "spend": "rm_purchases.spend + EXCLUDED.spend"}))
    update_rows(tx, M, [{"member_id": m, "last_purchase_at": at} for m, at in last.items()], key=["member_id"],
                values={"last_purchase_at": "r.last_purchase_at"},
                where="rm_members.last_purchase_at IS NULL OR rm_members.last_purchase_at < r.last_purchase_at")


def bonus_granted(tx: Tx, campaign_id: str) -> dict[str, tuple[int, Decimal]]:
    """Bonus points and their value a points campaign granted, by store of sale."""
    rows = tx.execute(sa.select(campaign_bonus.c.store, campaign_bonus.c.points, campaign_bonus.c.value)
                      .where(campaign_bonus.c.campaign_id == campaign_id))
    return {r.store: (int(r.points), Decimal(r.value)) for r in rows}


def tier(tx: Tx, member_id: str, value: str) -> None:
    _ensure_member(tx, member_id)
    tx.execute(M.update().where(M.c.member_id == member_id).values(tier=value))


def read_member(tx: Tx, member_id: str) -> Any:
    return tx.execute(sa.select(M).where(M.c.member_id == member_id)).first()


def member_campaigns(tx: Tx, member_id: str) -> list[Any]:
    return list(tx.execute(sa.text("""
        SELECT cm.campaign_id, c.name, cm.control, cm.rewards FROM campaign_members cm
        JOIN campaigns c ON c.id = cm.campaign_id WHERE cm.member_id = :m ORDER BY c.created_at"""),
        {"m": member_id}).all())


def purchase_totals(tx: Tx, member_id: str) -> tuple[int, Decimal]:
    row = tx.execute(sa.select(sa.func.coalesce(sa.func.sum(rm_purchases.c.purchases), 0),
                               sa.func.coalesce(sa.func.sum(rm_purchases.c.spend), 0))
                     .where(rm_purchases.c.member_id == member_id)).one()
    return int(row[0]), Decimal(row[1])


# ---- the rule compiler ---------------------------------------------------------------------------
def _window(field: str, days: int, today: date) -> Any:
    column = rm_purchases.c.purchases if field == "purchase_count" else rm_purchases.c.spend
    return (sa.select(sa.func.coalesce(sa.func.sum(column), 0))
            .where(rm_purchases.c.member_id == M.c.member_id,
                   rm_purchases.c.day > sa.literal(today) - sa.literal(days))
            .scalar_subquery())


def _column(cond: Condition, today: date) -> Any:
    f = cond.field
    if f in ("tier", "store", "gender", "channel", "tags"):
        return M.c[f]
    if f == "age":
        return sa.extract("year", sa.func.age(sa.literal(today), M.c.birthday))
    if f == "birthday_month":
        return sa.extract("month", M.c.birthday)
    if f == "registered_at":
        return sa.cast(M.c.registered_at, sa.Date)
    if f == "days_since_last_purchase":
        return sa.literal(today) - sa.cast(M.c.last_purchase_at, sa.Date)
    if f in ("purchase_count", "spend"):
        assert cond.window_days is not None
        return _window(f, cond.window_days, today)
    if f == "points_balance":
        return M.c.balance
    if f in ("rfm_r", "rfm_f", "rfm_m"):
        return S.c[f[-1]]
    if f == "rfm_group":
        return S.c.rfm_group
    if f == "abcd":
        return S.c.abcd
    if f == "lifecycle":
        return S.c.lifecycle
    raise AssertionError(f)


def _condition(cond: Condition, today: date) -> Any:
    col = _column(cond, today)
    op, v = cond.op, cond.value
    if op == "is_null":
        return col.is_(None)
    if op == "not_null":
        return col.is_not(None)
    if op == "has":
        return col.contains([v])
    if op == "has_all":
        return col.contains(list(v))
    if op == "has_any":
        return col.overlap(list(v))
    if op == "has_none":
        return sa.not_(col.overlap(list(v)))
    if op == "between":
        return col.between(v[0], v[1])
    if op == "in":
        return col.in_(list(v))
    if op == "not_in":
        return sa.or_(col.is_(None), col.not_in(list(v)))
    if op == "ne":
        return sa.or_(col.is_(None), col != v)
    return {"eq": col.__eq__, "gt": col.__gt__, "gte": col.__ge__, "lt": col.__lt__, "lte": col.__le__}[op](v)


def _compile(node: Group | Condition, today: date) -> Any:
    if isinstance(node, Condition):
        return _condition(node, today)
    parts = [_compile(item, today) for item in node.items]
    if node.kind == "not":
        return sa.not_(parts[0])
    return sa.and_(*parts) if node.kind == "all" else sa.or_(*parts)


def segment_select(rule: Group, today: date, *columns: Any) -> Any:
    """One SELECT over the read model (scores joined only when the rule uses them), live members only."""
    return (sa.select(*columns).select_from(M.outerjoin(S, S.c.member_id == M.c.member_id))
            .where(M.c.status == "active", _compile(rule, today)))


def preview(tx: Tx, rule: Group, today: date, sample: int) -> tuple[int, list[Any]]:
    size = tx.execute(segment_select(rule, today, sa.func.count())).scalar_one()
    rows = tx.execute(segment_select(rule, today, M.c.member_id, M.c.tier, M.c.store, M.c.balance,
                                     M.c.last_purchase_at, S.c.rfm_group, S.c.abcd, S.c.lifecycle)
                      .order_by(M.c.member_id).limit(sample)).all()
    return int(size), list(rows)


def member_ids(tx: Tx, rule: Group, today: date, after: str | None, limit: int) -> list[str]:
    stmt = segment_select(rule, today, M.c.member_id).order_by(M.c.member_id).limit(limit)
    if after:
        stmt = stmt.where(M.c.member_id > after)
    return [str(r[0]) for r in tx.execute(stmt).all()]


# ---- segments and snapshots ----------------------------------------------------------------------
def add_segment(tx: Tx, segment_id: str, name: str, rule: dict[str, Any], created_by: str | None) -> Any:
    stmt = pg_insert(segments).values(id=segment_id, name=name, rule=rule, created_by=created_by)
    tx.execute(stmt.on_conflict_do_nothing())
    return get_segment(tx, segment_id)


def get_segment(tx: Tx, segment_id: str) -> Any:
    return tx.execute(sa.select(segments).where(segments.c.id == segment_id)).first()


def list_segments(tx: Tx, limit: int = 500, after: tuple[datetime, str] | None = None) -> list[Any]:
    """Oldest first (created_at, then id), after a (created_at, id) position."""
    stmt = sa.select(segments).order_by(segments.c.created_at, segments.c.id).limit(limit)
    if after is not None:
        stmt = stmt.where(sa.tuple_(segments.c.created_at, segments.c.id) > sa.tuple_(
            sa.literal(after[0]), sa.cast(after[1], segments.c.id.type)))
    return list(tx.execute(stmt).all())


def take_snapshot(tx: Tx, snapshot_id: str, segment: Any, rule: Group, today: date) -> Any:
    """Materialise the members the rule selects now, in one INSERT ... SELECT (idempotent by id)."""
    existing = get_snapshot(tx, snapshot_id)
    if existing is not None:
        return existing
    tx.execute(segment_snapshots.insert().values(id=snapshot_id, segment_id=segment.id, size=0, rule=segment.rule))
    select = segment_select(rule, today, sa.literal(snapshot_id).label("snapshot_id"), M.c.member_id)
    size = tx.execute(snapshot_members.insert().from_select(["snapshot_id", "member_id"], select)).rowcount
    tx.execute(segment_snapshots.update().where(segment_snapshots.c.id == snapshot_id).values(size=size))
    return get_snapshot(tx, snapshot_id)


def get_snapshot(tx: Tx, snapshot_id: str) -> Any:
    return tx.execute(sa.select(segment_snapshots).where(segment_snapshots.c.id == snapshot_id)).first()


def snapshot_member_ids(tx: Tx, snapshot_id: str, after: str | None, limit: int) -> list[str]:
    stmt = (sa.select(snapshot_members.c.member_id).where(snapshot_members.c.snapshot_id == snapshot_id)
            .order_by(snapshot_members.c.member_id).limit(limit))
    if after:
        stmt = stmt.where(snapshot_members.c.member_id > after)
    return [str(r[0]) for r in tx.execute(stmt).all()]


# ---- RFM recompute --------------------------------------------------------------------------------
def add_rfm_job(tx: Tx, params: rfm.RfmParams, requested_by: str | None) -> Any:
    return tx.execute(rfm_jobs.insert().values(id=str(uuid.uuid4()), params=params.to_json(),
                                               requested_by=requested_by).returning(*rfm_jobs.c)).one()


def get_rfm_job(tx: Tx, job_id: str) -> Any:
    return tx.execute(sa.select(rfm_jobs).where(rfm_jobs.c.id == job_id)).first()


def claim_rfm_job(tx: Tx, job_id: str | None = None) -> Any:
    """A queued job (this one, or the oldest), marked running; None if there is none or another
    worker has it (SKIP LOCKED: two timers never run the same job)."""
    stmt = sa.select(rfm_jobs.c.id).where(rfm_jobs.c.status == "queued")
    if job_id is not None:
        stmt = stmt.where(rfm_jobs.c.id == job_id)
    row = tx.execute(stmt.order_by(rfm_jobs.c.created_at).limit(1).with_for_update(skip_locked=True)).first()
    if row is None:
        return None
    return tx.execute(rfm_jobs.update().where(rfm_jobs.c.id == row.id).values(
        status="running", started_at=sa.func.clock_timestamp()).returning(*rfm_jobs.c)).one()


def rfm_progress(tx: Tx, job_id: str, steps_done: int, **values: Any) -> None:
    tx.execute(rfm_jobs.update().where(rfm_jobs.c.id == job_id).values(steps_done=steps_done, **values))


RFM_WORK_MEM = "64MB"  # per sort: the four window sorts stay in memory instead of spilling to disk


def _group_case() -> str:
    fm = "((f + m + 1) / 2)"
    whens = " ".join(f"WHEN r BETWEEN {r_lo} AND {r_hi} AND {fm} BETWEEN {fm_lo} AND {fm_hi} THEN '{name}'"
                     for name, r_lo, r_hi, fm_lo, fm_hi in rfm.RFM_GROUPS)
    return f"CASE {whens} END"


def compute_stats(conn: sa.Connection, params: rfm.RfmParams, today: date) -> int:
    """Step 1: per-member recency/frequency/monetary over the window into a temporary table."""
    conn.execute(sa.text(f"SET LOCAL work_mem = '{RFM_WORK_MEM}'"))
    conn.execute(sa.text("DROP TABLE IF EXISTS rfm_stats"))
    conn.execute(sa.text("""
        CREATE TEMPORARY TABLE rfm_stats ON COMMIT DROP AS
        SELECT member_id, :today - max(day) AS recency_days, sum(purchases)::int AS frequency, sum(spend) AS monetary,
               (sum(spend) * 100)::bigint AS cents
        FROM rm_purchases WHERE day > :since
        GROUP BY member_id HAVING sum(purchases) > 0"""), {"today": today, "since": date.fromordinal(
        today.toordinal() - params.window_days)})
    return int(conn.execute(sa.text("SELECT count(*) FROM rfm_stats")).scalar_one())


def build_scores(conn: sa.Connection, params: rfm.RfmParams, today: date) -> int:
    """Step 2: quintiles (ntile), ABCD (cumulative revenue share) and lifecycle for every live
    member, into a new table beside the current scores (readers keep reading those meanwhile)."""
    a, b, c = params.abcd_cuts
    conn.execute(sa.text("DROP TABLE IF EXISTS rm_scores_next"))
    # the primary key is built once after the load (a sort) instead of row by row (twice as fast)
    conn.execute(sa.text("CREATE TABLE rm_scores_next (LIKE rm_scores INCLUDING DEFAULTS)"))
    result = conn.execute(sa.text(f"""
        WITH scored AS (
            SELECT member_id, recency_days, frequency, monetary,
                   ntile(5) OVER (ORDER BY recency_days DESC) AS r,
                   ntile(5) OVER (ORDER BY frequency) AS f,
                   ntile(5) OVER by_spend AS m,
                   sum(cents) OVER () - sum(cents) OVER by_spend AS before_me,  -- revenue of bigger spenders
                   sum(cents) OVER () AS total
            FROM rfm_stats
            WINDOW by_spend AS (ORDER BY cents ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW))
        INSERT INTO rm_scores_next (member_id, recency_days, frequency, monetary, r, f, m, rfm_group, abcd,
                                    lifecycle)
        SELECT mm.member_id, s.recency_days, s.frequency, s.monetary, s.r, s.f, s.m,
               CASE WHEN s.r IS NOT NULL THEN {_group_case()} END,
               CASE WHEN s.member_id IS NULL THEN NULL
                    WHEN s.total <= 0 OR s.before_me < s.total * :a THEN 'A'
                    WHEN s.before_me < s.total * :b THEN 'B'
                    WHEN s.before_me < s.total * :c THEN 'C' ELSE 'D' END,
               CASE WHEN mm.registered_at >= CAST(:today AS date) - :new_days THEN 'new'
                    WHEN mm.last_purchase_at IS NULL THEN 'dormant'
                    WHEN CAST(mm.last_purchase_at AS date) > CAST(:today AS date) - :active_days THEN 'active'
                    WHEN CAST(mm.last_purchase_at AS date) > CAST(:today AS date) - :recent_days THEN 'recently_lapsed'
                    WHEN CAST(mm.last_purchase_at AS date) > CAST(:today AS date) - :lapsed_days THEN 'lapsed'
                    ELSE 'dormant' END
        FROM rm_members mm LEFT JOIN scored s ON s.member_id = mm.member_id
        WHERE mm.status IN ('active', 'frozen')"""),
        {"a": a, "b": b, "c": c, "today": today, "new_days": params.new_days, "active_days": params.active_days,
         "recent_days": params.recently_lapsed_days, "lapsed_days": params.lapsed_days})
    conn.execute(sa.text("ALTER TABLE rm_scores_next ADD CONSTRAINT rm_scores_next_pkey PRIMARY KEY (member_id)"))
    return int(result.rowcount)


def swap_scores(conn: sa.Connection, tries: int = 10) -> None:
    """Step 3: the new scores replace the old ones, under an exclusive lock held for moments only
    (until the recompute commits, right after). A reader still on the old table makes the swap
    wait at most 2 s a try; it then tries again rather than stall every reader queued behind it."""
    for attempt in range(1, tries + 1):
        try:
            with conn.begin_nested():
                conn.execute(sa.text("SET LOCAL lock_timeout = '2s'"))
                conn.execute(sa.text("DROP TABLE rm_scores"))
                conn.execute(sa.text("ALTER TABLE rm_scores_next RENAME TO rm_scores"))
                conn.execute(sa.text("ALTER TABLE rm_scores RENAME CONSTRAINT rm_scores_next_pkey TO rm_scores_pkey"))
                conn.execute(sa.text("SET LOCAL lock_timeout = 0"))
            return
        except sa.exc.OperationalError:
            if attempt == tries:
                raise
            time.sleep(0.5)
