"""Benchmark of coupons at the till and of bulk issuing, through the gateway.

    make bench-campaigns [SCALE=small|medium|large]     (this and bench/rfm.py)

Starts the platform as `make run` does (its own databases, vhost and ports), then:

1. checkout: 32 terminals (4 stores x 8, each store with its own POS key) each take their share of
   single-use coupons and, one sale after another, validate the coupon for a basket and redeem it
   (POST /v1/coupons/validate, then POST /v1/coupons/redeem). Figures: latency of every request of
   that load (validate and redeem alike) `coupon_redeem_p50_ms` / `coupon_redeem_p99_ms` (target
   p99 <= 50 ms on this machine), each kind apart, and checkouts per second. Every redemption must
   succeed; any other answer ends the run with an error. The terminals go back to back (the next
   request as soon as the last is answered), so this measures the box saturated.
   Then the same 32 terminals paced, each one checkout a second (32/s, about half of what the box
   serves back to back): `coupon_redeem_paced_p50_ms` / `coupon_redeem_paced_p99_ms`.
2. issuing: one background job issuing a coupon to each of N members (POST /v1/coupons/issue-jobs,
   then polling the job until done). Figure: `coupon_issue_100k_s` with N = 100,000 (SCALE=medium or
   large); SCALE=small issues 20,000 and prints `coupon_issue_20k_s` instead.

Figures come from one run on this shared 2-core machine: compare ratios, not absolutes.
"""
from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from bench.cpu import Cpu, Phase, against_ceiling, noop_ceiling
from bench.http import Pool, on_schedule, post_json
from bench.platform import bench, percentile, profiled, running_platform

SCALES = {"small": (25, 20_000), "medium": (100, 100_000), "large": (300, 100_000)}  # sales per terminal, issue N
STORES = [f"BENCH-{i}" for i in range(1, 5)]
TERMINALS_PER_STORE = 8
PACED_SALES = 10  # per terminal, in the paced phase
PACED_INTERVAL_S = 1.0  # a checkout per terminal per second: 32/s (a real till rings one up every ~30 s)


async def _gather_limited(coros: list[Any], limit: int) -> list[Any]:
    gate = asyncio.Semaphore(limit)

    async def one(coro: Any) -> Any:
        async with gate:
            return await coro

    return await asyncio.gather(*(one(c) for c in coros))


def _members(count: int) -> list[str]:
    """Ids campaigns knows as members, bulk-written to its read model as bench/rfm.py does (the
    platform's DB_NAME_PREFIX is set): coupons go only to members, and registering this many
    through the API would be a benchmark of its own."""
    import sqlalchemy as sa

    from service_runtime import config as cfg

    ids = [str(uuid.uuid4()) for _ in range(count)]
    engine = sa.create_engine(cfg.database_url("campaigns"), poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO rm_members (member_id, store) "
                                 "SELECT unnest(CAST(:ids AS uuid[])), 'BENCH'"), {"ids": ids})
    finally:
        engine.dispose()
    return ids


