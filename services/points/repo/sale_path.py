"""The sale path in two statements. A POS sale pays a database round trip per
statement; these two carry what the general functions do in seven (existing sales,
qualifying spend, lot summaries; then ledger, lots, sales and accounts). The accounts
are locked before, so the reads see every sale committed by whoever held the lock before us."""
from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from service_runtime.db import Tx
from services.points.repo.accounts import Account

_CONTEXT = sa.text("""
        SELECT
          (SELECT coalesce(json_agg(json_build_object('store', s.store, 'transaction_id', s.transaction_id,
                                                      'request_hash', s.request_hash, 'result', s.result)), '[]')
           FROM sales s JOIN unnest(CAST(:stores AS text[]), CAST(:txns AS text[])) AS k(store, txn)
             ON s.store = k.store AND s.transaction_id = k.txn) AS existing,
          (SELECT coalesce(json_agg(json_build_object('member_id', q.member_id, 'spend', q.spend::text,
                                                      'points', q.points)), '[]')
           FROM (SELECT member_id, sum(net_amount - refunded_amount) AS spend, sum(points - points_reversed) AS points
                 FROM sales WHERE member_id = ANY(CAST(:ids AS uuid[])) AND sold_at >= :since
                 GROUP BY member_id) q) AS spend,
          (SELECT coalesce(json_agg(json_build_object('member_id', member_id, 'pending', pending,
                                                      'available', available, 'soonest', soonest)), '[]')
           FROM (SELECT member_id,
                        coalesce(sum(remaining) FILTER (WHERE available_at > :now), 0) AS pending,
                        coalesce(sum(remaining) FILTER (WHERE available_at <= :now
                                                        AND (expires_at IS NULL OR expires_at > :now)), 0) AS available,
                        min(expires_at) FILTER (WHERE expires_at > :now) AS soonest
                 FROM lots WHERE member_id = ANY(CAST(:ids AS uuid[])) AND remaining > 0
                 GROUP BY member_id) t) AS lots,
          (SELECT coalesce(json_agg(json_build_object('member_id', member_id, 'expires_at', expires_at,
                                                      'points', points)), '[]')
           FROM (SELECT member_id, expires_at, sum(remaining) AS points FROM lots
                 WHERE member_id = ANY(CAST(:ids AS uuid[])) AND remaining > 0 AND expires_at > :now
                 GROUP BY member_id, expires_at) e) AS expiring
        """)  # parsed once: sa.text() parses its SQL on every call


def sale_context(tx: Tx, member_ids: Sequence[str], keys: Sequence[tuple[str, str]], since: datetime,
                 now: datetime) -> tuple[dict[tuple[str, str], Any], dict[str, tuple[Decimal, int]],
                                         dict[str, dict[str, Any]]]:
    """(existing sales by key, qualifying (spend, points) by member, lot summaries by member)."""
    row = tx.execute(_CONTEXT, {"stores": [k[0] for k in keys], "txns": [k[1] for k in keys],
                                "ids": list(member_ids), "since": since, "now": now}).one()
    existing = {(e["store"], e["transaction_id"]): _Existing(e["request_hash"], e["result"]) for e in row.existing}
    spend = {m: (Decimal(0), 0) for m in member_ids}
    spend.update({q["member_id"]: (Decimal(q["spend"]), int(q["points"])) for q in row.spend})
    summaries: dict[str, dict[str, Any]] = {m: {"pending": 0, "available": 0, "soonest": None, "soonest_points": 0}
                                            for m in member_ids}
    for s in row.lots:
        soonest = None if s["soonest"] is None else datetime.fromisoformat(s["soonest"])
        summaries[s["member_id"]] = {"pending": int(s["pending"]), "available": int(s["available"]),
                                     "soonest": soonest, "soonest_points": 0}
    for e in row.expiring:
        summary = summaries[e["member_id"]]
        if summary["soonest"] is not None and datetime.fromisoformat(e["expires_at"]) == summary["soonest"]:
            summary["soonest_points"] = int(e["points"])
    return existing, spend, summaries


