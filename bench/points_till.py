"""The tills of bench.points through the gateway, and the phases that drive them: the no-op
ceiling with the gateway's floor, the closed loop, the paced open loop."""
from __future__ import annotations

import asyncio
import json
import statistics
import time
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from bench.cpu import Cpu, against_ceiling, back_to_back, measured, noop_ceiling
from bench.http import Pool, TransportError
from bench.platform import bench, percentile
from bench.points_fleet import REFUND_SHARE, RETRY_SHARE, Books, Fleet

CONCURRENT_TERMINALS = 32
PACED_RATE = 100  # sales per second


def p50(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def p99(values: list[float]) -> float:
    return percentile(values, 0.99) if values else float("nan")



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


async def rpc_ceiling(base: str, env: dict[str, str], key: str, cpu: Cpu, books: Books,
                      seconds: float, till_key: bool = True) -> tuple[float, float]:
    """The no-op RPC round trip (bench.cpu.noop_ceiling, the yardstick of the targets), the same
    round trip through the gateway (GET /v1/points/ping, when ``key`` is a till's), and the HTTP
    side alone: /healthz through the gateway's middleware, /readyz. Returns (RPC ceiling, gateway
    no-op rate or 0)."""
    ceiling, failures = await noop_ceiling(env, cpu, seconds)
    for name, count in failures.items():
        books.errors[f"rpc ping {name} 0"] += count
    through_gateway = await gateway_noop(base, key, cpu, books, seconds) if till_key else 0.0
    for path, name, what in (("/healthz", "gateway_healthz_per_s", "no RPC"),
                             ("/readyz", "gateway_readyz_per_s", "one ping to each of 4 services + a gateway DB "
                                                                 "check")):
        done, elapsed, _ = await _get_loop(base, path, key, cpu, books, seconds)
        bench(name, len(done) / elapsed, "req/s")
        print(f"# {path}: p50 {p50(done):.1f} ms, p99 {p99(done):.1f} ms ({what})", flush=True)
    return ceiling, through_gateway


async def gateway_noop(base: str, key: str, cpu: Cpu, books: Books, seconds: float) -> float:
    """The till's no-op through the gateway, ``CONCURRENT_TERMINALS`` back to back: HTTP, the
    middleware, the key's check, then the ceiling's points.ping. Prints ``gateway_noop_per_s`` and
    ``gateway_noop_cpu_ms``; returns the rate."""
    done, elapsed, cpu_ms = await _get_loop(base, "/v1/points/ping", key, cpu, books, seconds)
    bench("gateway_noop_per_s", len(done) / elapsed, "req/s")
    bench("gateway_noop_cpu_ms", cpu_ms, "ms")
    print(f"# GET /v1/points/ping: p50 {p50(done):.1f} ms, p99 {p99(done):.1f} ms (a POS key; one points.ping)",
          flush=True)
    return len(done) / elapsed


async def _get_loop(base: str, path: str, key: str, cpu: Cpu, books: Books,
                    seconds: float) -> tuple[list[float], float, float]:
    """(latencies in ms, elapsed s, platform CPU ms per answer) of GETs of ``path`` back to back."""
    done: list[float] = []
    async with client(base) as http:
        async def get() -> None:
            try:
                status, data = await http.request("GET", path, headers={"X-API-Key": key})
            except TransportError as exc:
                status, data = 0, str(exc).encode()
            if status != 200:
                raise _Refused(status, data.decode(errors="replace"))

        def failed(exc: Exception) -> None:
            status, text = (exc.status, exc.text) if isinstance(exc, _Refused) else (0, repr(exc))
            books.error(f"GET {path}", status, text)

        async def run() -> None:
            done.extend(await back_to_back(get, CONCURRENT_TERMINALS, seconds, failed))

        phase = await measured(cpu, f"GET {path}", run)
    return done, phase.elapsed, phase.cpu_ms(len(done), f"GET {path}")


class _Refused(Exception):
    def __init__(self, status: int, text: str) -> None:
        super().__init__(status, text)
        self.status, self.text = status, text


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
                      env: dict[str, str] | None = None, gateway_ceiling: float = 0.0) -> None:
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
    if gateway_ceiling:  # like with like: an HTTP request through the gateway either way (decision 0034)
        bench(f"{prefix}_pct_of_gateway_noop", 100 * requests / elapsed / gateway_ceiling, "%")
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

