"""Benchmark of point accrual: a fleet of POS terminals selling to members through the gateway.

    make bench-points [SCALE=small|medium|large]

Starts the platform as `make run` does (its own databases, vhost and ports), imports members
and waits until points has opened their accounts, gives every store its own POS key, and then
simulates the stores' tills: baskets of 1-8 lines (sku, category, qty, amount, line discounts,
now and then a sale-level discount, some tobacco and gift cards that earn nothing), 1% of sales
sent again as they were (a till that did not see the answer: same store, transaction id and
body), 2% refunds of earlier sales. Figures, one `BENCH` line each:

    noop_rpc_ceiling_per_s     one RPC to points.ping and back, 32 callers (bench.cpu.noop_ceiling): the
                               yardstick; `*_pct_of_ceiling` lines give a rate as a share of it
    noop_cpu_ms                the platform's CPU per no-op RPC (bench.cpu.Phase.cpu_ms)
    gateway_healthz_per_s      the gateway's floor: /healthz (no RPC) through its middleware
    gateway_readyz_per_s       /readyz: a ping to each of the four services and a database check
    accrual_sync_*             32 terminals in a closed loop: requests/s, p50, p99 of sales
    sale_cpu_ms                CPU of gateway, services, RabbitMQ and PostgreSQL in that phase per answer
    accrual_one_terminal_*     one terminal alone for 3 s: requests/s, p50, p99 (the latency floor)
    accrual_paced_*            open loop at 100 sales/s: p50, p99 from each sale's due time
    accrual_batch_per_s        offline uploads of 1000 sales (and refunds) per request, 3 uploaders
    batch_item_cpu_ms          the platform's CPU per uploaded item
    accrual_sync_2procs_per_s  the closed loop again with a second points process
    ledger_discrepancies       the audit afterwards: balances against the ledger's sums, sales
                               credited twice, sales and refunds sent against those booked

Between figures `#` lines say where the CPU went (percent of one core per process group, the
machine has os.cpu_count() cores) so the limiting process can be read off; the load generator
is this Python process, and its own share is printed too. Exits non-zero when a request failed
or the audit found a discrepancy.
"""
from __future__ import annotations

import asyncio
import base64
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
from collections import Counter, defaultdict, deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from bench.cpu import Cpu, against_ceiling, measured, noop_ceiling
from bench.http import Pool, TransportError
from bench.platform import ROOT, bench, percentile, running_platform

# members, stores, terminals per store, seconds of each closed-loop phase, seconds paced, batches
SCALES: dict[str, dict[str, int]] = {
    "small": {"members": 2_000, "stores": 20, "terminals": 4, "sync_s": 10, "paced_s": 8, "batches": 6},
    "medium": {"members": 20_000, "stores": 100, "terminals": 6, "sync_s": 45, "paced_s": 30, "batches": 30},
    "large": {"members": 200_000, "stores": 500, "terminals": 8, "sync_s": 180, "paced_s": 120, "batches": 120},
}
CONCURRENT_TERMINALS = 32
PACED_RATE = 100  # sales per second
BATCH_SIZE = 1000
UPLOADERS = 3
RETRY_SHARE, REFUND_SHARE = 0.01, 0.02
TICK = os.sysconf("SC_CLK_TCK")
CENT = Decimal("0.01")

# category, share of lines, price range (yuan), sold by weight
CATEGORIES = [("grocery", 28, (2, 60), False), ("dairy", 12, (3, 40), False), ("produce", 12, (2, 30), True),
              ("bakery", 8, (3, 35), False), ("beverages", 12, (2, 80), False), ("snacks", 9, (2, 30), False),
              ("household", 7, (5, 150), False), ("personal_care", 6, (8, 200), False),
              ("frozen", 4, (8, 90), False), ("tobacco", 1, (15, 100), False), ("gift_card", 1, (50, 500), False)]


