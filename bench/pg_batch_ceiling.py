"""PostgreSQL's own ceiling for an upload's writes on this host: the rows points writes for an
uploaded sale (its sales row with the answer, ledger entry, lot, the account saved, the event
in the outbox), written set-based by the statement points uses, 1000 sales a transaction, three
writers on disjoint members, with no Python rules, broker nor consumers. Each transaction
locks its accounts, writes and rolls back (the benchmark's data stays as the audit expects;
a commit of 1000 rows adds one WAL flush). Prints

    pg_batch_ceiling_per_s    sales/s the three writers got through
    pg_batch_item_cpu_us      PostgreSQL's CPU per sale in us (its backends): the floor under batch_item_cpu_ms
"""
from __future__ import annotations

import json
import threading
import time
from typing import Any

import sqlalchemy as sa

from bench.cpu import Cpu
from bench.platform import bench
from services.points.repo.sale_path import _WRITE

WRITERS, PER_TX, ROUNDS = 3, 1000, 4
_LOCK = sa.text("SELECT 1 FROM accounts WHERE member_id = ANY(CAST(:ids AS uuid[])) ORDER BY member_id FOR UPDATE")
_ACCOUNTS = sa.text("SELECT member_id::text, balance, held, debt, tier, tier_since, status FROM accounts "
                    "WHERE member_id = ANY(CAST(:ids AS uuid[]))")
_OUTBOX = sa.text("""
    INSERT INTO outbox (event_id, event_type, exchange, body, headers)
    SELECT gen_random_uuid(), 'points.accrued', 'points.events', body, '{}'
    FROM jsonb_array_elements(CAST(:bodies AS jsonb)) AS x(body)""")


def _rows(engine: sa.Engine) -> list[list[dict[str, Any]]]:
    """WRITERS groups of PER_TX sales taken from those booked, on disjoint members."""
    with engine.connect() as conn:
        sales = [dict(r._mapping) for r in conn.execute(sa.text(
            "SELECT store, transaction_id, member_id::text, terminal, amount::text, net_amount::text, currency, "
            "sold_at, points, program_version, request_hash, result FROM sales ORDER BY sold_at DESC LIMIT :n"),
            {"n": WRITERS * PER_TX})]
    groups: list[list[dict[str, Any]]] = [[] for _ in range(WRITERS)]
    for sale in sales:
        groups[hash(sale["member_id"]) % WRITERS].append(sale)
    return groups


def _transaction(conn: sa.Connection, sales: list[dict[str, Any]], n: int) -> None:
    def js(rows: list[dict[str, Any]]) -> str:
        return json.dumps(rows, default=str)

    rows = [{**s, "transaction_id": f"ceiling-{n}-{s['transaction_id']}"} for s in sales]
    members = sorted({s["member_id"] for s in rows})
    ledger = [{"member_id": s["member_id"], "kind": "accrual", "delta": s["points"], "store": s["store"],
               "at_store": s["store"], "reference": f"{s['store']}:{s['transaction_id']}",
               "detail": {"breakdown": s["result"].get("breakdown")}, "actor_id": None} for s in rows]
    lots = [{"member_id": s["member_id"], "store": s["store"], "source": "accrual",
             "reference": f"{s['store']}:{s['transaction_id']}", "points": s["points"], "remaining": s["points"],
             "available_at": s["sold_at"], "expires_at": None} for s in rows]
    bodies = [{"type": "points.accrued", "payload": {**s["result"], "lines": []}} for s in rows]
    with conn.begin() as tx:
        conn.execute(_LOCK, {"ids": members})
        accounts = [dict(r._mapping) for r in conn.execute(_ACCOUNTS, {"ids": members})]
        conn.execute(_WRITE, {"ledger": js(ledger), "lots": js(lots), "sales": js(rows), "accounts": js(accounts),
                              "account_ids": members})
        conn.execute(_OUTBOX, {"bodies": js(bodies)})
        tx.rollback()


def _writer(conn: sa.Connection, sales: list[dict[str, Any]]) -> None:
    for n in range(ROUNDS):
        _transaction(conn, sales, n)


def pg_ceiling(engine: sa.Engine, cpu: Cpu) -> None:
    groups = [g for g in _rows(engine) if g]
    if not groups:
        return
    conns = [engine.connect() for _ in groups]
    try:
        for conn, group in zip(conns, groups, strict=True):  # warm: plans, caches
            _transaction(conn, group, -1)
        before = cpu.snapshot()
        started = time.perf_counter()
        threads = [threading.Thread(target=_writer, args=pair) for pair in zip(conns, groups, strict=True)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
        after = cpu.snapshot()
    finally:
        for conn in conns:
            conn.close()
    written = ROUNDS * sum(len(g) for g in groups)
    postgres = (after.get("postgres", 0.0) - before.get("postgres", 0.0)) * 1000 / written
    Cpu.report("postgres batched writes", before, after)
    bench("pg_batch_ceiling_per_s", written / elapsed, "sales/s")
    bench("pg_batch_item_cpu_us", 1000 * postgres, "us")  # tenths of a ms: too coarse in ms
    print(f"# pg batch ceiling: {written} sales in {elapsed:.1f} s, {len(groups)} writers of ~{PER_TX} sales a "
          f"transaction (sales row, ledger, lot, account, outbox; rolled back); PostgreSQL's backends "
          f"{postgres:.3f} ms a sale, so two cores' worth is {2000 / postgres if postgres else float('nan'):.0f}/s",
          flush=True)
