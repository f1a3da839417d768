"""Benchmark of the files adapter's historical-sales import (moving a chain onto the platform).

    make bench-erp [SCALE=small|medium|large]

Starts the platform as `make run` does (its own databases, vhost and ports) with the catalog's
files adapter pointed at a private OpenSSH server (the tests' one: its own host key, config and
free port), imports members and waits for their accounts, measures the host's no-op RPC ceiling
(bench/points.py's rpc_ceiling), then drops one CSV of historical sales (history-only mode) on
the SFTP server and times it from the drop until its run is done, as the catalog's schedule takes
it (1 s poll). Figures, one `BENCH` line each:

    noop_rpc_ceiling_per_s          one RPC to points.ping and back, 32 callers (the host's ceiling)
    erp_history_import_sales_per_s  sales recorded per second, from the drop to the run done
    erp_history_import_peak_mb      the highest RSS of the importing processes (catalog + points,
                                    sampled together every 0.2 s during the import)

Then checks the points database: every sale recorded once, none earning, no ledger row.
"""
from __future__ import annotations

import asyncio
import os
import random
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from bench.platform import bench, running_platform
from bench.points import Books, Cpu, create_keys, import_members, points_engine, rpc_ceiling, wait_for_accounts
from tests.service.sftp_support import private_sshd

SCALES = {"small": {"sales": 20_000, "members": 2_000}, "medium": {"sales": 200_000, "members": 20_000},
          "large": {"sales": 1_000_000, "members": 100_000}}
IMPORTERS = ("catalog", "points")
STORES = [f"H-{i:03d}" for i in range(50)]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class RssSampler(threading.Thread):
    """The importing processes' RSS summed, every 0.2 s: its highest value and the one at start."""

    def __init__(self, pids: dict[str, int]) -> None:
        super().__init__(daemon=True)
        self.pids, self.stop, self.peak, self.peaks = pids, threading.Event(), 0.0, dict.fromkeys(pids, 0.0)
        self.start_mb = sum(rss_mb(p) for p in pids.values())

    def run(self) -> None:
        while not self.stop.wait(0.2):
            now = {name: rss_mb(pid) for name, pid in self.pids.items()}
            self.peak = max(self.peak, sum(now.values()))
            self.peaks = {n: max(self.peaks[n], now[n]) for n in now}


def write_sales(path: Path, count: int, members: list[str], rng: random.Random) -> None:
    """A legacy export: one sale a line, oldest first, over the two years before now."""
    start = datetime.now(UTC) - timedelta(days=730)
    step = timedelta(days=700) / count
    with path.open("w", encoding="utf-8") as out:
        out.write("store,transaction_id,member_id,amount,currency,sold_at\n")
        for i in range(count):
            cents = rng.randint(500, 50_000)
            out.write(f"{STORES[i % len(STORES)]},L{i:08d},{members[rng.randrange(len(members))]},"
                      f"{cents // 100}.{cents % 100:02d},CNY,{(start + step * i).isoformat()}\n")


def wait_run(base: str, token: str, name: str, timeout: float) -> dict[str, object]:
    auth = {"Authorization": f"Bearer {token}"}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = httpx.get(base + "/v1/files/runs", headers=auth, params={"limit": 50}, timeout=30).json()["items"]
        run = next((r for r in runs if r["name"] == name), None)
        if run is not None and run["status"] in ("done", "failed", "skipped"):
            return dict(run)
        time.sleep(0.5)
    raise SystemExit(f"the run of {name} did not finish within {timeout:.0f} s")


def main() -> int:
    scale = os.environ.get("SCALE", "small")
    knobs = SCALES[scale]
    rng = random.Random(int(os.environ.get("SEED", "7")))
    with tempfile.TemporaryDirectory(prefix="loyalty-bench-erp-") as scratch, \
            private_sshd(Path(scratch) / "sftp") as server:
        os.environ.update({**server.env("legacy"), "FILES_POLL_SECONDS": "1", "FILES_BATCHES_PER_TICK": "1000000"})
        with running_platform("erp") as (base, token, env):
            var = Path(env["VAR_DIR"])
            print(f"# erp benchmark, SCALE={scale}: {knobs['sales']} historical sales (history-only mode) of "
                  f"{knobs['members']} members in one CSV on a private sshd; {os.cpu_count()} cores, everything on "
                  "this machine", flush=True)
            import_members(base, token, var, knobs["members"], STORES)
            members = wait_for_accounts(points_engine(), knobs["members"])
            key = create_keys(base, token, STORES[:1])[STORES[0]]
            books = Books()
            cpu = Cpu(var, env["DB_NAME_PREFIX"])
            asyncio.run(rpc_ceiling(base, env, key, cpu, books, 5))

            part = server.drop / ".sales-history.csv.part"  # hidden while written: the scan skips dot files
            write_sales(part, knobs["sales"], members, rng)
            size_mb = part.stat().st_size / 2**20
            pids = {name: int((var / "run" / f"{name}.pid").read_text()) for name in IMPORTERS}
            sampler = RssSampler(pids)
            sampler.start()
            before = cpu.snapshot()
            started = time.perf_counter()
            part.rename(server.drop / "sales-history.csv")
            run = wait_run(base, token, "sales-history.csv", timeout=max(600, knobs["sales"] / 200))
            elapsed = time.perf_counter() - started
            Cpu.report("history import", before, cpu.snapshot())
            sampler.stop.set()
            sampler.join()
            bench("erp_history_import_sales_per_s", int(str(run["rows_ok"])) / elapsed, "sales/s")
            bench("erp_history_import_peak_mb", sampler.peak, "MB")
            print(f"# import: {size_mb:.1f} MiB file, run {run['status']}: {run['rows_ok']} recorded, "
                  f"{run['rows_failed']} refused, {elapsed:.1f} s from the drop (1 s poll included); RSS of "
                  f"{' + '.join(IMPORTERS)} {sampler.start_mb:.0f} MB before, peak {sampler.peak:.0f} MB "
                  f"({', '.join(f'{n} {v:.0f}' for n, v in sampler.peaks.items())})", flush=True)
            import sqlalchemy as sa

            with points_engine().connect() as conn:
                recorded, earned, twice = conn.execute(sa.text(
                    "SELECT count(*), coalesce(sum(points), 0), count(*) - count(DISTINCT (store, transaction_id)) "
                    "FROM sales WHERE history")).one()
                ledger = conn.execute(sa.text("SELECT count(*) FROM ledger")).scalar_one()
            print(f"# check: {recorded} history sales recorded, {earned} points earned, {twice} twice, "
                  f"{ledger} ledger rows", flush=True)
            failed = run["status"] != "done" or recorded != knobs["sales"] or earned or twice or ledger \
                or sum(books.errors.values())
            return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
