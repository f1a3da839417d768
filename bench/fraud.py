"""A simulated day of till events through the fraud rules, with planted fraud among honest stores.

    make bench-fraud [SCALE=small|medium|large]     (20,000, 100,000 or 300,000 sales)

What is measured: the fraud service's own handler code (``ingest.take``, what each event handler
calls) in this process, on a real PostgreSQL database of its own (dropped at the end), fed the
day's events in time order in batches as the broker hands them over (one event type a batch, up to
BATCH). No broker, no points service: the events are built as points and members emit them. The
wall time covers storing the facts, flagging them, evaluating the rules over the windows kept in
the tables and raising alerts.

The day: STORES stores with TERMINALS tills each, half of them staffed by cashiers logged in as
staff, half posting through POS keys; member registrations at the till (some members buy within
minutes, as new members do), redemptions, refunds, released holds, managers' adjustments. Planted:
one cashier registers fake members (from one block of phone numbers) and sells on them minutes
later, and refunds sales after redeeming the member's points; one POS key rings up a third of its
sales just under the 100 and 200 thresholds. Figures: whether every planted pattern raised its
alert, how many alerts honest subjects got, the share of honest subjects with any alert (the false
positive rate), and the rate of evaluation.
"""
from __future__ import annotations

import os
import random
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from contracts.envelope import Envelope, EventPayload
from contracts.events import (
    MemberRegistered,
    PointsAccrued,
    PointsAdjusted,
    PointsHoldReleased,
    PointsRedeemed,
    PointsReversed,
)
from service_runtime import bootstrap, migrate
from service_runtime import config as cfg
from service_runtime.db import Tx
from services.fraud import ingest

SCALES = {"small": 20_000, "medium": 100_000, "large": 300_000}
STORES, TERMINALS, BATCH = 200, 4, 500
DAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
OPEN, CLOSE = DAY + timedelta(hours=8), DAY + timedelta(hours=22)
CASHIER, POS_KEY = ("staff", "planted-cashier"), ("key", "planted-pos-key")
PLANTED = {f"{kind}:{ident}" for kind, ident in (CASHIER, POS_KEY)}


