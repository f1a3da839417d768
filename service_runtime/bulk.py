"""Many rows in one statement as one JSON document: row-by-row executemany was a quarter of an import's
CPU (docs/decisions/0003-outbox-and-inbox.md, "batched consumers and bulk writes").

    rows = insert_rows(tx, members, values, on_conflict_do_nothing=True,
                       returning=[members.c.id, members.c.created_at])

Every row has the same keys; columns left out get their server defaults."""
from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

_DIALECT = postgresql.dialect()  # type: ignore[no-untyped-call]  # its __init__ is unannotated


def _shapes(table: sa.Table, columns: tuple[str, ...]) -> str:
    return ", ".join(f'"{c}" {table.c[c].type.compile(dialect=_DIALECT)}' for c in columns)


@lru_cache(maxsize=256)
def _statement(table: sa.Table, columns: tuple[str, ...], on_conflict_do_nothing: bool,
               returning: tuple[str, ...], upsert: tuple[tuple[str, ...], tuple[tuple[str, str], ...]] | None
               ) -> sa.TextClause | sa.TextualSelect:
    names = ", ".join(f'"{c}"' for c in columns)
    sql = (f'INSERT INTO "{table.name}" ({names}) SELECT {names} '
           f"FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r({_shapes(table, columns)})")
    if on_conflict_do_nothing:
        sql += " ON CONFLICT DO NOTHING"
    elif upsert is not None:
        keys, updates = upsert
        sql += (f" ON CONFLICT ({', '.join(keys)}) DO UPDATE SET "
                + ", ".join(f'"{column}" = {expression}' for column, expression in updates))
    text: sa.TextClause | sa.TextualSelect = sa.text(sql)
    if returning:
        sql += " RETURNING " + ", ".join(f'"{c}"' for c in returning)
        text = sa.text(sql).columns(*(table.c[c] for c in returning))
    return text


@lru_cache(maxsize=256)
def _update_statement(table: sa.Table, columns: tuple[str, ...], key: tuple[str, ...],
                      values: tuple[tuple[str, str], ...], where: str) -> sa.TextClause:
    sets = ", ".join(f'"{column}" = {expression}' for column, expression in values)
    joins = " AND ".join(f'"{table.name}"."{k}" = r."{k}"' for k in key)
    sql = (f'UPDATE "{table.name}" SET {sets} FROM jsonb_to_recordset(CAST(:rows AS jsonb)) '
           f"AS r({_shapes(table, columns)}) WHERE {joins}" + (f" AND ({where})" if where else ""))
    return sa.text(sql)


def _encode(value: Any) -> str:
    return str(value)  # date, datetime, UUID, Decimal: their text form is what PostgreSQL parses


def insert_rows(tx: Any, table: sa.Table, rows: Sequence[dict[str, Any]], *, on_conflict_do_nothing: bool = False,
                returning: Sequence[sa.Column[Any]] = (),
                upsert: tuple[Sequence[str], dict[str, str]] | None = None) -> list[Any]:
    """Insert ``rows`` into ``table`` in one statement; the RETURNING rows (empty list without).

    ``upsert=(key columns, {column: SQL expression})`` updates the rows that exist already
    (expressions may use ``EXCLUDED`` and the table's name); no two rows may share a key."""
    if not rows:
        return []
    columns = tuple(rows[0])
    if any(len(row) != len(columns) or any(c not in row for c in columns) for row in rows):
        raise ValueError(f"rows for {table.name} must all have the same keys")
    frozen = None if upsert is None else (tuple(upsert[0]), tuple(upsert[1].items()))
    statement = _statement(table, columns, on_conflict_do_nothing, tuple(c.name for c in returning), frozen)
    result = tx.execute(statement, {"rows": json.dumps(rows, default=_encode, ensure_ascii=False)})
    return list(result.all()) if returning else []


def update_rows(tx: Any, table: sa.Table, rows: Sequence[dict[str, Any]], *, key: Sequence[str],
                values: dict[str, str], where: str = "") -> int:
    """Update the rows of ``table`` matching each row's ``key`` columns in one statement:
    ``values`` maps columns to SQL expressions over the table and ``r`` (the given row, its
    columns typed as the table's), ``where`` an extra condition; no two rows may share a key.
    Returns how many rows changed."""
    if not rows:
        return 0
    columns = tuple(rows[0])
    if any(len(row) != len(columns) or any(c not in row for c in columns) for row in rows):
        raise ValueError(f"rows for {table.name} must all have the same keys")
    statement = _update_statement(table, columns, tuple(key), tuple(values.items()), where)
    return int(tx.execute(statement, {"rows": json.dumps(rows, default=_encode, ensure_ascii=False)}).rowcount)
