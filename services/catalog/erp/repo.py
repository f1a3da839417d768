"""The only code that touches the ERP sync tables: connections (with the lease a run holds), cursors,
runs and the ERP's sales."""
from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert

from service_runtime.db import Tx
from services.catalog.erp.interface import Cursor
from services.catalog.repo import Kind
from services.catalog.tables import (
    erp_connections,
    erp_cursors,
    erp_pushes,
    erp_reconciliations,
    erp_runs,
    erp_sales,
)

MAX_RUN_ERRORS = 200  # a run keeps its first errors; the count goes on


def _seconds(value: Any) -> Any:  # a number of seconds, or a column holding one
    return sa.func.make_interval(0, 0, 0, 0, 0, 0, value)


def put_connection(tx: Tx, name: str, values: dict[str, Any]) -> dict[str, Any]:
    stmt = pg_insert(erp_connections).values(name=name, **values)
    stmt = stmt.on_conflict_do_update(index_elements=["name"], set_={**values, "updated_at": sa.func.now()})
    return dict(tx.execute(stmt.returning(erp_connections)).mappings().one())


def connection(tx: Tx, name: str) -> dict[str, Any] | None:
    row = tx.execute(sa.select(erp_connections).where(erp_connections.c.name == name)).mappings().first()
    return dict(row) if row else None


def connections(tx: Tx) -> list[dict[str, Any]]:
    return [dict(r) for r in tx.execute(sa.select(erp_connections).order_by(erp_connections.c.name)).mappings()]


def claim(tx: Tx, name: str | None, owner: str, lease_seconds: float) -> dict[str, Any] | None:
    """Hold a connection for a run: ``name``, or the first enabled one that is due. None when it is held
    by a live run elsewhere (or none is due). A dead holder's lease runs out and the next claim wins.
    The next scheduled run is set now, an interval after this one starts; a run asked for while this one
    goes (run_requested_at) happens after it, and a disabled connection runs only when asked for."""
    c = erp_connections.c
    free = sa.or_(c.lease_until.is_(None), c.lease_until < sa.func.now())
    pick = sa.select(c.name).where(free)
    due = sa.or_(c.run_requested_at.is_not(None), sa.and_(c.enabled, c.next_run_at <= sa.func.now()))
    pick = pick.where(c.name == name) if name else pick.where(due)
    pick = pick.order_by(c.run_requested_at.nulls_last(), c.next_run_at).limit(1).with_for_update(skip_locked=True)
    row = tx.execute(erp_connections.update().where(c.name == pick.scalar_subquery())
                     .values(lease_owner=owner, lease_until=sa.func.now() + _seconds(lease_seconds),
                             next_run_at=sa.func.now() + _seconds(c.interval_seconds), run_requested_at=None)
                     .returning(erp_connections)).mappings().first()
    return dict(row) if row else None


def renew(tx: Tx, name: str, owner: str, lease_seconds: float) -> bool:
    c = erp_connections.c
    return bool(tx.execute(erp_connections.update().where(c.name == name, c.lease_owner == owner)
                           .values(lease_until=sa.func.now() + _seconds(lease_seconds))).rowcount)


def release(tx: Tx, name: str, owner: str) -> None:
    c = erp_connections.c
    tx.execute(erp_connections.update().where(c.name == name, c.lease_owner == owner)
               .values(lease_owner=None, lease_until=None))


def request_run(tx: Tx, name: str) -> bool:
    c = erp_connections.c
    return bool(tx.execute(erp_connections.update().where(c.name == name)
                           .values(run_requested_at=sa.func.coalesce(c.run_requested_at, sa.func.now()))).rowcount)


def cursors(tx: Tx, name: str) -> dict[str, Cursor]:
    c = erp_cursors.c
    return {r.kind: Cursor(r.stamp, r.key) for r in tx.execute(sa.select(c.kind, c.stamp, c.key)
                                                                .where(c.connection == name))}


def cursor_rows(tx: Tx, name: str) -> list[dict[str, Any]]:
    c = erp_cursors.c
    return [dict(r) for r in tx.execute(sa.select(c.kind, c.stamp, c.key, c.updated_at)
                                        .where(c.connection == name).order_by(c.kind)).mappings()]


def save_cursor(tx: Tx, name: str, kind: str, cursor: Cursor) -> None:
    stmt = pg_insert(erp_cursors).values(connection=name, kind=kind, stamp=cursor.stamp, key=cursor.key)
    tx.execute(stmt.on_conflict_do_update(index_elements=["connection", "kind"],
                                          set_={"stamp": cursor.stamp, "key": cursor.key,
                                                "updated_at": sa.func.now()}))


def start_run(tx: Tx, name: str, trigger: str) -> int:
    return int(tx.execute(erp_runs.insert().values(connection=name, trigger=trigger)
                          .returning(erp_runs.c.id)).scalar_one())