class Day:
    """The day's events, (time, payload), built as points and members emit them."""

    def __init__(self, sales: int, rng: random.Random) -> None:
        self.rng = rng
        self.events: list[tuple[datetime, EventPayload]] = []
        # a chain's members shop about once a week or less: five members for each sale of the day
        self.members = [str(uuid.uuid4()) for _ in range(max(sales * 5, 1000))]
        self.fake_members: set[str] = set()
        # even stores' cashiers log in as staff, odd stores' tills post through POS keys
        self.tills = [(f"S-{s:03d}", f"T{t}", ("staff", f"c-{s:03d}-{t}") if s % 2 == 0
                       else ("key", f"pos-{s:03d}-{t}")) for s in range(STORES) for t in range(TERMINALS)]
        self.honest = {f"{kind}:{ident}" for _, _, (kind, ident) in self.tills}
        self.honest |= {f"staff:mgr-{s:03d}" for s in range(STORES)}
        self.sales = sales

    def at(self) -> datetime:
        return OPEN + timedelta(seconds=self.rng.uniform(0, (CLOSE - OPEN).total_seconds()))

    def amount(self) -> Decimal:
        return Decimal(str(round(min(self.rng.lognormvariate(4.0, 0.8), 3000), 2))).quantize(Decimal("0.01"))

    def sale(self, till: tuple[str, str, tuple[str, str]], member: str, at: datetime,
             amount: Decimal | None = None) -> PointsAccrued:
        store, terminal, (kind, ident) = till
        amount = amount if amount is not None else self.amount()
        event = PointsAccrued(member_id=member, store=store, source="sale", reference=uuid.uuid4().hex[:16],
                              points=int(amount), amount=amount, currency="CNY", occurred_at=at, balance=0,
                              actor_kind=kind, actor_id=ident, terminal=terminal)  # type: ignore[arg-type]
        self.events.append((at, event))
        return event

    def register(self, till: tuple[str, str, tuple[str, str]], member: str, at: datetime,
                 block: str | None = None) -> None:
        store, _, (kind, ident) = till
        self.events.append((at, MemberRegistered(
            member_id=member, member_number=f"8{self.rng.randrange(10**10):010d}0", registration_store=store,
            channel="pos", registered_at=at, actor_kind=kind, actor_id=ident,  # type: ignore[arg-type]
            phone_block=block or uuid.uuid4().hex)))

    def redeem(self, till: tuple[str, str, tuple[str, str]], member: str, at: datetime) -> None:
        store, terminal, (kind, ident) = till
        self.events.append((at, PointsRedeemed(
            member_id=member, store=store, transaction_id=uuid.uuid4().hex[:16], hold_id=str(uuid.uuid4()),
            points=self.rng.randrange(100, 2000), redeemed_at=at, balance=0, actor_kind=kind,  # type: ignore[arg-type]
            actor_id=ident, terminal=terminal)))

    def refund(self, till: tuple[str, str, tuple[str, str]], sale: PointsAccrued, at: datetime) -> None:
        store, terminal, (kind, ident) = till
        self.events.append((at, PointsReversed(
            member_id=sale.member_id, store=store, transaction_id=sale.reference, refund_id=uuid.uuid4().hex[:16],
            amount=sale.amount or Decimal(0), points_reversed=sale.points, points_uncovered=0,
            redeemed_points_returned=0, refunded_at=at, balance=0, actor_kind=kind,  # type: ignore[arg-type]
            actor_id=ident, terminal=terminal)))

    def honest_day(self) -> None:
        rng = self.rng
        for _ in range(self.sales):
            till, at = rng.choice(self.tills), self.at()
            if rng.random() < 0.01:  # a new member signs up at the till and buys at once
                member = str(uuid.uuid4())
                self.register(till, member, at - timedelta(minutes=rng.uniform(1, 8)))
            else:
                member = rng.choice(self.members)
            sold = self.sale(till, member, at)
            if rng.random() < 0.05:  # paid partly with points
                self.redeem(till, member, at - timedelta(seconds=30))
            if rng.random() < 0.015:  # brought back later the same day
                self.refund(rng.choice([t for t in self.tills if t[0] == till[0]]), sold,
                            min(at + timedelta(minutes=rng.uniform(5, 240)), CLOSE))
            if rng.random() < 0.01:  # a hold placed, then released at the till
                store, terminal, (kind, ident) = till
                self.events.append((at, PointsHoldReleased(
                    member_id=member, store=store, transaction_id=uuid.uuid4().hex[:16], hold_id=str(uuid.uuid4()),
                    points=200, released_at=at, actor_kind=kind, actor_id=ident,  # type: ignore[arg-type]
                    terminal=terminal)))
        for s in range(STORES):  # a manager's goodwill corrections
            for _ in range(rng.randrange(0, 4)):
                self.events.append((at := self.at(), PointsAdjusted(
                    member_id=rng.choice(self.members), store=f"S-{s:03d}", points=rng.randrange(-300, 500),
                    reason="goodwill", actor_id=f"mgr-{s:03d}", adjusted_at=at, balance=0)))

    def planted(self) -> None:
        rng = self.rng
        cashier = ("S-017", "T9", CASHIER)
        for _ in range(self.sales // len(self.tills)):  # an ordinary day's work around it
            self.sale(cashier, rng.choice(self.members), self.at())
        block = uuid.uuid4().hex  # fake members, numbers from one block
        for _ in range(8):
            member, at = str(uuid.uuid4()), self.at()
            self.fake_members.add(member)
            self.register(cashier, member, at - timedelta(minutes=rng.uniform(1, 4)), block)
            self.sale(cashier, member, at)
        for _ in range(5):  # redeem the member's points, then refund the sale they paid
            member, at = rng.choice(self.members), self.at()
            sold = self.sale(cashier, member, at)
            self.redeem(cashier, member, at + timedelta(seconds=20))
            self.refund(cashier, sold, at + timedelta(minutes=rng.uniform(10, 40)))
        key = ("S-033", "T9", POS_KEY)
        for i in range(45):  # a third just under the 100 and 200 thresholds
            amount = (Decimal(rng.choice([96, 97, 98, 99, 196, 197, 198])) + Decimal(rng.randrange(100)) / 100
                      if i % 3 == 0 else None)
            self.sale(key, rng.choice(self.members), self.at(), amount)


def batches(events: list[tuple[datetime, EventPayload]]) -> Iterator[list[tuple[EventPayload, Envelope]]]:
    """The day in time order, BATCH events at a time split by type: each event type has its own
    queue and batch handler, which takes what arrived of its type meanwhile (registrations first)."""
    order = [MemberRegistered, PointsRedeemed, PointsAccrued, PointsReversed, PointsHoldReleased, PointsAdjusted]
    for start in range(0, len(events), BATCH):
        chunk = [event for _, event in events[start:start + BATCH]]
        for kind in order:
            run = [(event, event.envelope()) for event in chunk if type(event) is kind]
            if run:
                yield run


def main() -> int:
    scale = os.environ.get("SCALE", "medium")
    sales = SCALES[scale]
    tag = "".join(ch for ch in os.environ.get("LOYALTY_TEST_TAG", "") if ch.isalnum())
    os.environ["DB_NAME_PREFIX"] = f"loyalty_bench_fraud_{tag}_" if tag else "loyalty_bench_fraud_"
    url = cfg.database_url("fraud")
    bootstrap.ensure_database(url, drop=True)
    migrate.upgrade("fraud", url)
    engine = sa.create_engine(url, pool_size=2)
    try:
        run(engine, sales, scale)
    finally:
        engine.dispose()
        bootstrap.drop_database(url)
    return 0


def run(engine: sa.Engine, sales: int, scale: str) -> None:
    day = Day(sales, random.Random(21))
    day.honest_day()
    day.planted()
    day.events.sort(key=lambda pair: pair[0])
    work = list(batches(day.events))  # envelopes built before the clock starts
    print(f"# fraud benchmark, SCALE={scale}: {sum(isinstance(e, PointsAccrued) for _, e in day.events)} sales, "
          f"{len(day.events)} events in all, {len(work)} batches, in-process ingest.take on PostgreSQL", flush=True)
    started = time.perf_counter()
    for batch in work:  # one transaction a batch, as a handler's
        with engine.begin() as conn:
            ingest.take(Tx(conn, "fraud"), batch, datetime.now(UTC))
    elapsed = time.perf_counter() - started
    with engine.connect() as conn:
        alerts = conn.execute(sa.text("SELECT rule, subject, evidence FROM alerts")).all()
    report(day, [(a.rule, a.subject, a.evidence) for a in alerts], len(day.events), elapsed)


def report(day: Day, alerts: list[tuple[str, str, list[dict[str, Any]]]], events: int, elapsed: float) -> None:
    def planted(subject: str, evidence: list[dict[str, Any]]) -> bool:
        return subject in PLANTED or {e["member_id"] for e in evidence} <= day.fake_members

    raised = {(rule, subject) for rule, subject, _ in alerts}
    wanted = {("fresh_member_sales", "staff:planted-cashier"), ("refund_after_redemption", "staff:planted-cashier"),
              ("sales_under_threshold", "key:planted-pos-key")}
    honest = [(rule, subject) for rule, subject, evidence in alerts if not planted(subject, evidence)]
    flagged = {subject for _, subject in honest if subject in day.honest}
    for rule, subject, _ in sorted(alerts):
        print(f"# alert {rule} {subject}{'' if (rule, subject) not in set(honest) else '  (honest)'}")
    print(f"BENCH fraud_planted_found {int(wanted <= raised)} bool")
    print(f"BENCH fraud_alerts_honest_staff {len(honest)} count")
    print(f"BENCH fraud_false_positive_rate {100 * len(flagged) / len(day.honest):.2f} pct")
    print(f"BENCH fraud_events_per_s {events / elapsed:.0f} events/s")
    print(f"BENCH fraud_scan_{day.sales // 1000}k_sales_s {elapsed:.1f} s", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
