"""The only code that touches the files adapter's tables: runs (the durable cursor), their
per-row errors and the chunks of uploaded files.

A run is pending until its last batch is in; a worker holds it under a lease renewed with each
batch, so a run whose worker died is taken over once the lease runs out and resumes at
``next_batch``."""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert

from service_runtime.db import Tx
from services.catalog.tables import file_chunks, file_errors, file_runs

R = file_runs


def _lease(seconds: float) -> Any:
    return sa.func.now() + sa.func.make_interval(0, 0, 0, 0, 0, 0, seconds)


def register(tx: Tx, source: str, name: str, size: int, mtime: int | None, kind: str, mode: str | None, fmt: str,
             status: str = "pending", created_by: str | None = None) -> Any | None:
    """A run for a file not seen before (by source, name, size and mtime); None when it was seen."""
    values = {"id": str(uuid.uuid4()), "source": source, "name": name, "size": size, "mtime": mtime, "kind": kind,
              "mode": mode, "format": fmt, "status": status, "created_by": created_by}
    stmt = pg_insert(R).values(**values)
    if source != "api":
        stmt = stmt.on_conflict_do_nothing(index_elements=["source", "name", "size", "mtime"],
                                           index_where=sa.text("source <> 'api'"))
    return tx.execute(stmt.returning(*R.c)).first()


def claim(tx: Tx, owner: str, lease_seconds: float, source: str | None = None) -> Any | None:
    """The oldest pending run nobody holds (of one source, or any), now held by ``owner``."""
    free = sa.select(R.c.id).where(R.c.status == "pending",
                                   sa.or_(R.c.lease_until.is_(None), R.c.lease_until < sa.func.now()))
    if source is not None:
        free = free.where(R.c.source == source)
    chosen = free.order_by(R.c.created_at).limit(1).with_for_update(skip_locked=True).scalar_subquery()
    return tx.execute(R.update().where(R.c.id == chosen)
                      .values(owner=owner, lease_until=_lease(lease_seconds), attempts=R.c.attempts + 1)
                      .returning(*R.c)).first()


def advance(tx: Tx, run_id: str, owner: str, next_batch: int, ok: int, failed: int, lease_seconds: float,
            target_ref: str | None = None) -> bool:
    """Every batch before ``next_batch`` is in (its counts added); the lease renewed. False when
    the lease was lost (another worker took the run over: stop)."""
    values: dict[str, Any] = {"next_batch": next_batch, "rows_ok": R.c.rows_ok + ok,
                              "rows_failed": R.c.rows_failed + failed, "lease_until": _lease(lease_seconds)}
    if target_ref is not None:
        values["target_ref"] = target_ref
    return tx.execute(R.update().where(R.c.id == run_id, R.c.owner == owner, R.c.status == "pending",
                                       R.c.next_batch < next_batch).values(**values)).rowcount == 1


def set_target(tx: Tx, run_id: str, owner: str, target_ref: str) -> None:
    tx.execute(R.update().where(R.c.id == run_id, R.c.owner == owner).values(target_ref=target_ref))


def set_sha(tx: Tx, run_id: str, sha256: str) -> None:
    tx.execute(R.update().where(R.c.id == run_id).values(sha256=sha256))


def same_content_done(tx: Tx, run_id: str, kind: str, sha256: str) -> Any | None:
    """A finished run of the same kind and content (the file renamed or touched and dropped again)."""
    return tx.execute(sa.select(R.c.id, R.c.name).where(R.c.sha256 == sha256, R.c.kind == kind, R.c.id != run_id,
                                                        R.c.status == "done").limit(1)).first()


def release(tx: Tx, run_id: str, owner: str, error: str, retry_seconds: float) -> None:
    tx.execute(R.update().where(R.c.id == run_id, R.c.owner == owner)
               .values(owner=None, lease_until=_lease(retry_seconds), last_error=error))


def finish(tx: Tx, run_id: str, owner: str | None, status: str, error: str | None) -> bool:
    """The run is over (done, failed for a reason a retry cannot change, or skipped): its chunks go."""
    stmt = R.update().where(R.c.id == run_id, R.c.status == "pending")
    if owner is not None:
        stmt = stmt.where(R.c.owner == owner)
    over = tx.execute(stmt.values(status=status, last_error=error, owner=None, lease_until=None,
                                  finished_at=sa.func.now())).rowcount == 1
    if over:
        tx.execute(file_chunks.delete().where(file_chunks.c.run_id == run_id))
    return over


def add_errors(tx: Tx, run_id: str, errors: list[tuple[int, str | None, str]]) -> None:
    if errors:
        tx.execute(pg_insert(file_errors).values([{"run_id": run_id, "line": line, "field": field, "message": msg}
                                                  for line, field, msg in errors]).on_conflict_do_nothing())


def errors(tx: Tx, run_id: str, after_line: int, limit: int) -> list[Any]:
    E = file_errors
    return list(tx.execute(sa.select(E).where(E.c.run_id == run_id, E.c.line > after_line)
                           .order_by(E.c.line).limit(limit)).all())


def get(tx: Tx, run_id: str) -> Any | None:
    return tx.execute(sa.select(R).where(R.c.id == run_id)).first()


def page(tx: Tx, after: str | None, limit: int, source: str | None = None) -> list[Any]:
    """Runs newest first (by id within the same second)."""
    stmt = sa.select(R).order_by(R.c.created_at.desc(), R.c.id.desc()).limit(limit)
    if after is not None:
        ref = sa.select(R.c.created_at).where(R.c.id == after).scalar_subquery()
        stmt = stmt.where(sa.tuple_(R.c.created_at, R.c.id) < sa.tuple_(ref, sa.literal(after)))
    if source is not None:
        stmt = stmt.where(R.c.source == source)
    return list(tx.execute(stmt).all())


# ---- uploaded files ---------------------------------------------------------------------------
def add_chunk(tx: Tx, run_id: str, seq: int, data: bytes) -> None:
    tx.execute(pg_insert(file_chunks).values(run_id=run_id, seq=seq, data=data).on_conflict_do_update(
        index_elements=["run_id", "seq"], set_={"data": data}))


def close_upload(tx: Tx, run_id: str, size: int, sha256: str) -> Any | None:
    return tx.execute(R.update().where(R.c.id == run_id, R.c.status == "uploading")
                      .values(status="pending", size=size, sha256=sha256).returning(*R.c)).first()


def chunks(conn: sa.Connection, run_id: str) -> Iterator[bytes]:
    """The uploaded file, a chunk at a time (memory stays flat)."""
    seq = 0
    while True:
        data = conn.execute(sa.select(file_chunks.c.data).where(file_chunks.c.run_id == run_id,
                                                                file_chunks.c.seq == seq)).scalar()
        if data is None:
            return
        yield bytes(data)
        seq += 1


def copy_upload(conn: sa.Connection, run_id: str, out: IO[bytes]) -> int:
    size = 0
    for data in chunks(conn, run_id):
        out.write(data)
        size += len(data)
    out.flush()
    return size


def recount(tx: Tx, run_id: str) -> None:
    """Rows failed as the errors table says (a target's own refusals came in late)."""
    failed = sa.select(sa.func.count()).select_from(file_errors).where(file_errors.c.run_id == run_id).scalar_subquery()
    tx.execute(R.update().where(R.c.id == run_id).values(rows_ok=R.c.rows_ok + R.c.rows_failed - failed,
                                                         rows_failed=failed))
