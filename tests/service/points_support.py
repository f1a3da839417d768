"""Helpers for points service tests: accounts opened as member.registered opens them, sales,
and the ledger invariants checked straight in the database."""
from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from contracts.points import luhn_digit
from service_runtime.config import database_url

_numbers = itertools.count(int(datetime.now(UTC).timestamp() * 1000) % 10**9)


def execute(sql: str, **params: Any) -> None:
    engine = sa.create_engine(database_url("points"), poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(sql), params)
    finally:
        engine.dispose()


def open_account(store: str = "S1") -> tuple[str, str]:
    """(member id, member number) of a fresh account, as the member.registered handler opens it."""
    member_id, body = str(uuid.uuid4()), f"9{next(_numbers):010d}"
    number = body + luhn_digit(body)  # a card number members could have issued
    execute("INSERT INTO accounts (member_id, member_number, registration_store) VALUES (:m, :n, :s)",
            m=member_id, n=number, s=store)
    return member_id, number


def sale(member_id: str, amount: str, *, store: str = "S1", txn: str | None = None, items: list[dict] | None = None,
         sold_at: datetime | None = None, **extra: Any) -> dict[str, Any]:
    return {"member_id": member_id, "store": store, "transaction_id": txn or uuid.uuid4().hex, "amount": amount,
            "items": items or [], "sold_at": (sold_at or datetime.now(UTC)).isoformat(), **extra}


def invariant_violations(member_id: str | None = None) -> list[str]:
    """Every account (or the one given) whose balance is not its ledger's sum, whose lots do not
    hold max(0, balance - held), or whose held points differ from its open holds."""
    engine = sa.create_engine(database_url("points"), poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("""
                SELECT a.member_id, a.balance, a.held,
                       coalesce((SELECT sum(delta) FROM ledger l WHERE l.member_id = a.member_id), 0) AS ledger_sum,
                       coalesce((SELECT sum(remaining) FROM lots o WHERE o.member_id = a.member_id), 0) AS lots,
                       coalesce((SELECT sum(points) FROM holds h WHERE h.member_id = a.member_id
                                 AND h.status = 'held'), 0) AS holds
                FROM accounts a WHERE CAST(:m AS uuid) IS NULL OR a.member_id = :m"""), {"m": member_id}).all()
    finally:
        engine.dispose()
    problems = []
    for r in rows:
        if r.balance != r.ledger_sum:
            problems.append(f"{r.member_id}: balance {r.balance} != ledger {r.ledger_sum}")
        if r.lots != max(0, r.balance - r.held):
            problems.append(f"{r.member_id}: lots {r.lots} != max(0, {r.balance} - {r.held})")
        if r.held != r.holds:
            problems.append(f"{r.member_id}: held {r.held} != open holds {r.holds}")
    return problems
