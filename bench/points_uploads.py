"""Offline uploads in bench.points: what a till sends after a day offline, and the phase that
posts them (``accrual_batch_per_s``, ``batch_item_cpu_ms``)."""
from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections import deque
from decimal import Decimal
from typing import Any

from bench.cpu import Cpu, against_ceiling, measured
from bench.http import TransportError
from bench.platform import bench
from bench.points_fleet import REFUND_SHARE, RETRY_SHARE, Books, Fleet, paid
from bench.points_till import client, p50

BATCH_SIZE = 1000
UPLOADERS = 3


def offline_batch(fleet: Fleet, books: Books, store: str) -> list[dict[str, Any]]:
    """What a till uploads after a day offline: sales, a few resent (marked "_resent", a key
    taken off before sending), refunds of earlier sales."""
    terminal = f"T{fleet.rng.randint(1, 9):02d}"
    items: list[dict[str, Any]] = []
    pool: list[tuple[str, Decimal]] = []  # sales of this batch, refundable later in it
    while len(items) < BATCH_SIZE:
        roll = fleet.rng.random()
        if roll < REFUND_SHARE and (pool or books.refundable[store]):
            source = pool if pool and (fleet.rng.random() < 0.5 or not books.refundable[store]) \
                else books.refundable[store]
            target = source.pop(fleet.rng.randrange(len(source)))
            books.refunded.add((store, target[0]))
            items.append({"kind": "refund", **fleet.refund(store, terminal, target)})
        elif roll < REFUND_SHARE + RETRY_SHARE and books.recent[store]:
            items.append({"kind": "sale", "_resent": True, **fleet.rng.choice(books.recent[store])})
        else:
            sale = fleet.sale(store, terminal)
            items.append({"kind": "sale", **sale})
            if paid(sale) > 0:
                pool.append((sale["transaction_id"], paid(sale)))
    return items


async def batches(base: str, fleet: Fleet, books: Books, cpu: Cpu, count: int, ceiling: float) -> None:
    prepared = []  # built and encoded before the clock starts: the client's work is not the platform's
    for n in range(count):
        store = fleet.stores[n % len(fleet.stores)]
        items = offline_batch(fleet, books, store)
        resent = {i for i, item in enumerate(items) if item.pop("_resent", False)}
        for item in items:  # later batches may resend these
            if item["kind"] == "sale":
                books.recent[store].append({k: v for k, v in item.items() if k != "kind"})
        prepared.append((store, items, resent, json.dumps({"items": items}, separators=(",", ":")).encode()))
    sizes = [len(p[3]) for p in prepared]
    accepted, failed, seconds = 0, 0, []
    queue = deque(prepared)

    async with client(base) as http:
        async def uploader() -> None:
            nonlocal accepted, failed
            while queue:
                store, items, resent, payload = queue.popleft()
                started = time.perf_counter()
                try:
                    status, data = await http.request("POST", "/v1/points/sales/batch", payload,
                                                      {"X-API-Key": fleet.keys[store]}, timeout=600)
                except TransportError as exc:
                    books.error("batch", 0, str(exc))
                    failed += len(items)
                    books.unanswered += [(item["kind"], store, {k: v for k, v in item.items() if k != "kind"})
                                         for item in items]
                    continue
                seconds.append(time.perf_counter() - started)
                if not 200 <= status < 300:
                    books.error("batch", status, data.decode(errors="replace"))
                    failed += len(items)
                    if status >= 500:  # it may have been booked, or part of it: the till sends it again
                        books.unanswered += [(item["kind"], store, {k: v for k, v in item.items() if k != "kind"})
                                             for item in items]
                    continue
                result = json.loads(data)
                accepted += int(result["accepted"])
                failed += int(result["failed"])
                for answer in result["results"]:
                    item = items[answer["index"]]
                    body = {k: v for k, v in item.items() if k != "kind"}
                    if not answer["ok"]:
                        books.error(f"batch {item['kind']}", 0, json.dumps(answer.get("error")))
                    elif item["kind"] == "sale":
                        books.sale_answer(body, answer["sale"], resent=answer["index"] in resent)
                    else:
                        books.refund_answer(body, answer["refund"])

        async def run() -> None:
            await asyncio.gather(*(uploader() for _ in range(UPLOADERS)))

        phase = await measured(cpu, f"offline batches ({UPLOADERS} uploaders)", run)
    elapsed = phase.elapsed
    bench("accrual_batch_per_s", accepted / elapsed, "items/s")
    bench("batch_item_cpu_ms", phase.cpu_ms(accepted, "uploaded item"), "ms")
    against_ceiling("accrual_batch", accepted / elapsed, ceiling)
    print(f"# batches: {count} uploads of {BATCH_SIZE} items ({statistics.mean(sizes) / 1024:.0f} KiB each, largest "
          f"{max(sizes) / 1024:.0f} KiB), {accepted} accepted, {failed} failed in {elapsed:.1f} s; one upload "
          f"p50 {p50(seconds):.1f} s", flush=True)

