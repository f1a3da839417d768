"""The in-memory fake of points' persistence (tests/unit/points_fakes.py) answers as PostgreSQL
does: one scenario of sales, caps, duplicates, replays, tiers, holds and refunds through the use
cases on each, the answers compared. Needs PostgreSQL only (no broker)."""
from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from contracts.access import service
from contracts.points import HoldRequest, Program, Refund, Sale
from service_runtime import bootstrap, migrate
from service_runtime import config as cfg
from service_runtime.db import Tx
from services.points import holds, ledger, ports, refunds, repo, sales
from tests.conftest import TEST_DB_PREFIX
from tests.unit.fake_db import FakeTx
from tests.unit.points_fakes import FakePrograms, FakeRows

INTERNAL = service("tests")  # a service calling: every access check passes

NOW = datetime.now(UTC)
ALICE, BOB = str(uuid.uuid4()), str(uuid.uuid4())
USE_CASES = (sales, refunds, holds, ledger)


def sale(txn: str, amount: str, member: str = ALICE) -> Sale:
    return Sale(store="S1", transaction_id=txn, member_id=member, amount=Decimal(amount),
                sold_at=NOW - timedelta(minutes=5))


def answer(outcome: Any) -> Any:
    """An answer without what differs by nature (ids, clock times)."""
    if isinstance(outcome, Exception):
        return type(outcome).__name__, getattr(outcome, "field", None), str(outcome)
    body = outcome.model_dump(mode="json", exclude={"hold_id", "expires_at"})
    if body.get("expiring"):
        body["expiring"].pop("expires_at")
    return body


def scenario(tx: Any, db: Any) -> list[Any]:
    plain, capped = FakePrograms(), FakePrograms(Program(cap_per_day=100))
    out: list[Any] = []

    def batch(programs: FakePrograms, items: list[Sale]) -> None:
        outcomes = sales.record(tx, programs, list(enumerate(items)), {ALICE, BOB})  # type: ignore[arg-type]
        out.append([answer(outcomes[i]) for i in range(len(items))])

    batch(plain, [sale("t1", "10"), sale("t2", "20"), sale("t3", "30", BOB), sale("t2", "20"), sale("t2", "21"),
                  sale("t4", "40")])
    batch(capped, [sale("c1", "70"), sale("c2", "70"), sale("c3", "500", BOB)])
    batch(plain, [sale("t1", "10"), sale("t1", "11"), sale("big", "1500", BOB), sale("big2", "600", BOB)])
    held = holds.place(db, INTERNAL, HoldRequest(store="S1", transaction_id="t4", member_id=ALICE, points=50), True)
    out += [answer(held), answer(holds.finish(db, INTERNAL, held.hold_id, "commit"))]
    for refund_id, txn, amount in [("r1", "t4", "20"), ("r2", "t4", "20"), ("r3", "t4", "1"), ("r1", "t4", "20"),
                                   ("r9", "nope", "1"), ("r4", "big", "1500")]:
        out.append(answer(refunds.refund(tx, plain, Refund(  # type: ignore[arg-type]
            store="S1", refund_id=refund_id, transaction_id=txn, amount=Decimal(amount),
            refunded_at=NOW - timedelta(minutes=1)))))
    # an upload's refunds in one pass: two of one sale (lots and sale rows updated once each), a resend
    together = refunds.refund_many(tx, plain, [(i, Refund(  # type: ignore[arg-type]
        store="S1", refund_id=refund_id, transaction_id=txn, amount=Decimal(amount),
        refunded_at=NOW - timedelta(minutes=1))) for i, (refund_id, txn, amount) in enumerate(
        [("u1", "t2", "5"), ("u2", "t2", "5"), ("u1", "t2", "5"), ("u3", "t1", "10"), ("u4", "t2", "11")])])
    out.append([answer(together[i]) for i in range(5)])
    return out


class OneTransaction:
    def __init__(self, tx: Any) -> None:
        self.tx = tx

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        yield self.tx


@pytest.fixture
def points_database() -> Iterator[str]:
    saved = os.environ.get("DB_NAME_PREFIX")
    os.environ["DB_NAME_PREFIX"] = TEST_DB_PREFIX + "fake_"
    url = cfg.database_url("points")
    try:
        bootstrap.ensure_database(url, drop=True)
        migrate.upgrade("points", url)
        yield url
    finally:
        bootstrap.drop_database(url)
        if saved is None:
            os.environ.pop("DB_NAME_PREFIX", None)
        else:
            os.environ["DB_NAME_PREFIX"] = saved


def test_the_fake_answers_every_step_as_postgresql_does(points_database: str,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeRows()
    fake.open(ALICE)
    fake.open(BOB)
    for module in USE_CASES:
        monkeypatch.setattr(module, "repo", fake)
    on_fake = scenario(FakeTx(), OneTransaction(FakeTx()))
    for module in USE_CASES:
        monkeypatch.setattr(module, "repo", ports.REPO)
    engine = sa.create_engine(points_database)
    try:
        with engine.begin() as conn:
            tx = Tx(conn, "points")
            repo.open_accounts(tx, [{"member_id": m, "opened_by_event": None, "member_number": None,
                                     "registration_store": None} for m in (ALICE, BOB)])
            on_postgresql = scenario(tx, OneTransaction(tx))
    finally:
        engine.dispose()
    assert on_fake == on_postgresql
    assert on_fake[0][3]["replayed"] and on_fake[0][4][0] == "Conflict"  # the scenario reached its cases