def add_progress(tx: Tx, run_id: int, rows_in: int, rows_out: int, errors: list[dict[str, Any]],
                 error_count: int) -> None:
    """Add a page's counts; ``errors`` are those the run still keeps (the runner caps them)."""
    r = erp_runs.c
    tx.execute(erp_runs.update().where(r.id == run_id)
               .values(rows_in=r.rows_in + rows_in, rows_out=r.rows_out + rows_out,
                       error_count=r.error_count + error_count,
                       errors=r.errors.op("||")(sa.cast(errors, JSONB)) if errors else r.errors))


def finish_run(tx: Tx, run_id: int, failure: str | None, failure_kind: str | None) -> dict[str, Any]:
    r = erp_runs.c
    return dict(tx.execute(erp_runs.update().where(r.id == run_id)
                           .values(status="failed" if failure else "succeeded", failure=failure,
                                   failure_kind=failure_kind, finished_at=sa.func.now())
                           .returning(erp_runs)).mappings().one())


def runs(tx: Tx, name: str, limit: int) -> list[dict[str, Any]]:
    r = erp_runs.c
    return [dict(x) for x in tx.execute(sa.select(erp_runs).where(r.connection == name)
                                        .order_by(r.id.desc()).limit(limit)).mappings()]


def last_success(tx: Tx, name: str) -> dict[str, Any] | None:
    r = erp_runs.c
    row = tx.execute(sa.select(erp_runs).where(r.connection == name, r.status == "succeeded")
                     .order_by(r.id.desc()).limit(1)).mappings().first()
    return dict(row) if row else None


def upsert_sale(tx: Tx, name: str, sale: dict[str, Any], version: int) -> bool:
    """Insert or refresh one ERP sale; True when something was written (an older or same version of
    the sale, seen again, writes nothing)."""
    values = {k: sale[k] for k in ("store", "day", "occurred_at", "amount_cents", "member_ref", "lines")}
    stmt = pg_insert(erp_sales).values(connection=name, transaction_id=sale["transaction_id"], version=version,
                                       **values)
    stmt = stmt.on_conflict_do_update(index_elements=["connection", "transaction_id"],
                                      set_={**values, "version": version, "synced_at": sa.func.now()},
                                      where=erp_sales.c.version < version)
    return bool(tx.execute(stmt).rowcount)


def sales_of(tx: Tx, store: str, day: date) -> list[dict[str, Any]]:
    s = erp_sales.c
    return [dict(r) for r in tx.execute(sa.select(erp_sales).where(s.store == store, s.day == day)
                                        .order_by(s.transaction_id)).mappings()]


def stores_with_sales(tx: Tx, day: date) -> list[str]:
    s = erp_sales.c
    return list(tx.execute(sa.select(s.store).where(s.day == day).distinct().order_by(s.store)).scalars())


def save_reconciliation(tx: Tx, report: dict[str, Any]) -> None:
    counts = {"erp_count": report["erp_count"], "ledger_count": report["ledger_count"], "matched": report["matched"],
              **{k: len(report[k]) for k in ("missing", "extra", "mismatched")}}
    stmt = pg_insert(erp_reconciliations).values(store=report["store"], day=report["day"], report=report, **counts)
    tx.execute(stmt.on_conflict_do_update(index_elements=["store", "day"],
                                          set_={**counts, "report": report, "computed_at": sa.func.now()}))


def seen_versions(tx: Tx, kind: Kind, source: str, keys: list[str]) -> dict[str, int]:
    """The source version each of these records was last written at by ``source`` (one query a page)."""
    table = kind.table
    rows = tx.execute(sa.select(kind.key_column, table.c.source_version)
                      .where(kind.key_column.in_(keys), table.c.source == source,
                             table.c.source_version.is_not(None)))
    return {str(key): int(version) for key, version in rows}


def touch_many(tx: Tx, kind: Kind, keys: list[str]) -> None:
    """The source confirmed these records unchanged: only their last-synced time moves."""
    if keys:
        tx.execute(kind.table.update().where(kind.key_column.in_(keys)).values(last_synced_at=sa.func.now()))


def pushed(tx: Tx, name: str, kind: str, external_id: str) -> bool:
    p = erp_pushes.c
    return tx.execute(sa.select(p.remote_id).where(p.connection == name, p.kind == kind,
                                                   p.external_id == external_id)).first() is not None


def record_push(tx: Tx, name: str, kind: str, external_id: str, remote_id: str) -> None:
    tx.execute(pg_insert(erp_pushes).values(connection=name, kind=kind, external_id=external_id, remote_id=remote_id)
               .on_conflict_do_nothing())


def health(tx: Tx) -> list[Any]:
    """Each enabled connection's schedule and the seconds since its last good run ended (or since it
    was declared, when none has)."""
    c, r = erp_connections.c, erp_runs.c
    last = (sa.select(sa.func.max(r.finished_at)).where(r.connection == c.name, r.status == "succeeded")
            .scalar_subquery())
    since = sa.func.extract("epoch", sa.func.now() - sa.func.coalesce(last, c.created_at))
    return list(tx.execute(sa.select(c.name, c.interval_seconds, since.label("age")).where(c.enabled)))