class _Existing:
    __slots__ = ("request_hash", "result")

    def __init__(self, request_hash: str, result: dict[str, Any]) -> None:
        self.request_hash, self.result = request_hash, result


def add_to_summary(summary: dict[str, Any], lot: dict[str, Any], now: datetime) -> None:
    """A summary from sale_context, with a lot written after it."""
    remaining, expires = lot["remaining"], lot["expires_at"]
    if remaining <= 0:
        return
    if lot["available_at"] > now:
        summary["pending"] += remaining
    elif expires is None or expires > now:
        summary["available"] += remaining
    if expires is not None and expires > now:
        if summary["soonest"] is None or expires < summary["soonest"]:
            summary["soonest"], summary["soonest_points"] = expires, remaining
        elif expires == summary["soonest"]:
            summary["soonest_points"] += remaining


_WRITE = sa.text("""
        WITH l AS (
          INSERT INTO ledger (member_id, kind, delta, store, at_store, reference, detail, actor_id)
          SELECT member_id, kind, delta, store, at_store, reference, coalesce(detail, '{}'), actor_id
          FROM jsonb_to_recordset(CAST(:ledger AS jsonb)) AS x(member_id uuid, kind text, delta bigint, store text,
               at_store text, reference text, detail jsonb, actor_id text)),
        o AS (
          INSERT INTO lots (member_id, store, source, reference, points, remaining, available_at, expires_at)
          SELECT member_id, store, source, reference, points, remaining, available_at, expires_at
          FROM jsonb_to_recordset(CAST(:lots AS jsonb)) AS x(member_id uuid, store text, source text,
               reference text, points bigint, remaining bigint, available_at timestamptz, expires_at timestamptz)
          WHERE points > 0),
        a AS (
          UPDATE accounts SET balance = x.balance, held = x.held, debt = x.debt, tier = x.tier,
                 tier_since = x.tier_since, status = x.status
          FROM jsonb_to_recordset(CAST(:accounts AS jsonb)) AS x(member_id uuid, balance bigint, held bigint,
               debt bigint, tier text, tier_since timestamptz, status text)
          WHERE accounts.member_id = x.member_id
            AND accounts.member_id = ANY(CAST(:account_ids AS uuid[]))),  -- the index, not a scan (row estimates
                                                                          -- of jsonb_to_recordset are blind)
        s AS (
          INSERT INTO sales (store, transaction_id, member_id, terminal, amount, net_amount, currency, sold_at,
                             points, program_version, request_hash, result)
          SELECT store, transaction_id, member_id, terminal, amount, net_amount, currency, sold_at, points,
                 program_version, request_hash, result
          FROM jsonb_to_recordset(CAST(:sales AS jsonb)) AS x(store text, transaction_id text, member_id uuid,
               terminal text, amount numeric, net_amount numeric, currency text, sold_at timestamptz, points bigint,
               program_version int, request_hash text, result jsonb)
          ON CONFLICT DO NOTHING RETURNING 1)
        SELECT count(*) FROM s""")


def write_sales(tx: Tx, ledger_rows: list[dict[str, Any]], lot_rows: list[dict[str, Any]],
                sale_rows: list[dict[str, Any]], changed: Sequence[Account]) -> int:
    """Insert ledger, lots and sales and save the accounts in one statement; returns how many
    sales were inserted (fewer than given: another process recorded one meanwhile)."""
    def js(rows: list[dict[str, Any]]) -> str:
        return json.dumps(rows, default=_json_default)

    result = tx.execute(_WRITE, {
        "ledger": js(ledger_rows), "lots": js(lot_rows), "sales": js(sale_rows),
        "account_ids": [a.member_id for a in changed],
        "accounts": js([{"member_id": a.member_id, "balance": a.balance, "held": a.held, "debt": a.debt,
                         "tier": a.tier, "tier_since": a.tier_since, "status": a.status} for a in changed]),
    })
    return int(result.scalar_one())


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"not JSON: {type(value).__name__}")
