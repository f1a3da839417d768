"""Benchmark of the vertical slice: register members and read them back through the gateway.

    make bench-slice [SCALE=small|medium|large]

Starts the platform as `make run` does (its own databases, vhost and ports), logs in,
creates one POS key, then drives POST /v1/members and GET /v1/members/{id} with N
concurrent clients, and prints one `BENCH <name> <value> <unit>` line per figure. Stops
everything it started. Figures come from one run on this machine: compare ratios.
"""
from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
import uuid

import httpx

from bench.platform import bench, percentile, running_platform

SCALES = {"small": (400, 8), "medium": (2000, 16), "large": (10000, 32)}  # requests per phase, clients


async def drive(base: str, key: str, requests: int, clients: int) -> None:
    latencies: dict[str, list[float]] = {"register": [], "read": []}
    ids: list[str] = []
    headers = {"X-API-Key": key}

    async def register(client: httpx.AsyncClient, n: int) -> None:
        for _ in range(n):
            phone = "13" + str(uuid.uuid4().int)[:9]
            started = time.perf_counter()
            response = await client.post("/v1/members", json={"name": "Bench Member", "phone": phone})
            latencies["register"].append((time.perf_counter() - started) * 1000)
            if response.status_code == 201:
                ids.append(response.json()["member"]["member_id"])

    async def read(client: httpx.AsyncClient, n: int, offset: int) -> None:
        for i in range(n):
            member_id = ids[(offset + i) % len(ids)]
            started = time.perf_counter()
            response = await client.get(f"/v1/members/{member_id}")
            latencies["read"].append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, response.text

    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=30) as client:
        per_client = requests // clients
        for phase, work in (("register", lambda i: register(client, per_client)),
                            ("read", lambda i: read(client, per_client, i * per_client))):
            started = time.perf_counter()
            await asyncio.gather(*(work(i) for i in range(clients)))
            elapsed = time.perf_counter() - started
            values = latencies[phase]
            bench(f"slice_{phase}_per_s", len(values) / elapsed, "req/s")
            bench(f"slice_{phase}_p50_ms", statistics.median(values), "ms")
            bench(f"slice_{phase}_p99_ms", percentile(values, 0.99), "ms")
        if len(ids) != per_client * clients:
            raise SystemExit(f"only {len(ids)} of {per_client * clients} registrations succeeded")


def main() -> int:
    scale = os.environ.get("SCALE", "small")
    requests, clients = SCALES[scale]
    with running_platform("slice") as (base, token, _):
        key = httpx.post(base + "/v1/api-keys", headers={"Authorization": f"Bearer {token}"},
                         json={"name": "bench till", "kind": "pos", "store": "BENCH-1"}).json()["key"]
        print(f"# slice benchmark, SCALE={scale}: {requests} requests per phase, {clients} concurrent clients, "
              f"{os.cpu_count()} cores, everything on this machine", flush=True)
        asyncio.run(drive(base, key, requests, clients))
    return 0


if __name__ == "__main__":
    sys.exit(main())
