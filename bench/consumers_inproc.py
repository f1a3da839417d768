"""Campaigns' consumers of points' events in this process, no broker: the CPU of their Python
and of their PostgreSQL backend per event, for the bundles an upload makes (sales' accruals,
refunds, tier changes) handed to the real handlers as Nameko hands them over.

    python -m bench.consumers_inproc     (PostgreSQL only; its own database, dropped at the end)

What an uploaded sale costs the consumers, apart from the broker and from the noise of a shared
host (docs/decisions/0028-set-based-consumers.md).
"""
from __future__ import annotations

import os
import random
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from nameko.extensions import ENTRYPOINT_EXTENSIONS_ATTR

from bench.cpu import Cpu, client_and_postgres_ms
from bench.platform import bench
from contracts.events import PointsAccrued, PointsReversed, TierChanged
from service_runtime import bootstrap, migrate
from service_runtime import config as cfg
from service_runtime.db import Tx
from service_runtime.events import BatchEventHandler
from services.campaigns.read_model_service import ReadModelEntrypoints

MEMBERS, ROUNDS = 2_000, 3
# events a message carries: 100 as an upload's bundles, a few as till sales in a quiet hour
BUNDLE = int(os.environ.get("BENCH_BUNDLE", "100"))
BUNDLES = 2_000 // BUNDLE


class Worker:
    """What a handler sees as ``self``: the database and the service's name."""

    name = "campaigns"

    def __init__(self, engine: sa.Engine) -> None:
        self.db = self
        self.engine = engine

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        with self.engine.begin() as conn:
            yield Tx(conn, "campaigns")


def deliver(worker: Worker, handler: str, bundle: list[dict[str, Any]]) -> None:
    """One message carrying a bundle, to a batch handler (a list of messages) or a one-event one."""
    method = getattr(ReadModelEntrypoints, handler)
    batched = any(isinstance(ep, BatchEventHandler) for ep in getattr(method, ENTRYPOINT_EXTENSIONS_ATTR, ()))
    outcome = method(worker, [bundle] if batched else bundle)
    if batched and outcome != ["ack"]:
        raise SystemExit(f"{handler}: {outcome}")


def bundles(rng: random.Random, members: list[str], count: int) -> dict[str, list[list[dict[str, Any]]]]:
    """``count`` bundles of each kind an upload publishes, as envelopes in JSON."""
    now = datetime.now(UTC)
    made: dict[str, list[list[dict[str, Any]]]] = {"on_points_accrued": [], "on_points_reversed": [],
                                                   "on_tier_changed": []}
    for _ in range(count):
        sales, refunds, tiers = [], [], []
        for _ in range(BUNDLE):
            member, at = rng.choice(members), now - timedelta(seconds=rng.randint(0, 86_400))
            ref, amount = uuid.uuid4().hex[:12], Decimal(rng.randint(100, 50_000)) / 100
            sales.append(PointsAccrued(member_id=member, store=f"S-{rng.randint(0, 19):03d}", source="sale",
                                       reference=ref, points=int(amount), balance=rng.randint(0, 9_999),
                                       amount=amount, occurred_at=at).envelope(occurred_at=at))
            refunds.append(PointsReversed(member_id=member, store="S-001", transaction_id=ref, refund_id="R" + ref,
                                          amount=amount / 2, points_reversed=1, points_uncovered=0,
                                          redeemed_points_returned=0, refunded_at=at,
                                          balance=rng.randint(0, 9_999)).envelope(occurred_at=at))
            tiers.append(TierChanged(member_id=member, old_tier="normal", new_tier=rng.choice(["silver", "gold"]),
                                     direction="up", reason="sale", changed_at=at).envelope(occurred_at=at))
        for name, events in (("on_points_accrued", sales), ("on_points_reversed", refunds),
                             ("on_tier_changed", tiers)):
            made[name].append([e.model_dump(mode="json") for e in events])
    return made


def main() -> int:
    tag = "".join(ch for ch in os.environ.get("LOYALTY_TEST_TAG", "") if ch.isalnum())
    os.environ["DB_NAME_PREFIX"] = f"loyalty_bench_consumers_{tag}_" if tag else "loyalty_bench_consumers_"
    url = cfg.database_url("campaigns")
    bootstrap.ensure_database(url, drop=True)
    migrate.upgrade("campaigns", url)
    engine = sa.create_engine(url, pool_size=2)
    try:
        run(Worker(engine))
    finally:
        engine.dispose()
        bootstrap.drop_database(url)
    return 0


def run(worker: Worker) -> None:
    rng = random.Random(5)
    members = [str(uuid.uuid4()) for _ in range(MEMBERS)]
    cpu = Cpu(Path("/nonexistent"), os.environ["DB_NAME_PREFIX"])
    figures: dict[str, list[tuple[float, float]]] = {}

    def measure(name: str, work: Callable[[], None], count: int) -> None:
        figures.setdefault(name, []).append(client_and_postgres_ms(cpu, work, count))

    for name, warm in bundles(rng, members, 1).items():  # statements parsed, pools filled
        deliver(worker, name, warm[0])
    for _ in range(ROUNDS):
        for name, made in bundles(rng, members, BUNDLES).items():
            def work(name: str = name, made: list[list[dict[str, Any]]] = made) -> None:
                for bundle in made:
                    deliver(worker, name, bundle)
                    deliver(worker, name, bundle)  # delivered again: the inbox skips it
            measure(name, work, BUNDLES * BUNDLE)
    for name, values in figures.items():  # the lower of the rounds: the other work on the box only adds
        short = name.removeprefix("on_")
        bench(f"campaigns_inproc_{short}_python_us", 1000 * min(v[0] for v in values), "us")
        bench(f"campaigns_inproc_{short}_postgres_us", 1000 * min(v[1] for v in values), "us")


if __name__ == "__main__":
    sys.exit(main())
