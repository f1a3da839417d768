"""Tills selling through the gateway while a fault is injected, and the figures they saw.

Each till sells one sale at a time, as a real one does: it posts the sale and, on a 503, a
504 or a broken connection, posts the same sale again (same transaction id) after the
Retry-After it was given, until it gets a 2xx; then it rings up the next one.
"""
from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

RETRY_STATUSES = (503, 504)
GIVE_UP_SECONDS = 90.0


@dataclass
class Attempt:
    started: float
    latency: float
    status: int | str  # an HTTP status, or the name of a client-side error


@dataclass
class Sale:
    transaction_id: str
    member_id: str
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def acked(self) -> bool:
        return any(isinstance(a.status, int) and 200 <= a.status < 300 for a in self.attempts)


@dataclass
class Run:
    sales: list[Sale] = field(default_factory=list)
    health: list[Attempt] = field(default_factory=list)  # /healthz, polled throughout
    other_route: list[Attempt] = field(default_factory=list)  # a read of members only, polled throughout

    def attempts(self) -> list[Attempt]:
        return [a for s in self.sales for a in s.attempts]


async def _till(client: httpx.AsyncClient, number: int, store: str, members: list[str], interval: float,
                stop: asyncio.Event, run: Run, prefix: str) -> None:
    sequence = 0
    while not stop.is_set():
        began = time.monotonic()
        sequence += 1
        sale = Sale(f"{prefix}-{number}-{sequence}-{uuid.uuid4().hex[:6]}", members[(number + sequence) % len(members)])
        run.sales.append(sale)
        body = {"member_id": sale.member_id, "store": store, "terminal": f"till-{number}",
                "transaction_id": sale.transaction_id, "amount": "12.00", "sold_at": datetime.now(UTC).isoformat()}
        while time.monotonic() - began < GIVE_UP_SECONDS:
            started = time.monotonic()
            wait = 0.5
            try:
                response = await client.post("/v1/points/sales", json=body)
                status: int | str = response.status_code
                wait = min(float(response.headers.get("Retry-After", "1")), 5.0)
            except httpx.HTTPError as exc:
                status = type(exc).__name__
            sale.attempts.append(Attempt(started, time.monotonic() - started, status))
            if isinstance(status, int) and status < 500 and status != 429:
                break
            await asyncio.sleep(wait)
        await asyncio.sleep(max(0.0, interval - (time.monotonic() - began)))


async def _poll(client: httpx.AsyncClient, path: str, into: list[Attempt], stop: asyncio.Event) -> None:
    while not stop.is_set():
        started = time.monotonic()
        try:
            status: int | str = (await client.get(path)).status_code
        except httpx.HTTPError as exc:
            status = type(exc).__name__
        into.append(Attempt(started, time.monotonic() - started, status))
        await asyncio.sleep(0.25)


async def drive(base: str, key: str, admin_token: str, store: str, members: list[str], tills: int, rate: float,
                seconds_before: float, inject: Any, seconds_after: float, prefix: str) -> tuple[Run, float, float]:
    """Sell at ``rate`` sales/s from ``tills`` tills; after ``seconds_before`` run ``inject()``
    (blocking, in a thread: it breaks something and repairs it), sell ``seconds_after`` more,
    then let every till finish its sale. Returns the run, and when the fault began and ended."""
    run, stop = Run(), asyncio.Event()
    limits = httpx.Limits(max_connections=tills + 8, max_keepalive_connections=tills + 8)
    async with httpx.AsyncClient(base_url=base, headers={"X-API-Key": key}, timeout=20, limits=limits) as client, \
            httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {admin_token}"}, timeout=20) as desk:
        tasks = [asyncio.create_task(_till(client, n, store, members, tills / rate, stop, run, prefix))
                 for n in range(tills)]
        tasks.append(asyncio.create_task(_poll(client, "/healthz", run.health, stop)))
        tasks.append(asyncio.create_task(_poll(desk, f"/v1/members/{members[0]}/history", run.other_route, stop)))
        await asyncio.sleep(seconds_before)
        fault_began = time.monotonic()
        await asyncio.to_thread(inject)
        fault_ended = time.monotonic()
        await asyncio.sleep(seconds_after)
        stop.set()
        await asyncio.gather(*tasks)
    return run, fault_began, fault_ended


def _pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def figures(run: Run, fault_began: float, fault_ended: float) -> dict[str, Any]:
    attempts = run.attempts()
    by_status: dict[str, int] = {}
    for a in attempts:
        key = f"{a.status // 100}xx" if isinstance(a.status, int) and 200 <= a.status < 300 else str(a.status)
        by_status[key] = by_status.get(key, 0) + 1
    unavailable = [a.latency for a in attempts if a.status == 503]
    failed = [a for a in attempts if not (isinstance(a.status, int) and 200 <= a.status < 300)]
    recovered = [a.started + a.latency for a in attempts
                 if a.started >= fault_ended and isinstance(a.status, int) and 200 <= a.status < 300]
    return {
        "sales": len(run.sales), "acked": sum(s.acked for s in run.sales),
        "retried": sum(1 for s in run.sales if len(s.attempts) > 1),
        "by_status": by_status,
        "503_p50_s": round(_pct(unavailable, 0.5), 3), "503_max_s": round(max(unavailable, default=0.0), 3),
        "sale_p99_s": round(_pct([a.latency for a in attempts], 0.99), 3),
        "failing_s": round(max((a.started + a.latency for a in failed), default=fault_began) -
                           min((a.started for a in failed), default=fault_began), 1),
        "recovery_s": round(min(recovered, default=fault_ended) - fault_ended, 1),
        "other_route_max_s": round(max((a.latency for a in run.other_route), default=0.0), 3),
        "healthz": sorted({str(a.status) for a in run.health}),
        "other_route": sorted({str(a.status) for a in run.other_route}),
    }
