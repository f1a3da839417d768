"""Reading and writing one kind of record; versions are bumped here, in the statement."""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from service_runtime.db import Tx
from services.catalog import tables
from services.catalog.repo import Kind


def get(tx: Tx, kind: Kind, key: str, lock: bool = False) -> dict[str, Any] | None:
    query = sa.select(kind.table).where(kind.key_column == key)
    row = tx.execute(query.with_for_update() if lock else query).mappings().first()
    return dict(row) if row is not None else None


def insert(tx: Tx, kind: Kind, key: str, values: dict[str, Any], source: str,
           source_version: int | None) -> dict[str, Any] | None:
    """A new record at version 1; None when another writer created the key meanwhile."""
    stmt = (sa.dialects.postgresql.insert(kind.table)
            .values(**values, **{kind.key: key}, version=1, source=source, source_version=source_version)
            .on_conflict_do_nothing().returning(kind.table))
    row = tx.execute(stmt).mappings().first()
    return dict(row) if row is not None else None


def update(tx: Tx, kind: Kind, key: str, values: dict[str, Any], source: str,
           source_version: int | None) -> dict[str, Any]:
    stmt = (kind.table.update().where(kind.key_column == key)
            .values(**values, version=kind.table.c.version + 1, source=source, source_version=source_version,
                    last_synced_at=sa.func.now(), updated_at=sa.func.now())
            .returning(kind.table))
    return dict(tx.execute(stmt).mappings().one())


def touch(tx: Tx, kind: Kind, key: str) -> None:
    """The source confirmed the record unchanged: only its last-synced time moves."""
    tx.execute(kind.table.update().where(kind.key_column == key).values(last_synced_at=sa.func.now()))


def page(tx: Tx, kind: Kind, after: str | None, limit: int, filters: dict[str, Any]) -> list[dict[str, Any]]:
    """Up to ``limit`` records in key order after ``after``, matching every given filter."""
    query = sa.select(kind.table).order_by(kind.key_column).limit(limit)
    if after is not None:
        query = query.where(kind.key_column > after)
    for column, value in filters.items():
        if value is not None:
            query = query.where(kind.table.c[column] == value)
    return [dict(row) for row in tx.execute(query).mappings()]


def category_parents(tx: Tx) -> dict[str, str | None]:
    """Every category's parent (the tree is small: thousands of rows at most)."""
    c = tables.categories.c
    return {row.code: row.parent for row in tx.execute(sa.select(c.code, c.parent))}
