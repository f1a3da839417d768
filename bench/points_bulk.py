"""Only the offline uploads of bench.points (after the no-op ceiling), on a fresh platform,
then the audit: for A/B runs of the upload path, alternated, e.g.

    LOYALTY_TEST_TAG=x python -m bench.points_bulk          (BULK_BATCHES=12 by default)
    BENCH_PYSPY=points,gateway python -m bench.points_bulk  (py-spy of those processes)

Prints the same BENCH and `# cpu per uploaded item` lines as bench.points, then
PostgreSQL's own ceiling for the same writes (bench.pg_batch_ceiling) in the same run.
"""
from __future__ import annotations

import asyncio
import os
import random
import sys
import time
from pathlib import Path

from bench import points
from bench.cpu import Cpu, noop_ceiling, platform_seconds
from bench.pg_batch_ceiling import pg_ceiling
from bench.platform import bench, running_platform
from bench.points_audit import audit
from bench.points_setup import ready_fleet
from bench.points_uploads import batches

MEMBERS, STORES = 2_000, 20


def idle(cpu: Cpu, seconds: float = 8) -> None:
    """The platform's CPU doing nothing (pollers, relays, health checks): a phase's per-item figure
    carries this for as long as the phase lasts, so a slow phase on a loaded host looks dearer."""
    before = cpu.snapshot()
    time.sleep(seconds)
    after = cpu.snapshot()
    Cpu.report("idle", before, after)
    spent = platform_seconds(before, after)
    split = ", ".join(f"{name} {1000 * v / seconds:.0f}" for name, v in sorted(spent.items(), key=lambda p: -p[1])
                      if 1000 * v / seconds >= 1)
    bench("platform_idle_cpu_ms_per_s", 1000 * sum(spent.values()) / seconds, "ms/s")
    print(f"# idle platform, CPU ms a second: {split}", flush=True)


def main() -> int:
    rng = random.Random(int(os.environ.get("SEED", "5")))
    stores = [f"S-{i:03d}" for i in range(STORES)]
    books = points.Books()
    count = int(os.environ.get("BULK_BATCHES", "12"))
    with running_platform("points") as (base, token, env):
        cpu = Cpu(Path(env["VAR_DIR"]), env["DB_NAME_PREFIX"])
        fleet, engine = ready_fleet(base, token, env, rng, stores, MEMBERS)
        ceiling, _ = asyncio.run(noop_ceiling(env, cpu, 6))
        idle(cpu)
        asyncio.run(batches(base, fleet, books, cpu, count, ceiling))
        pg_ceiling(engine, cpu)
        discrepancies = audit(engine, books) + len(books.unanswered)
        bench("ledger_discrepancies", discrepancies, "count")
        engine.dispose()
    return 1 if sum(books.errors.values()) or discrepancies else 0


if __name__ == "__main__":
    sys.exit(main())