async def _wait_job(client: httpx.AsyncClient, job_id: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        response = await client.get(f"/v1/coupons/issue-jobs/{job_id}")
        job: dict[str, Any] = response.json()
        if response.status_code != 200:
            print(f"# job poll answered {response.status_code}: {response.text[:200]}", flush=True)
        elif job["status"] in ("done", "failed"):
            return job
        if time.monotonic() > deadline:
            raise SystemExit(f"issue job {job_id} not done after {timeout}s: {job}")
        await asyncio.sleep(0.1)


async def checkout(base: str, admin: dict[str, str], keys: dict[str, str], per_terminal: int, cpu: Cpu,
                   ceiling: float) -> None:
    terminals = len(STORES) * TERMINALS_PER_STORE
    async with httpx.AsyncClient(base_url=base, headers=admin, timeout=60,
                                 limits=httpx.Limits(max_connections=64)) as client:
        made = await client.post("/v1/coupons/templates", json={
            "name": "bench 5 off 50", "kind": "threshold", "amount": "5.00", "min_spend": "50.00",
            "valid_days": 30, "stores": STORES, "restore_on_refund": True})
        assert made.status_code == 201, made.text
        members = _members(terminals * (per_terminal + PACED_SALES))
        started = await client.post("/v1/coupons/issue-jobs", json={
            "template_id": made.json()["template_id"], "member_ids": members, "source": "staff"})
        assert started.status_code == 202, started.text
        job = await _wait_job(client, started.json()["job_id"], 300)
        assert job["issued"] == len(members), job

        async def code_of(member: str) -> str:
            try:
                response = await client.get(f"/v1/members/{member}/coupons")
            except (httpx.RemoteProtocolError, httpx.ReadError):  # a pooled connection the server closed: once more
                response = await client.get(f"/v1/members/{member}/coupons")
            assert response.status_code == 200, response.text
            return str(response.json()["items"][0]["code"])

        codes = await _gather_limited([code_of(m) for m in members], 32)

    latencies: dict[str, list[float]] = {"validate": [], "redeem": []}

    paced: list[float] = []

    async def one_checkout(pool: Pool, index: int, n: str, store: str, code: str, record: Any) -> None:
        headers = {"X-API-Key": keys[store]}
        basket = {"codes": [code], "store": store, "amount": "88.00",
                  "items": [{"sku": "SKU-1", "category": "food", "amount": "60.00"},
                            {"sku": "SKU-2", "category": "drinks", "amount": "28.00"}]}
        for kind, path, body in (("validate", "/v1/coupons/validate", basket),
                                 ("redeem", "/v1/coupons/redeem",
                                  {**basket, "transaction_id": f"t{index}-{n}", "terminal": f"till-{index}"})):
            began = time.perf_counter()
            status, answer = await post_json(pool, path, body, headers)
            record(kind, (time.perf_counter() - began) * 1000)
            if status not in (200, 201) or answer["discount"] != "5.00":
                raise SystemExit(f"{kind} failed: {status} {answer}")

    async def terminal(index: int, pool: Pool, store: str, mine: list[str]) -> None:
        for n, code in enumerate(mine):
            await one_checkout(pool, index, str(n), store, code, lambda kind, ms: latencies[kind].append(ms))

    async def paced_terminal(index: int, pool: Pool, store: str, mine: list[str]) -> None:
        async for n in on_schedule(len(mine), PACED_INTERVAL_S):
            await one_checkout(pool, index, f"p{n}", store, mine[n], lambda kind, ms: paced.append(ms))

    # one keep-alive connection per terminal (httpx cost ~5 ms of CPU per request on this machine)
    pool = Pool(base, timeout=60, size=terminals)
    try:
        # one terminal alone first: the latency with no queueing, to read the loaded figures against
        alone: list[float] = []
        store = STORES[0]
        for code in codes[:20]:
            began = time.perf_counter()
            status, answer = await post_json(pool, "/v1/coupons/validate", {"codes": [code], "store": store,
                                                                           "amount": "88.00"},
                                             {"X-API-Key": keys[store]})
            alone.append((time.perf_counter() - began) * 1000)
            assert status == 200, answer
        bench("coupon_validate_alone_p50_ms", statistics.median(alone), "ms")
        work = []
        for index in range(terminals):
            store = STORES[index % len(STORES)]
            work.append(terminal(index, pool, store, codes[index * per_terminal:(index + 1) * per_terminal]))
        began, before = time.perf_counter(), cpu.snapshot()
        with profiled(cpu.var, "checkouts"):
            await asyncio.gather(*work)
        elapsed = time.perf_counter() - began
        after = cpu.snapshot()
        Cpu.report("checkouts (validate + redeem)", before, after)
        bench("coupon_checkout_cpu_ms", Phase("checkouts", elapsed, before, after).cpu_ms(
            len(latencies["redeem"]), "checkout (validate + redeem)"), "ms")
        rest = codes[terminals * per_terminal:]
        before = cpu.snapshot()
        await asyncio.gather(*(paced_terminal(i, pool, STORES[i % len(STORES)],
                                              rest[i * PACED_SALES:(i + 1) * PACED_SALES]) for i in range(terminals)))
        Cpu.report(f"paced checkouts ({terminals / PACED_INTERVAL_S:.0f}/s)", before, cpu.snapshot())
    finally:
        pool.close()
    both = latencies["validate"] + latencies["redeem"]
    bench("coupon_redeem_p50_ms", statistics.median(both), "ms")
    bench("coupon_redeem_p99_ms", percentile(both, 0.99), "ms")
    for kind, values in latencies.items():
        bench(f"coupon_{kind}_only_p50_ms", statistics.median(values), "ms")
        bench(f"coupon_{kind}_only_p99_ms", percentile(values, 0.99), "ms")
    bench("coupon_checkouts_per_s", len(latencies["redeem"]) / elapsed, "checkouts/s")
    against_ceiling("coupon_checkouts", len(latencies["redeem"]) / elapsed, ceiling)
    bench("coupon_redeem_paced_p50_ms", statistics.median(paced), "ms")
    bench("coupon_redeem_paced_p99_ms", percentile(paced, 0.99), "ms")
    print(f"# coupon_redeem_p50/p99: {terminals} terminals back to back (each sends its next request as soon as "
          f"the last is answered: the box's saturation); paced: each terminal one checkout every "
          f"{PACED_INTERVAL_S:.0f} s ({terminals / PACED_INTERVAL_S:.0f} checkouts/s)", flush=True)


async def issue(base: str, admin: dict[str, str], count: int) -> None:
    async with httpx.AsyncClient(base_url=base, headers=admin, timeout=120) as client:
        made = await client.post("/v1/coupons/templates", json={
            "name": "bench drop", "kind": "percent", "discount_percent": "10", "max_discount": "20.00",
            "valid_days": 14, "budget_count": count, "per_member_limit": 1})
        assert made.status_code == 201, made.text
        members = _members(count)
        began = time.perf_counter()
        started = await client.post("/v1/coupons/issue-jobs", json={
            "template_id": made.json()["template_id"], "member_ids": members, "campaign_id": "bench-drop"})
        assert started.status_code == 202, started.text
        job = await _wait_job(client, started.json()["job_id"], 600)
        elapsed = time.perf_counter() - began
        if job["status"] != "done" or job["issued"] != count:
            raise SystemExit(f"issue job ended {job}")
    label = "100k" if count == 100_000 else f"{count // 1000}k"
    bench(f"coupon_issue_{label}_s", elapsed, "s")
    bench("coupon_issue_per_s", count / elapsed, "coupons/s")


def main() -> int:
    scale = os.environ.get("SCALE", "small")
    per_terminal, issue_count = SCALES[scale]
    os.environ.setdefault("MAX_BODY_BYTES", str(8 * 1024 * 1024))  # 100,000 member ids in one job request
    with running_platform("coupons") as (base, token, env):
        admin = {"Authorization": f"Bearer {token}"}
        keys = {}
        for store in STORES:
            created = httpx.post(base + "/v1/api-keys", headers=admin,
                                 json={"name": f"bench till {store}", "kind": "pos", "store": store})
            assert created.status_code == 201, created.text
            keys[store] = created.json()["key"]
        print(f"# coupons benchmark, SCALE={scale}: {len(STORES) * TERMINALS_PER_STORE} terminals x {per_terminal} "
              f"sales (validate + redeem each), then one job issuing {issue_count} coupons; {os.cpu_count()} cores, "
              "everything on this machine", flush=True)
        cpu = Cpu(Path(env["VAR_DIR"]), env["DB_NAME_PREFIX"])
        # the yardstick of this run, measured before the terminals' keep-alive connections open
        ceiling, _ = asyncio.run(noop_ceiling(env, cpu, 8))
        asyncio.run(checkout(base, admin, keys, per_terminal, cpu, ceiling))
        asyncio.run(issue(base, admin, issue_count))
    return 0


if __name__ == "__main__":
    sys.exit(main())
