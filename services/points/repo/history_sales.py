"""Sales imported in history-only mode: inserted as recorded sales that earned nothing."""
from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from service_runtime.db import Tx
from services.points.repo.accounts import Account
from services.points.repo.sale_path import _json_default
from services.points.tables import accounts as accounts_table
from services.points.tables import sales


def accounts(tx: Tx, member_ids: Iterable[str]) -> dict[str, Account]:
    """The accounts as they are (not locked: a history sale changes no account)."""
    ids = sorted(set(member_ids))
    if not ids:
        return {}
    rows = tx.execute(sa.select(accounts_table).where(accounts_table.c.member_id.in_(ids))).all()
    return {str(r.member_id): Account(r) for r in rows}


def insert_sales(tx: Tx, rows: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """Insert the sales not recorded yet (one statement); the keys that were inserted."""
    if not rows:
        return set()
    result = tx.execute(sa.text("""
        INSERT INTO sales (store, transaction_id, member_id, terminal, amount, net_amount, currency, sold_at,
                           points, program_version, request_hash, result, history)
        SELECT store, transaction_id, member_id, terminal, amount, net_amount, currency, sold_at, points,
               program_version, request_hash, result, true
        FROM jsonb_to_recordset(CAST(:sales AS jsonb)) AS x(store text, transaction_id text, member_id uuid,
             terminal text, amount numeric, net_amount numeric, currency text, sold_at timestamptz, points bigint,
             program_version int, request_hash text, result jsonb)
        ON CONFLICT DO NOTHING RETURNING store, transaction_id"""), {"sales": json.dumps(rows, default=_json_default)})
    return {(r.store, r.transaction_id) for r in result}


def hashes(tx: Tx, keys: list[tuple[str, str]]) -> dict[tuple[str, str], tuple[str, dict[str, Any]]]:
    """The request hash and answer of sales recorded before, by (store, transaction id)."""
    if not keys:
        return {}
    rows = tx.execute(sa.select(sales.c.store, sales.c.transaction_id, sales.c.request_hash, sales.c.result)
                      .where(sa.tuple_(sales.c.store, sales.c.transaction_id).in_(keys))).all()
    return {(r.store, r.transaction_id): (r.request_hash, r.result) for r in rows}
