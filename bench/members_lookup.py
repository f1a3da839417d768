"""Only the till's look-up by phone of bench.members (2,000 members, 20 clients back to back), each
round after a no-op ceiling of its own, on a fresh platform: for A/B runs of two versions of the
code, alternated (docs/decisions/0032-till-reads-without-begin-commit.md):

    LOOKUP_ROUNDS=3 python -m bench.members_lookup

Prints the same BENCH and `# cpu per lookup` lines as bench.members, once per round.
"""
from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import httpx

from bench.cpu import Cpu, Phase, against_ceiling, noop_ceiling
from bench.members import CLIENTS, lookups
from bench.platform import bench, profiled, running_platform
from bench.points import import_members, points_engine, wait_for_accounts

MEMBERS, LOOKUPS = 2_000, 1_500


def main() -> int:
    rounds = int(os.environ.get("LOOKUP_ROUNDS", "3"))
    with running_platform("members") as (base, token, env):
        cpu = Cpu(Path(env["VAR_DIR"]), env["DB_NAME_PREFIX"])
        import_members(base, token, Path(env["VAR_DIR"]), MEMBERS, ["S-001", "S-002"])
        engine = points_engine()
        wait_for_accounts(engine, MEMBERS)
        engine.dispose()
        till = httpx.post(base + "/v1/api-keys", headers={"Authorization": f"Bearer {token}"},
                          json={"name": "bench till", "kind": "pos", "store": "S-001"}).json()["key"]
        phones = [{"phone": f"137{i:08d}"} for i in range(MEMBERS)]
        for n in range(1, rounds + 1):
            ceiling, _ = asyncio.run(noop_ceiling(env, cpu, 8))
            before = cpu.snapshot()
            with profiled(cpu.var, f"lookups {n}"):
                done = asyncio.run(lookups(base, till, (phones * 2)[n * 100:n * 100 + LOOKUPS]))
            after = cpu.snapshot()
            elapsed = after["_wall"] - before["_wall"]
            Cpu.report(f"lookups by phone, round {n}", before, after)
            bench("member_lookup_cpu_ms", Phase(f"lookups by phone, round {n}", elapsed, before, after).cpu_ms(
                len(done), "lookup"), "ms")
            bench("member_lookup_per_s", len(done) / elapsed, "req/s")
            against_ceiling("member_lookup", len(done) / elapsed, ceiling)
        print(f"# {CLIENTS} clients back to back, {LOOKUPS} look-ups by phone a round", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
