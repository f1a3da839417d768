"""RFM, ABCD and lifecycle scores: queued jobs, run by the timer or on request."""
from __future__ import annotations

import logging
from datetime import date
from typing import Any

import sqlalchemy as sa

from contracts.campaigns import RfmJobOut
from services.campaigns.segments import rfm
from services.campaigns.segments import rfm_repo as repo

log = logging.getLogger(__name__)
RFM_LOCK = 0x52464D  # advisory lock key of the recompute ("RFM")


def job_out(row: Any) -> dict[str, Any]:
    return RfmJobOut(job_id=str(row.id), status=row.status, params=row.params, steps_done=row.steps_done,
                     steps_total=row.steps_total, members_scored=row.members_scored, error=row.error,
                     created_at=row.created_at, started_at=row.started_at,
                     finished_at=row.finished_at).model_dump(mode="json")


def run_rfm(engine: sa.Engine, job_id: str, params: rfm.RfmParams, today: date) -> dict[str, Any]:
    """The recompute: stats, then scores in one transaction (the old scores stay readable until it
    commits); progress is recorded in separate short transactions so it is visible meanwhile."""
    try:
        with engine.begin() as conn:
            # one recompute at a time: two building and swapping the score tables at once deadlock
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": RFM_LOCK})
            with engine.begin() as progress:
                progress.execute(sa.text("UPDATE rfm_jobs SET steps_done = 0 WHERE id = :j"), {"j": job_id})
            repo.compute_stats(conn, params, today)
            with engine.begin() as progress:
                progress.execute(sa.text("UPDATE rfm_jobs SET steps_done = 1 WHERE id = :j"), {"j": job_id})
            scored = repo.build_scores(conn, params, today)
            repo.swap_scores(conn)
            conn.execute(sa.text("""UPDATE rfm_jobs SET steps_done = 3, status = 'done', members_scored = :n,
                                    finished_at = clock_timestamp() WHERE id = :j"""), {"n": scored, "j": job_id})
    except Exception as exc:
        log.exception("rfm job %s failed", job_id)
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE rfm_jobs SET status = 'failed', error = :e, finished_at = clock_timestamp() "
                                 "WHERE id = :j"), {"e": str(exc)[:500], "j": job_id})
        raise
    with engine.connect() as conn:
        return job_out(repo.job_row(conn, job_id))
