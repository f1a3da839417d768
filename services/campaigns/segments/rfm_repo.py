"""The only code that touches the RFM tables: jobs and the recompute (window functions)."""
from __future__ import annotations

import time
import uuid
from datetime import date
from typing import Any

import sqlalchemy as sa

from service_runtime.db import Tx
from services.campaigns.segments import rfm
from services.campaigns.segments.tables import (
    rfm_jobs,
    rm_members,
    rm_scores,
)

M = rm_members
S = rm_scores


# ---- RFM recompute --------------------------------------------------------------------------------
def add_rfm_job(tx: Tx, params: rfm.RfmParams, requested_by: str | None) -> Any:
    return tx.execute(rfm_jobs.insert().values(id=str(uuid.uuid4()), params=params.to_json(),
                                               requested_by=requested_by).returning(*rfm_jobs.c)).one()


def job_row(conn: sa.Connection, job_id: str) -> Any:
    return conn.execute(sa.select(rfm_jobs).where(rfm_jobs.c.id == job_id)).one()


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