def p50(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def p99(values: list[float]) -> float:
    return percentile(values, 0.99) if values else float("nan")


# ---- the catalogue and baskets ----------------------------------------------------------
@dataclass(frozen=True)
class Product:
    sku: str
    category: str
    price: Decimal
    by_weight: bool


def catalogue(rng: random.Random, size: int = 3000) -> list[Product]:
    products = []
    weights = [c[1] for c in CATEGORIES]
    for i in range(size):
        name, _, (low, high), by_weight = rng.choices(CATEGORIES, weights)[0]
        price = (Decimal(rng.uniform(low, high)).quantize(Decimal("0.1")) - Decimal("0.01")).max(Decimal("0.99"))
        products.append(Product(f"{name[:3].upper()}{i:05d}", name, price, by_weight))
    return products


class Fleet:
    """Stores, their terminals and keys, the members, and how a till builds a sale or refund."""

    def __init__(self, rng: random.Random, stores: list[str], terminals: int, members: list[str]) -> None:
        self.rng = rng
        self.stores = stores
        self.terminals = [(s, f"T{t:02d}") for s in stores for t in range(1, terminals + 1)]
        self.members = members
        self.regulars = members[: max(1, len(members) // 10)]  # a tenth of the members make half the sales
        self.products = catalogue(rng)
        self.keys: dict[str, str] = {}
        self.run = uuid.uuid4().hex[:6]
        self.seq: Counter[str] = Counter()

    def member(self) -> str:
        return self.rng.choice(self.regulars if self.rng.random() < 0.5 else self.members)

    def sale(self, store: str, terminal: str) -> dict[str, Any]:
        rng = self.rng
        self.seq[store] += 1
        lines, total, discounted = [], Decimal(0), Decimal(0)
        for product in rng.sample(self.products, rng.choices(range(1, 9), [22, 20, 16, 13, 10, 8, 6, 5])[0]):
            qty = Decimal(rng.randint(150, 2500)) / 1000 if product.by_weight else Decimal(rng.choice([1, 1, 1, 2, 3]))
            amount = (product.price * qty).quantize(CENT)
            if amount <= 0:
                amount = CENT
            line: dict[str, Any] = {"sku": product.sku, "category": product.category, "qty": str(qty),
                                    "amount": str(amount)}
            if rng.random() < 0.1:  # a promotion on the line
                discount = (amount * Decimal(rng.choice([5, 10, 20, 30])) / 100).quantize(CENT)
                line["discount"] = str(discount)
                discounted += discount
            lines.append(line)
            total += amount
        body: dict[str, Any] = {
            "store": store, "terminal": terminal, "transaction_id": f"{terminal}-{self.run}-{self.seq[store]:07d}",
            "member_id": self.member(), "amount": str(total), "currency": "CNY", "items": lines,
            "sold_at": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
        }
        if rng.random() < 0.05 and total - discounted >= 20:  # a coupon on the whole basket
            body["discounts"] = [{"code": "MEMBERDAY10", "amount": "10.00"}]
            discounted += 10
        return body

    def refund(self, store: str, terminal: str, sale: tuple[str, Decimal]) -> dict[str, Any]:
        transaction_id, paid = sale
        amount = paid if self.rng.random() < 0.6 else (paid * Decimal(self.rng.uniform(0.1, 0.9))).quantize(CENT)
        self.seq["refund:" + store] += 1
        return {"store": store, "refund_id": f"R{terminal}-{self.run}-{self.seq['refund:' + store]:06d}",
                "transaction_id": transaction_id, "terminal": terminal, "amount": str(max(amount, CENT)),
                "refunded_at": datetime.now(timezone.utc).isoformat(timespec="milliseconds")}


def paid(body: dict[str, Any]) -> Decimal:
    """What the customer paid: the amount less line and sale discounts."""
    return (Decimal(body["amount"]) - sum((Decimal(i.get("discount", "0")) for i in body["items"]), Decimal(0))
            - sum((Decimal(d["amount"]) for d in body.get("discounts", [])), Decimal(0)))


# ---- what was sent and what the platform answered -----------------------------------------
@dataclass
class Books:
    """The simulator's own books, to audit the ledger against."""

    sales: dict[tuple[str, str], tuple[str, int]] = field(default_factory=dict)  # -> member, points earned
    refunds: dict[tuple[str, str], tuple[str, int]] = field(default_factory=dict)  # -> member, points reversed
    refundable: dict[str, list[tuple[str, Decimal]]] = field(default_factory=lambda: defaultdict(list))
    refunded: set[tuple[str, str]] = field(default_factory=set)  # sales a refund was made for
    recent: dict[str, deque[dict[str, Any]]] = field(default_factory=lambda: defaultdict(lambda: deque(maxlen=50)))
    errors: Counter[str] = field(default_factory=Counter)
    samples: list[str] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)
    replays: int = 0
    unanswered: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)  # kind, store, body

    def error(self, what: str, status: int, text: str) -> None:
        self.errors[f"{what} {status}"] += 1
        if len(self.samples) < 12:
            self.samples.append(f"{what} {status}: {text[:300]}")

    def mismatch(self, text: str) -> None:
        if len(self.mismatches) < 1000:
            self.mismatches.append(text)

    def sale_answer(self, body: dict[str, Any], result: dict[str, Any], resent: bool) -> None:
        key = (body["store"], body["transaction_id"])
        points = int(result["points_earned"])
        if result.get("member_id") not in (None, body.get("member_id")):
            self.mismatch(f"sale {key} credited to {result.get('member_id')}, not {body.get('member_id')}")
        if key in self.sales:
            self.replays += 1
            if not result.get("replayed"):
                self.mismatch(f"sale {key} sent again was not answered as a replay")
            if points != self.sales[key][1]:
                self.mismatch(f"sale {key} earned {self.sales[key][1]} then {points} on replay")
            return
        if result.get("replayed") and not resent:
            self.mismatch(f"first sending of sale {key} answered as a replay")
        self.sales[key] = (body["member_id"], points)
        self.recent[body["store"]].append(body)
        if paid(body) > 0 and key not in self.refunded:
            self.refundable[body["store"]].append((body["transaction_id"], paid(body)))

    def refund_answer(self, body: dict[str, Any], result: dict[str, Any]) -> None:
        key = (body["store"], body["refund_id"])
        reversed_ = int(result["points_reversed"])
        if key in self.refunds:
            if reversed_ != self.refunds[key][1]:
                self.mismatch(f"refund {key} reversed {self.refunds[key][1]} then {reversed_}")
            return
        self.refunds[key] = (str(result.get("member_id")), reversed_)

    def take_refundable(self, rng: random.Random, store: str) -> tuple[str, Decimal] | None:
        pool = self.refundable[store]
        if not pool:
            return None
        sale = pool.pop(rng.randrange(len(pool)))  # each sale refunded at most once
        self.refunded.add((store, sale[0]))
        return sale


class Till:
    """Sends one till's requests; retries like a real till on a lost answer (same body)."""

    def __init__(self, client: Pool, fleet: Fleet, books: Books) -> None:
        self.client, self.fleet, self.books = client, fleet, books

    async def post(self, path: str, body: dict[str, Any], store: str,
                   what: str) -> tuple[int, Any, float, int]:
        """(status, parsed body, latency of the answered attempt in ms, attempts); transport
        errors and 502/503/504 are retried up to twice with the same body, as a till would; then
        status 0: no answer, the till keeps the sale to send again later."""
        payload = json.dumps(body, separators=(",", ":")).encode()
        for attempt in range(1, 4):
            started = time.perf_counter()
            try:
                status, data = await self.client.request("POST", path, payload,
                                                         {"X-API-Key": self.fleet.keys[store]})
            except TransportError as exc:
                self.books.error(what, 0, str(exc))
                continue
            elapsed = (time.perf_counter() - started) * 1000
            if status in (502, 503, 504):  # the sale may or may not be booked: the till tries again later
                self.books.error(what, status, data.decode(errors="replace"))
                continue
            try:
                parsed = json.loads(data)
            except ValueError:
                parsed = data.decode(errors="replace")
            return status, parsed, elapsed, attempt
        return 0, None, float("nan"), 3  # no answer after three tries (transport errors or 502-504)

    async def flush(self) -> int:
        """Send what got no answer again, as a till does when it is back online; how many
        still got none."""
        pending, self.books.unanswered = self.books.unanswered, []
        for kind, store, body in pending:
            path = "/v1/points/sales" if kind == "sale" else "/v1/points/refunds"
            status, result, _, _ = await self.post(path, body, store, f"{kind} resent after failures")
            if status in (200, 201) and isinstance(result, dict):
                if kind == "sale":
                    self.books.sale_answer(body, result, resent=True)
                else:
                    self.books.refund_answer(body, result)
            elif status == 0:
                self.books.unanswered.append((kind, store, body))
            else:
                self.books.error(f"{kind} resent after failures", status, json.dumps(result))
        return len(self.books.unanswered)

    async def sale(self, store: str, terminal: str, latencies: list[float],
                   body: dict[str, Any] | None = None) -> None:
        resent = body is not None
        body = body or self.fleet.sale(store, terminal)
        status, result, elapsed, attempts = await self.post("/v1/points/sales", body, store, "sale")
        if status == 0:  # no answer: the till keeps it and sends it again later
            self.books.unanswered.append(("sale", store, body))
        elif status in (200, 201) and isinstance(result, dict):
            latencies.append(elapsed)
            self.books.sale_answer(body, result, resent or attempts > 1)
            if status == 201 and result.get("replayed"):
                self.books.mismatch(f"replay answered 201: {body['transaction_id']}")
            if not resent and self.fleet.rng.random() < RETRY_SHARE:  # the till missed the answer: send again
                await self.sale(store, terminal, latencies, body)
        elif status:
            self.books.error("sale", status, json.dumps(result) if not isinstance(result, str) else result)

    async def refund(self, store: str, terminal: str, latencies: list[float]) -> bool:
        target = self.books.take_refundable(self.fleet.rng, store)
        if target is None:
            return False
        body = self.fleet.refund(store, terminal, target)
        status, result, elapsed, _ = await self.post("/v1/points/refunds", body, store, "refund")
        if status == 0:
            self.books.unanswered.append(("refund", store, body))
        elif status in (200, 201) and isinstance(result, dict):
            latencies.append(elapsed)
            self.books.refund_answer(body, result)
        elif status:
            self.books.error("refund", status, json.dumps(result) if not isinstance(result, str) else result)
        return True

    async def act(self, store: str, terminal: str, sales: list[float], refunds: list[float]) -> None:
        if self.fleet.rng.random() < REFUND_SHARE and await self.refund(store, terminal, refunds):
            return
        await self.sale(store, terminal, sales)


# ---- the phases -------------------------------------------------------------------------
@asynccontextmanager
async def client(base: str) -> AsyncIterator[Pool]:
    pool = Pool(base)
    try:
        yield pool
    finally:
        pool.close()


async def rpc_ceiling(base: str, env: dict[str, str], key: str, cpu: Cpu, books: Books, seconds: float) -> float:
    """The no-op RPC round trip (bench.cpu.noop_ceiling, the yardstick of the targets), and the
    HTTP side alone: /healthz through the gateway's middleware, /readyz. Returns the ceiling."""
    ceiling, failures = await noop_ceiling(env, cpu, seconds)
    for name, count in failures.items():
        books.errors[f"rpc ping {name} 0"] += count

    async with client(base) as http:
        for path, name in (("/healthz", "gateway_healthz_per_s"), ("/readyz", "gateway_readyz_per_s")):
            done: list[float] = []

            async def getter(deadline: float, path: str = path, done: list[float] = done) -> None:
                while time.perf_counter() < deadline:
                    started = time.perf_counter()
                    try:
                        status, data = await http.request("GET", path, headers={"X-API-Key": key})
                    except TransportError as exc:
                        status, data = 0, str(exc).encode()
                    if status != 200:
                        books.error(f"GET {path}", status, data.decode(errors="replace"))
                        await asyncio.sleep(0.1)
                        continue
                    done.append((time.perf_counter() - started) * 1000)

            async def run_http(path: str = path, getter: Any = getter) -> None:
                deadline = time.perf_counter() + seconds
                await asyncio.gather(*(getter(deadline) for _ in range(CONCURRENT_TERMINALS)))

            elapsed = (await measured(cpu, f"GET {path}", run_http)).elapsed
            bench(name, len(done) / elapsed, "req/s")
            print(f"# {path}: p50 {p50(done):.1f} ms, p99 {p99(done):.1f} ms "
                  f"({'no RPC' if path == '/healthz' else 'one ping to each of 4 services + a gateway DB check'})",
                  flush=True)
    return ceiling


def group_commit(env: dict[str, str]) -> tuple[float, float]:
    """(transactions, sales) of the points process's group commit so far, from its metrics."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{env['POINTS_METRICS_PORT']}/metrics", timeout=5) as r:
            text = r.read().decode()
    except (OSError, KeyError):
        return 0.0, 0.0
    found = {line.split()[0]: float(line.split()[-1]) for line in text.splitlines()
             if line.startswith("loyalty_points_sales_per_transaction_")}
    return (found.get("loyalty_points_sales_per_transaction_count", 0.0),
            found.get("loyalty_points_sales_per_transaction_sum", 0.0))


async def closed_loop(base: str, fleet: Fleet, books: Books, cpu: Cpu, seconds: float, label: str,
                      prefix: str, concurrent: int = CONCURRENT_TERMINALS, ceiling: float = 0.0,
                      env: dict[str, str] | None = None) -> None:
    sales: list[float] = []
    refunds: list[float] = []
    terminals = fleet.terminals[:]
    fleet.rng.shuffle(terminals)
    async with client(base) as http:
        till = Till(http, fleet, books)

        async def terminal(i: int, deadline: float) -> None:
            while time.perf_counter() < deadline:  # each of the 32 moves round the fleet's tills
                store, name = terminals[i % len(terminals)]
                i += concurrent
                await till.act(store, name, sales, refunds)

        async def run() -> None:
            deadline = time.perf_counter() + seconds
            await asyncio.gather(*(terminal(i, deadline) for i in range(concurrent)))

        errors_before = sum(books.errors.values())
        grouped = group_commit(env or {})
        phase = await measured(cpu, label, run)
        transactions, grouped_sales = (b - a for a, b in zip(grouped, group_commit(env or {}), strict=True))
    elapsed, requests = phase.elapsed, len(sales) + len(refunds)
    bench(f"{prefix}_per_s", requests / elapsed, "req/s")
    if ceiling:
        against_ceiling(prefix, requests / elapsed, ceiling)
    if prefix == "accrual_sync":  # refunds (2%) counted as sales: the CPU of the phase per answer
        bench("sale_cpu_ms", phase.cpu_ms(requests, "sale"), "ms")
    if prefix in ("accrual_sync", "accrual_one_terminal"):
        bench(f"{prefix}_p50_ms", p50(sales), "ms")
        bench(f"{prefix}_p99_ms", p99(sales), "ms")
    print(f"# {label}: {len(sales)} sales (resends included) and {len(refunds)} refunds in {elapsed:.1f} s; "
          f"sales p50 {p50(sales):.1f} ms p99 {p99(sales):.1f} ms"
          + (f", refunds p50 {p50(refunds):.1f} ms" if refunds else "")
          + f"; {sum(books.errors.values()) - errors_before} failed attempts"
          + (f"; the (first) points process wrote them in {transactions:.0f} transactions, "
             f"{grouped_sales / transactions:.1f} sales each" if transactions else ""), flush=True)


async def paced(base: str, fleet: Fleet, books: Books, cpu: Cpu, seconds: float) -> None:
    """Open loop: sale i is due at start + i/rate whatever the answers before it; latency is
    counted from the due time, so a platform that falls behind shows it."""
    sales: list[float] = []
    refunds: list[float] = []
    late: list[float] = []
    terminals = fleet.terminals[:]
    fleet.rng.shuffle(terminals)
    async with client(base) as http:
        till = Till(http, fleet, books)

        async def one(i: int, due: float) -> None:
            lag = (time.perf_counter() - due) * 1000
            late.append(lag)
            store, name = terminals[i % len(terminals)]
            answered: list[float] = []
            await till.act(store, name, answered, refunds)
            if answered:  # from the due time, not from when the client got round to sending it
                sales.append(lag + answered[0])

        async def run() -> None:
            start = time.perf_counter()
            tasks = []
            for i in range(int(PACED_RATE * seconds)):
                due = start + i / PACED_RATE
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(one(i, due)))
            await asyncio.gather(*tasks)

        elapsed = (await measured(cpu, f"paced {PACED_RATE}/s", run)).elapsed
    bench("accrual_paced_p50_ms", p50(sales), "ms")
    bench("accrual_paced_p99_ms", p99(sales), "ms")
    print(f"# paced: {len(sales)} sales and {len(refunds)} refunds due over {seconds:.0f} s, done in {elapsed:.1f} s "
          f"(achieved {(len(sales) + len(refunds)) / elapsed:.0f}/s); client sending lag p99 "
          f"{p99(late):.1f} ms", flush=True)
    if elapsed > seconds * 1.2:
        print(f"# paced: the platform did not keep up with {PACED_RATE}/s, so these latencies are mostly time spent "
              "queued behind earlier sales and grow with the length of the phase", flush=True)


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


# ---- a second points process ------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rpc_consumers(env: dict[str, str], queue: str = "rpc-points") -> int:
    vhost = urllib.parse.quote(env["AMQP_URI"].rsplit("/", 1)[1], safe="")
    request = urllib.request.Request(f"http://127.0.0.1:15672/api/queues/{vhost}/{queue}", headers={
        "Authorization": "Basic " + base64.b64encode(b"guest:guest").decode()})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(json.loads(response.read()).get("consumers", 0))
    except OSError:
        return -1


def start_second_points(env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Another `python -m service_runtime.runner points` as the Procfile starts it, with the same
    environment less the other processes' secrets, and a metrics port of its own."""
    child = {k: v for k, v in env.items() if not k.startswith(("MEMBERS_ENCRYPTION", "MEMBERS_ACTIVE_KEY",
                                                              "MEMBERS_BLIND", "GATEWAY_JWT", "BOOTSTRAP_ADMIN"))}
    child.update({"POINTS_METRICS_PORT": str(free_port()), "PYTHONUNBUFFERED": "1",
                  "PYTHONPATH": str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")})
    log = (Path(env["VAR_DIR"]) / "log" / "points-2.log").open("ab")
    before = rpc_consumers(env)
    process = subprocess.Popen([sys.executable, "-m", "service_runtime.runner", "points"], cwd=ROOT, env=child,
                               stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                               start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the second points process exited ({process.returncode}); see {log.name}")
        consumers = rpc_consumers(env)
        if before >= 0 and consumers > before:
            time.sleep(1)  # its pools warm up on the first calls; let it settle
            return process
        if before < 0 and time.monotonic() > deadline - 50:  # no management API: give it ten seconds
            return process
        time.sleep(0.5)
    stop_process(process)
    raise SystemExit("the second points process did not start consuming within 60 s")


def stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


# ---- set-up: members, accounts, keys ----------------------------------------------------
def points_engine() -> Any:
    import sqlalchemy as sa

    from service_runtime.config import database_url

    return sa.create_engine(database_url("points"), pool_size=2)


def import_members(base: str, token: str, var: Path, count: int, stores: list[str]) -> None:
    path = var / "bench-points-members.csv"
    with path.open("w", encoding="utf-8") as out:
        out.write("external_id,name,phone,registration_store\n")
        for i in range(count):
            out.write(f"P{i},Member {i},137{i:08d},{stores[i % len(stores)]}\n")
    auth = {"Authorization": f"Bearer {token}"}
    with path.open("rb") as body:
        job = httpx.post(base + "/v1/members/imports", content=body, timeout=600,
                         headers={**auth, "Content-Type": "text/csv"}, params={"source": "bench-points"}).json()
    while job.get("status") == "running":
        time.sleep(0.5)
        job = httpx.get(f"{base}/v1/members/imports/{job['job_id']}", headers=auth).json()
    if job.get("rows_created") != count:
        raise SystemExit(f"member import did not create {count} members: {job}")


def wait_for_accounts(engine: Any, count: int, timeout: float = 1800) -> list[str]:
    import sqlalchemy as sa

    started = time.monotonic()
    while time.monotonic() - started < timeout:
        with engine.connect() as conn:
            opened = conn.execute(sa.text("SELECT count(*) FROM accounts")).scalar_one()
        if opened >= count:
            with engine.connect() as conn:
                return [str(r[0]) for r in conn.execute(sa.text("SELECT member_id FROM accounts ORDER BY member_id"))]
        time.sleep(1)
    raise SystemExit(f"points opened {opened} of {count} accounts in {timeout:.0f} s")


def create_keys(base: str, token: str, stores: list[str]) -> dict[str, str]:
    auth = {"Authorization": f"Bearer {token}"}
    keys = {}
    for store in stores:
        response = httpx.post(base + "/v1/api-keys", headers=auth, json={
            "name": f"{store} tills", "kind": "pos", "store": store})
        if response.status_code != 201:
            raise SystemExit(f"creating the POS key of {store}: {response.status_code} {response.text}")
        keys[store] = response.json()["key"]
    return keys


def check_accounts_answer(base: str, token: str, fleet: Fleet) -> None:
    """GET /v1/members/{id}/points answers for members before any sale (as staff and as a till)."""
    for member in fleet.rng.sample(fleet.members, 5):
        for who, headers in (("admin", {"Authorization": f"Bearer {token}"}),
                             ("POS key", {"X-API-Key": fleet.keys[fleet.stores[0]]})):
            response = httpx.get(f"{base}/v1/members/{member}/points", headers=headers, timeout=30)
            if response.status_code != 200:
                raise SystemExit(f"GET /v1/members/{member}/points as {who}: {response.status_code} {response.text}")


def sequential_scans(engine: Any, requests: int) -> None:
    """Which points tables were read whole during the run: a scan per request on a table that
    grows with the members or the sales is a plan that will not scale."""
    import sqlalchemy as sa

    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT relname, seq_scan, seq_tup_read, n_live_tup FROM pg_stat_user_tables "
            "WHERE seq_tup_read > 10 * greatest(n_live_tup, 1000) ORDER BY seq_tup_read DESC LIMIT 5")).all()
    for name, scans, read, live in rows:
        print(f"# points table {name} ({live} rows) read by {scans} sequential scans, {read / 1e6:.1f}M rows in all "
              f"({scans / max(requests, 1):.2f} scans per sale or refund booked)", flush=True)


# ---- the audit ----------------------------------------------------------------------------
def audit(engine: Any, books: Books) -> int:
    """Balances against the ledger's sums, sales credited twice, what was sent against what
    was booked, and what the answers said against the ledger. Prints each finding."""
    import sqlalchemy as sa

    queries = {
        # every account's balance is its ledger's sum
        "balance_vs_ledger": """
            SELECT count(*) FROM accounts a
            LEFT JOIN (SELECT member_id, sum(delta) AS total FROM ledger GROUP BY member_id) l USING (member_id)
            WHERE a.balance <> coalesce(l.total, 0)""",
        # a ledger entry with no account
        "ledger_without_account": """
            SELECT count(DISTINCT l.member_id) FROM ledger l LEFT JOIN accounts a USING (member_id)
            WHERE a.member_id IS NULL""",
        # no (store, transaction_id) recorded or credited twice
        "sales_recorded_twice": """
            SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM sales GROUP BY store, transaction_id) s
            WHERE n > 1""",
        "sales_credited_twice": """
            SELECT coalesce(sum(n - 1), 0) FROM (
                SELECT count(*) AS n FROM ledger WHERE kind = 'accrual' GROUP BY at_store, reference) s
            WHERE n > 1""",
    }
    found: dict[str, int] = {}
    with engine.connect() as conn:
        for name, sql in queries.items():
            found[name] = int(conn.execute(sa.text(sql)).scalar_one())
        recorded_sales = int(conn.execute(sa.text("SELECT count(*) FROM sales")).scalar_one())
        accrued = int(conn.execute(sa.text("SELECT coalesce(sum(delta), 0) FROM ledger WHERE kind = 'accrual'"))
                      .scalar_one())
        tables = set(sa.inspect(conn).get_table_names())
        recorded_refunds = int(conn.execute(sa.text("SELECT count(*) FROM refunds")).scalar_one()) \
            if "refunds" in tables else None
        balances = {str(r[0]): int(r[1]) for r in conn.execute(sa.text("SELECT member_id, balance FROM accounts"))}
    found["sales_sent_not_recorded"] = abs(len(books.sales) - recorded_sales)
    if recorded_refunds is not None:
        found["refunds_sent_not_recorded"] = abs(len(books.refunds) - recorded_refunds)
    earned = sum(points for _, points in books.sales.values())
    found["points_answered_vs_accrued"] = int(earned != accrued)
    # each member's balance from the answers: what sales earned less what refunds took back
    expected: Counter[str] = Counter()
    for member, points in books.sales.values():
        expected[member] += points
    for member, points in books.refunds.values():
        expected[member] -= points
    found["balance_vs_answers"] = sum(1 for member, total in expected.items() if balances.get(member) != total)
    found["answers_inconsistent"] = len(books.mismatches)
    print(f"# audit: {len(balances)} accounts; {len(books.sales)} sales sent, {recorded_sales} recorded; "
          f"{len(books.refunds)} refunds sent, {recorded_refunds} recorded; {books.replays} resends answered; "
          f"points earned per the answers {earned}, accrued in the ledger {accrued}", flush=True)
    for name, count in found.items():
        if count:
            print(f"# audit: {name} {count}", flush=True)
    for text in books.mismatches[:10]:
        print(f"# answer: {text}", flush=True)
    return sum(found.values())


# ---- main ---------------------------------------------------------------------------------
def main() -> int:
    scale = os.environ.get("SCALE", "small")
    knobs = SCALES[scale]
    rng = random.Random(int(os.environ.get("SEED", "5")))
    stores = [f"S-{i:03d}" for i in range(knobs["stores"])]
    books = Books()
    with running_platform("points") as (base, token, env):
        var = Path(env["VAR_DIR"])
        cpu = Cpu(var, env["DB_NAME_PREFIX"])
        print(f"# points benchmark, SCALE={scale}: {knobs['members']} members, {len(stores)} stores x "
              f"{knobs['terminals']} terminals (one POS key per store), {CONCURRENT_TERMINALS} concurrent terminals "
              f"for {knobs['sync_s']} s, paced {PACED_RATE}/s for {knobs['paced_s']} s, {knobs['batches']} batches "
              f"of {BATCH_SIZE}; {os.cpu_count()} cores, everything on this machine, the load generator is this "
              "Python process", flush=True)
        started = time.perf_counter()
        import_members(base, token, var, knobs["members"], stores)
        engine = points_engine()
        members = wait_for_accounts(engine, knobs["members"])
        fleet = Fleet(rng, stores, knobs["terminals"], members)
        fleet.keys = create_keys(base, token, stores)
        check_accounts_answer(base, token, fleet)
        print(f"# set-up: {len(members)} members imported and their accounts opened in "
              f"{time.perf_counter() - started:.0f} s", flush=True)

        ceiling = asyncio.run(rpc_ceiling(base, env, fleet.keys[stores[0]], cpu, books, min(knobs["sync_s"], 8)))
        asyncio.run(closed_loop(base, fleet, books, cpu, knobs["sync_s"], "closed loop, 1 points process",
                                "accrual_sync", ceiling=ceiling, env=env))
        # the latency floor: one terminal, nothing else going on
        asyncio.run(closed_loop(base, fleet, books, cpu, 3, "one terminal", "accrual_one_terminal", concurrent=1,
                                env=env))
        asyncio.run(paced(base, fleet, books, cpu, knobs["paced_s"]))
        asyncio.run(batches(base, fleet, books, cpu, knobs["batches"], ceiling))
        second = start_second_points(env)
        cpu.extra["points-2"] = second.pid
        try:
            asyncio.run(closed_loop(base, fleet, books, cpu, knobs["sync_s"], "closed loop, 2 points processes",
                                    "accrual_sync_2procs", ceiling=ceiling, env=env))
        finally:
            stop_process(second)
            cpu.extra.pop("points-2", None)

        if books.unanswered:
            async def flush() -> int:
                async with client(base) as http:
                    return await Till(http, fleet, books).flush()

            waiting = len(books.unanswered)
            left = asyncio.run(flush())
            print(f"# {waiting} requests without an answer sent again before the audit; {left} still unanswered",
                  flush=True)
        sequential_scans(engine, len(books.sales) + len(books.refunds))
        discrepancies = audit(engine, books) + len(books.unanswered)
        bench("ledger_discrepancies", discrepancies, "count")
        engine.dispose()
        failures = sum(books.errors.values())
        if failures:
            print(f"# failed attempts: {dict(books.errors)}", flush=True)
            for sample in books.samples:
                print(f"# failed: {sample}", flush=True)
    return 1 if failures or discrepancies else 0


if __name__ == "__main__":
    sys.exit(main())
