"""Driving a fault and auditing after it: the sales, the ledgers, and every sale's event in the
consumers' read models and inboxes. Each fault's figures are printed as FAULT and BENCH lines."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from tests.faults import load
from tests.helpers import wait_for

ROOT = Path(__file__).resolve().parents[2]
PLATFORM = [sys.executable, str(ROOT / "deploy" / "local" / "platform.py")]
STORE = "FLT-001"
TILLS, RATE = 16, 40.0  # sales/s through the gateway, one sale at a time per till
MEMBERS = 24
SERVICES = ("members", "points", "campaigns", "notify")
CONSUMERS = ("campaigns", "notify")  # both take every points.accrued (notify: receipts are on here)

expected_restarts: dict[str, int] = {}


def db(platform: dict[str, Any], service: str) -> sa.Engine:
    return sa.create_engine(f"{platform['pg'].url.rsplit('/', 1)[0]}/faults_{service}", poolclass=sa.pool.NullPool)


def rows(platform: dict[str, Any], service: str, sql: str, **params: Any) -> list[Any]:
    engine = db(platform, service)
    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.text(sql), params).all())
    finally:
        engine.dispose()


def restarts(platform: dict[str, Any]) -> dict[str, int]:
    state = json.loads((platform["var"] / "run" / "supervisor.json").read_text())
    return {name: int(value.get("restarts", 0)) for name, value in state.items()}


def pid(platform: dict[str, Any], name: str) -> int:
    return int((platform["var"] / "run" / f"{name}.pid").read_text())


def killed(platform: dict[str, Any], name: str) -> None:
    """SIGKILL a service and wait for the supervisor to start it again."""
    old = pid(platform, name)
    os.kill(old, signal.SIGKILL)
    expected_restarts[name] = expected_restarts.get(name, 0) + 1
    wait_for(lambda: pid(platform, name) != old, timeout=60, interval=0.2, message=f"{name} restarted")


def kill_when_seen(platform: dict[str, Any], name: str, patterns: list[str], timeout: float = 30,
                   states: tuple[str, ...] = ("active", "idle in transaction")) -> str:
    """SIGKILL service ``name`` the moment one of its database sessions is inside a transaction whose
    statement matches one of ``patterns`` (ILIKE); returns what it was doing, or "not seen" if it
    was killed at the timeout instead. pg_stat_activity is read outside a transaction: fresh each time."""
    engine = db(platform, name).execution_options(isolation_level="AUTOCOMMIT")
    seen = "not seen"
    try:
        with engine.connect() as conn:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                row = conn.execute(sa.text(
                    "SELECT state, left(regexp_replace(query, '\\s+', ' ', 'g'), 50) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid() AND xact_start IS NOT NULL "
                    "AND state = ANY(:states) AND query ILIKE ANY(:patterns) LIMIT 1"),
                    {"patterns": patterns, "states": list(states)}).first()
                if row is not None:
                    seen = f"{row[0]}: {row[1]}"
                    break
            killed(platform, name)
    finally:
        engine.dispose()
    return seen


def scrape(port: str | int, metric: str) -> float:
    """The sum of a metric's samples on a process's /metrics (0 when it has none or does not answer)."""
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    except httpx.HTTPError:
        return 0.0
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(metric + "{") or line.startswith(metric + " "))


def _inbox_duplicates(platform: dict[str, Any]) -> dict[str, tuple[int, float]]:
    return {s: (pid(platform, s), scrape(platform["env"][f"{s.upper()}_METRICS_PORT"],
                                         "loyalty_inbox_duplicates_total")) for s in CONSUMERS}


def fault(platform: dict[str, Any], name: str, inject: Callable[[], Any], seconds_after: float = 8.0) -> dict[str, Any]:
    """Sell through ``inject()`` (it breaks something and repairs it; a dict it returns joins the
    figures), audit, print the figures, and assert what every fault must keep."""
    inbox_before, extra = _inbox_duplicates(platform), {}

    def injected() -> None:
        extra.update(inject() or {})

    run, began, ended = asyncio.run(load.drive(
        platform["base"], platform["key"], platform["token"], STORE, platform["members"], TILLS, RATE,
        seconds_before=3.0, inject=injected, seconds_after=seconds_after, prefix=name))
    figures = {**load.figures(run, began, ended), **extra}
    figures["duplicates"] = audit(platform, run)
    figures.update(audit_events(platform, run))
    after = _inbox_duplicates(platform)  # a restarted consumer counts from zero
    figures["redeliveries_deduped"] = {s: int(after[s][1] - (inbox_before[s][1] if after[s][0] == inbox_before[s][0]
                                                              else 0)) for s in CONSUMERS}
    line = " ".join(f"{k}={json.dumps(v, separators=(',', ':'))}" for k, v in figures.items())
    with (platform["var"].parent / "figures.txt").open("a") as out:
        out.write(f"FAULT {name} {json.dumps(figures)}\n")
    platform["say"](f"FAULT {name} {line}")
    platform["say"](f"BENCH faults_{name}_503_p50 {figures['503_p50_s']} s")
    platform["say"](f"BENCH faults_{name}_recovery {figures['recovery_s']} s")
    statuses = {str(a.status) for a in run.attempts()}
    assert statuses <= {"200", "201", "503", "504"}, figures  # no 500, no broken connection
    assert figures["healthz"] == ["200"], figures
    assert figures["sales"] == figures["acked"], figures  # every till got its sale through in the end
    assert restarts(platform) == {n: expected_restarts.get(n, 0) for n in restarts(platform)}, \
        "only the supervisor restarts a process, and only one that died"
    return figures


def audit(platform: dict[str, Any], run: load.Run) -> int:
    """Each acknowledged sale recorded once and credited once; ledgers equal balances; read models caught up."""
    ids = [s.transaction_id for s in run.sales]
    acked = {s.transaction_id for s in run.sales if s.acked}
    recorded = {r[0]: r[1] for r in rows(platform, "points", "SELECT transaction_id, points FROM sales "
                                         "WHERE store = :store AND transaction_id = ANY(:ids)", store=STORE, ids=ids)}
    assert acked <= set(recorded), f"acknowledged but not recorded: {sorted(acked - set(recorded))[:5]}"
    refs = [f"{STORE}:{i}" for i in ids]
    credits = rows(platform, "points", "SELECT reference, count(*) FROM ledger WHERE kind = 'accrual' "
                   "AND reference = ANY(:refs) GROUP BY reference", refs=refs)
    duplicates = sum(1 for _, count in credits if count > 1)
    assert duplicates == 0, [c for c in credits if c[1] > 1][:5]
    assert len(credits) == sum(1 for p in recorded.values() if p > 0)
    unequal = rows(platform, "points", "SELECT a.member_id, a.balance, coalesce(sum(l.delta), 0) FROM accounts a "
                   "LEFT JOIN ledger l USING (member_id) GROUP BY a.member_id, a.balance "
                   "HAVING a.balance <> coalesce(sum(l.delta), 0)")
    assert not unequal, unequal[:5]

    def purchases() -> tuple[int, int]:
        sold = rows(platform, "points", "SELECT count(*) FROM sales WHERE store = :store", store=STORE)[0][0]
        seen = rows(platform, "campaigns", "SELECT coalesce(sum(purchases), 0) FROM rm_purchases "
                    "WHERE store = :store", store=STORE)[0][0]
        return int(sold), int(seen)

    wait_for(lambda: purchases()[1] >= purchases()[0], timeout=90, interval=0.5,
             message="campaigns' read model caught up with the sales")
    sold, seen = purchases()
    assert seen == sold, f"campaigns counted {seen} purchases for {sold} sales (applied twice)"

    def outboxes_drained() -> bool:
        return all(rows(platform, service, "SELECT count(*) FROM outbox WHERE published_at IS NULL")[0][0] == 0
                   for service in SERVICES)

    wait_for(outboxes_drained, timeout=90, interval=0.5, message="every outbox published")

    def members_caught_up() -> bool:
        registered = rows(platform, "members", "SELECT count(*) FROM members")[0][0]
        return bool(registered == rows(platform, "campaigns", "SELECT count(*) FROM rm_members")[0][0]
                    == rows(platform, "points", "SELECT count(*) FROM accounts")[0][0])

    wait_for(members_caught_up, timeout=90, interval=0.5, message="registrations in points' and campaigns' models")
    return duplicates


def audit_events(platform: dict[str, Any], run: load.Run) -> dict[str, Any]:
    """Every credited sale has exactly one points.accrued event in points' outbox, and each such
    event reached every consumer once (its inbox holds the id) and was applied once (notify: one
    receipt per sale; campaigns' purchase count is checked in ``audit``)."""
    ids = [s.transaction_id for s in run.sales]
    events = rows(platform, "points", "SELECT body->'payload'->>'reference', event_id::text, "
                  "(body->'payload'->>'points')::int FROM outbox WHERE event_type = 'points.accrued' "
                  "AND body->'payload'->>'store' = :store AND body->'payload'->>'reference' = ANY(:ids)",
                  store=STORE, ids=ids)
    twice = [ref for ref, count in Counter(ref for ref, _, _ in events).items() if count > 1]
    assert not twice, f"sales with more than one event: {twice[:5]}"
    credited = rows(platform, "points", "SELECT count(*) FROM ledger WHERE kind = 'accrual' AND reference = ANY(:refs)",
                    refs=[f"{STORE}:{i}" for i in ids])[0][0]
    assert len(events) == credited, f"{credited} accruals but {len(events)} events"
    event_ids = [event_id for _, event_id, _ in events]

    def missing(service: str) -> int:
        got = rows(platform, service, "SELECT count(*) FROM inbox WHERE handler = 'on_points_accrued' "
                   "AND event_id::text = ANY(:ids)", ids=event_ids)[0][0]
        return len(event_ids) - int(got)

    wait_for(lambda: not any(missing(s) for s in CONSUMERS), timeout=90, interval=0.5,
             message="every sale's event in the consumers' inboxes")
    lost = sum(missing(s) for s in CONSUMERS)
    receipts = rows(platform, "notify", "SELECT count(*), count(DISTINCT split_part(dedupe_key, ':', 4)) "
                    "FROM messages WHERE template = 'points.receipt' AND store = :store "
                    "AND split_part(dedupe_key, ':', 4) = ANY(:ids)", store=STORE, ids=ids)[0]
    owed = sum(1 for _, _, points in events if points > 0)
    assert receipts[0] == receipts[1] == owed, f"{owed} receipts owed, {receipts[0]} queued for {receipts[1]} sales"
    return {"events": len(events), "events_lost": lost, "receipts": int(receipts[0])}
