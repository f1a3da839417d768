"""The only code that touches the migration import tables: imports, their staged rows, errors."""
from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert

from service_runtime.db import Tx
from services.points.tables import migration_errors, migration_imports, migration_rows

IMP = migration_imports


def create(tx: Tx, import_id: str, kind: str, source: str, note: str | None, actor: str) -> Any:
    return tx.execute(IMP.insert().values(id=import_id, kind=kind, source=source, note=note, created_by=actor)
                      .returning(*IMP.c)).one()


def get(tx: Tx, import_id: str, lock: bool = False) -> Any | None:
    stmt = sa.select(IMP).where(IMP.c.id == import_id)
    return tx.execute(stmt.with_for_update() if lock else stmt).first()


def page(tx: Tx, limit: int, before: tuple[datetime, str] | None = None) -> list[Any]:
    """Newest first; ``before``: the (created_at, id) of the last row of the previous page."""
    query = sa.select(IMP).order_by(IMP.c.created_at.desc(), IMP.c.id.desc()).limit(limit)
    if before is not None:
        query = query.where(sa.tuple_(IMP.c.created_at, IMP.c.id) < sa.tuple_(sa.literal(before[0]),
                                                                               sa.literal(before[1])))
    return list(tx.execute(query).all())


def stage(tx: Tx, import_id: str, rows: list[dict[str, Any]], errors: list[dict[str, Any]]) -> tuple[int, int]:
    """Insert rows and errors not staged before (by row key, by line): (rows new, errors new)."""
    staged = failed = 0
    if rows:
        staged = tx.execute(pg_insert(migration_rows).values([{"import_id": import_id, **r} for r in rows])
                            .on_conflict_do_nothing()).rowcount
    if errors:
        failed = tx.execute(pg_insert(migration_errors).values([{"import_id": import_id, **e} for e in errors])
                            .on_conflict_do_nothing()).rowcount
    if staged or failed:
        tx.execute(IMP.update().where(IMP.c.id == import_id).values(rows_staged=IMP.c.rows_staged + staged,
                                                                rows_failed=IMP.c.rows_failed + failed))
    return int(staged), int(failed)


def set_status(tx: Tx, import_id: str, **values: Any) -> Any:
    return tx.execute(IMP.update().where(IMP.c.id == import_id).values(**values).returning(*IMP.c)).one()


def pending_rows(tx: Tx, import_id: str, limit: int) -> list[Any]:
    """Rows not applied yet, in member order (accounts are locked in that order: no deadlocks)."""
    R = migration_rows
    return list(tx.execute(sa.select(R).where(R.c.import_id == import_id, R.c.applied_at.is_(None))
                           .order_by(R.c.member_id, R.c.row_key).limit(limit).with_for_update(skip_locked=True))
                .all())


def mark_applied(tx: Tx, import_id: str, keys: list[str], points: int) -> None:
    R = migration_rows
    tx.execute(R.update().where(R.c.import_id == import_id, R.c.row_key.in_(keys)).values(applied_at=sa.func.now()))
    tx.execute(IMP.update().where(IMP.c.id == import_id).values(rows_applied=IMP.c.rows_applied + len(keys),
                                                            points_total=IMP.c.points_total + points))


def errors(tx: Tx, import_id: str, after_line: int, limit: int) -> list[Any]:
    E = migration_errors
    return list(tx.execute(sa.select(E).where(E.c.import_id == import_id, E.c.line > after_line)
                           .order_by(E.c.line).limit(limit)).all())
