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
    gateway_noop_per_s         GET /v1/points/ping with a POS key: the same no-op RPC through the gateway
                               (HTTP, middleware, the key's check); `*_pct_of_gateway_noop` lines give a
                               till rate as a share of it (decision 0034)
    gateway_noop_cpu_ms        the platform's CPU per such request
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

The parts: bench.points_fleet (the simulated chain and its books), bench.points_till (the tills
and the closed-loop and paced phases), bench.points_uploads (offline uploads),
bench.points_setup (members, keys, a second points process), bench.points_audit (the audit).
"""
from __future__ import annotations

import asyncio
import os
import random
import sys
import time
from pathlib import Path

from bench.cpu import Cpu
from bench.platform import bench, running_platform
from bench.points_audit import audit, sequential_scans
from bench.points_fleet import Books, Fleet
from bench.points_setup import (
    check_accounts_answer,
    create_keys,
    import_members,
    points_engine,
    start_second_points,
    stop_process,
    wait_for_accounts,
)
from bench.points_till import CONCURRENT_TERMINALS, PACED_RATE, Till, client, closed_loop, paced, rpc_ceiling
from bench.points_uploads import BATCH_SIZE, batches, offline_batch

# the other benchmarks take these from here
__all__ = ["Books", "Cpu", "Fleet", "closed_loop", "create_keys", "import_members", "offline_batch", "points_engine",
           "rpc_ceiling", "wait_for_accounts"]

# members, stores, terminals per store, seconds of each closed-loop phase, seconds paced, batches
SCALES: dict[str, dict[str, int]] = {
    "small": {"members": 2_000, "stores": 20, "terminals": 4, "sync_s": 10, "paced_s": 8, "batches": 6},
    "medium": {"members": 20_000, "stores": 100, "terminals": 6, "sync_s": 45, "paced_s": 30, "batches": 30},
    "large": {"members": 200_000, "stores": 500, "terminals": 8, "sync_s": 180, "paced_s": 120, "batches": 120},
}


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

        ceiling, gateway_ceiling = asyncio.run(rpc_ceiling(base, env, fleet.keys[stores[0]], cpu, books,
                                                           min(knobs["sync_s"], 8)))
        asyncio.run(closed_loop(base, fleet, books, cpu, knobs["sync_s"], "closed loop, 1 points process",
                                "accrual_sync", ceiling=ceiling, env=env, gateway_ceiling=gateway_ceiling))
        # the latency floor: one terminal, nothing else going on
        asyncio.run(closed_loop(base, fleet, books, cpu, 3, "one terminal", "accrual_one_terminal", concurrent=1,
                                env=env))
        asyncio.run(paced(base, fleet, books, cpu, knobs["paced_s"]))
        asyncio.run(batches(base, fleet, books, cpu, knobs["batches"], ceiling))
        second = start_second_points(env)
        cpu.extra["points-2"] = second.pid
        try:
            asyncio.run(closed_loop(base, fleet, books, cpu, knobs["sync_s"], "closed loop, 2 points processes",
                                    "accrual_sync_2procs", ceiling=ceiling, env=env,
                                    gateway_ceiling=gateway_ceiling))
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
