"""Only the 32-terminal closed loop of bench.points (after the no-op ceiling), twice, on a
fresh platform: for A/B runs of a setting, interleaved, e.g.

    POINTS_SALE_WRITERS=1 python -m bench.points_sync; POINTS_SALE_WRITERS=2 python -m bench.points_sync

Prints the same BENCH and `# cpu per sale` lines as bench.points (docs/decisions/0019).
``python -m bench.points_sync paced``: the paced phase (100 sales/s for 8 s) three times instead
(docs/decisions/0033).
"""
from __future__ import annotations

import asyncio
import random
import sys
from pathlib import Path

from bench import points
from bench.cpu import Cpu, noop_ceiling
from bench.platform import running_platform
from bench.points_setup import ready_fleet
from bench.points_till import gateway_noop

MEMBERS, STORES = 2_000, 20


def main() -> int:
    rng = random.Random(5)
    stores = [f"S-{i:03d}" for i in range(STORES)]
    books = points.Books()
    with running_platform("points") as (base, token, env):
        cpu = Cpu(Path(env["VAR_DIR"]), env["DB_NAME_PREFIX"])
        fleet, engine = ready_fleet(base, token, env, rng, stores, MEMBERS)
        if sys.argv[1:] == ["paced"]:
            for _ in range(3):
                asyncio.run(points.paced(base, fleet, books, cpu, 8))
            engine.dispose()
            return 1 if sum(books.errors.values()) else 0
        ceiling, _ = asyncio.run(noop_ceiling(env, cpu, 6))
        through_gateway = asyncio.run(gateway_noop(base, fleet.keys[stores[0]], cpu, books, 6))
        for n in range(2):
            asyncio.run(points.closed_loop(base, fleet, books, cpu, 10, f"closed loop {n + 1}", "accrual_sync",
                                           ceiling=ceiling, env=env, gateway_ceiling=through_gateway))
        engine.dispose()
    return 1 if sum(books.errors.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
