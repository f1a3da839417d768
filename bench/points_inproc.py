"""Points' sale code in this process, no broker and no gateway: the CPU of its Python and of
its PostgreSQL backend per item, for offline uploads of 1000 items and for till sales written
one to a transaction and eight to a transaction (what group commit saves).

    python -m bench.points_inproc        (PostgreSQL only; its own database, dropped at the end)

The rest of the platform's share of a sale (RPC, gateway, consumers) is bench.points' business;
this separates what the points code itself costs from the noise of a shared host.
"""
from __future__ import annotations

import json
import os
import random
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench.cpu import Cpu, client_and_postgres_ms
from bench.platform import bench
from bench.points import Books, Fleet, offline_batch
from contracts.points import RefundItem, Sale, SaleItem
from service_runtime import bootstrap, migrate
from service_runtime import config as cfg
from service_runtime.db import Tx
from services.points import limits, repo, sales, uploads
from services.points.programs import Programs

MEMBERS, STORES, ROUNDS, UPLOADS, SALES = 2_000, 20, 2, 4, 400


class Db:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        with self.engine.begin() as conn:
            yield Tx(conn, "points")


def main() -> int:
    tag = "".join(ch for ch in os.environ.get("LOYALTY_TEST_TAG", "") if ch.isalnum())
    os.environ["DB_NAME_PREFIX"] = f"loyalty_bench_inproc_{tag}_" if tag else "loyalty_bench_inproc_"
    url = cfg.database_url("points")
    bootstrap.ensure_database(url, drop=True)
    migrate.upgrade("points", url)
    engine = sa.create_engine(url, pool_size=2)
    try:
        run(Db(engine), engine)
    finally:
        engine.dispose()
        bootstrap.drop_database(url)
    return 0


def run(db: Db, engine: sa.Engine) -> None:
    members = sorted(str(uuid.uuid4()) for _ in range(MEMBERS))
    with engine.begin() as conn:
        repo.open_accounts(Tx(conn, "points"), [{"member_id": m, "opened_by_event": None, "member_number": None,
                                                 "registration_store": None} for m in members])
    programs, stores = Programs(), [f"S-{i:03d}" for i in range(STORES)]
    fleet, books = Fleet(random.Random(7), stores, 4, members), Books()
    cpu = Cpu(Path("/nonexistent"), os.environ["DB_NAME_PREFIX"])
    figures: dict[str, list[tuple[float, float]]] = {}

    def measure(name: str, work: Callable[[], None], count: int) -> None:
        figures.setdefault(name, []).append(client_and_postgres_ms(cpu, work, count))

    def upload(items: list[dict[str, Any]]) -> None:
        good, refused = uploads.check_items(items, None, limits.from_env())
        posted = sales.post(db, programs, None, [(i, it) for i, it in good if isinstance(it, SaleItem)],
                            [(i, it) for i, it in good if isinstance(it, RefundItem)])
        answer: Any = uploads.answer(items, {**posted, **refused}, refused)
        answer = answer if isinstance(answer, dict) else answer.model_dump(mode="json")
        json.dumps(answer)  # as the RPC reply is
        for result in answer["results"]:  # the books, so later uploads refund earlier sales
            item = items[result["index"]]
            body = {k: v for k, v in item.items() if k != "kind"}
            if not result["ok"]:
                raise SystemExit(f"item refused: {result}")
            if item["kind"] == "sale":
                books.sale_answer(body, result["sale"], resent=True)
            else:
                books.refund_answer(body, result["refund"])

    def uploads_of(count: int) -> list[list[dict[str, Any]]]:
        made = []
        for k in range(count):
            items = offline_batch(fleet, books, stores[k % STORES])
            for item in items:
                item.pop("_resent", None)
            made.append(items)
        return made

    def uploading(batch: list[list[dict[str, Any]]]) -> Callable[[], None]:
        def work() -> None:
            for items in batch:
                upload(items)
        return work

    def till(group: int) -> Callable[[], None]:
        parsed = [Sale.model_validate(fleet.sale(*fleet.terminals[i % len(fleet.terminals)])) for i in range(SALES)]

        def work() -> None:
            for i in range(0, SALES, group):
                for outcome in sales.post(db, programs, None, list(enumerate(parsed[i:i + group])), []).values():
                    json.dumps(outcome.model_dump(mode="json"))
        return work

    upload(uploads_of(1)[0])  # warm: programs cached, statements compiled
    for _ in range(ROUNDS):
        measure("upload_item", uploading(uploads_of(UPLOADS)), UPLOADS * 1000)
        measure("sale_alone", till(1), SALES)
        measure("sale_by_8", till(8), SALES)
    for name, values in figures.items():  # the lower of the rounds: the other work on the box only adds
        bench(f"points_inproc_{name}_python_us", 1000 * min(v[0] for v in values), "us")
        bench(f"points_inproc_{name}_postgres_us", 1000 * min(v[1] for v in values), "us")


if __name__ == "__main__":
    sys.exit(main())
