"""The gateway's durable import jobs: the only code that touches import_jobs and its chunks.

A job is pending until its last batch is in; a runner holds it under a lease (owner and
lease_until), renewed with each step of progress, so a job whose gateway died is taken over by
another runner once the lease runs out.
"""
from __future__ import annotations

from typing import IO, Any

import sqlalchemy as sa

from services.gateway.tables import import_job_chunks, import_jobs

CHUNK_BYTES = 1 << 20


def _lease(seconds: float) -> Any:
    return sa.func.now() + sa.func.make_interval(0, 0, 0, 0, 0, 0, seconds)


def save_upload(engine: sa.Engine, job_id: str, fmt: str, encoding: str, caller: str, request_id: str | None,
                spool: IO[bytes]) -> int:
    """Store the job and its whole file in one transaction (a job never exists with half a file)."""
    spool.seek(0)
    size = 0
    with engine.begin() as conn:
        conn.execute(import_jobs.insert().values(job_id=job_id, format=fmt, encoding=encoding, caller=caller,
                                                 request_id=request_id, size=0))
        for seq, data in enumerate(iter(lambda: spool.read(CHUNK_BYTES), b"")):
            conn.execute(import_job_chunks.insert().values(job_id=job_id, seq=seq, data=data))
            size += len(data)
        conn.execute(import_jobs.update().where(import_jobs.c.job_id == job_id).values(size=size))
    return size


def claim_next(engine: sa.Engine, owner: str, lease_seconds: float) -> Any | None:
    """The oldest pending job nobody holds, now held by ``owner``; None if there is none."""
    free = (sa.select(import_jobs.c.job_id)
            .where(import_jobs.c.status == "pending",
                   sa.or_(import_jobs.c.lease_until.is_(None), import_jobs.c.lease_until < sa.func.now()))
            .order_by(import_jobs.c.created_at).limit(1).with_for_update(skip_locked=True).scalar_subquery())
    with engine.begin() as conn:
        return conn.execute(import_jobs.update().where(import_jobs.c.job_id == free)
                            .values(owner=owner, lease_until=_lease(lease_seconds),
                                    attempts=import_jobs.c.attempts + 1)
                            .returning(*import_jobs.c)).first()


def copy_file(engine: sa.Engine, job_id: str, out: IO[bytes]) -> None:
    """Write the stored file to ``out``, a chunk at a time (memory stays flat)."""
    seq = 0
    with engine.connect() as conn:
        while True:
            data = conn.execute(sa.select(import_job_chunks.c.data).where(
                import_job_chunks.c.job_id == job_id, import_job_chunks.c.seq == seq)).scalar()
            if data is None:
                break
            out.write(data)
            seq += 1
    out.flush()
    out.seek(0)


def advance(engine: sa.Engine, job_id: str, owner: str, next_batch: int, lease_seconds: float) -> bool:
    """Record that every batch before ``next_batch`` is in and renew the lease; False if the
    lease was lost (another runner took the job: stop)."""
    with engine.begin() as conn:
        return conn.execute(import_jobs.update()
                            .where(import_jobs.c.job_id == job_id, import_jobs.c.owner == owner,
                                   import_jobs.c.status == "pending")
                            .values(next_batch=sa.func.greatest(import_jobs.c.next_batch, next_batch),
                                    lease_until=_lease(lease_seconds))).rowcount == 1


def release(engine: sa.Engine, job_id: str, owner: str, error: str | None, retry_seconds: float) -> None:
    """Let the job go, to be taken again after ``retry_seconds`` (by any runner)."""
    with engine.begin() as conn:
        conn.execute(import_jobs.update().where(import_jobs.c.job_id == job_id, import_jobs.c.owner == owner)
                     .values(owner=None, lease_until=_lease(retry_seconds), last_error=error))


def finish(engine: sa.Engine, job_id: str, owner: str, error: str | None) -> None:
    """The job is over (done, or failed for a reason a retry cannot change): its file goes."""
    with engine.begin() as conn:
        finished = conn.execute(import_jobs.update()
                                .where(import_jobs.c.job_id == job_id, import_jobs.c.owner == owner)
                                .values(status="failed" if error else "done", last_error=error, owner=None,
                                        lease_until=None, finished_at=sa.func.now())).rowcount
        if finished:
            conn.execute(import_job_chunks.delete().where(import_job_chunks.c.job_id == job_id))


def job(engine: sa.Engine, job_id: str) -> Any | None:
    with engine.connect() as conn:
        return conn.execute(sa.select(import_jobs).where(import_jobs.c.job_id == job_id)).first()
