"""Benchmark of the members service: bulk import, then lookups through the gateway.

    make bench-members [SCALE=small|medium|large]      (20k, 200k or 1,000,000 members)

Writes a CSV of N members (GBK-free UTF-8, unique phones), imports it through
POST /v1/members/imports, and reports rows per second and the peak memory (VmHWM) of the
gateway and members processes; then looks members up by phone and by member number through
the gateway with 20 concurrent clients back to back, then paced (100 lookups/s in all), and
prints the query plans PostgreSQL chooses; then times the daily lifecycle run over them.
"""
from __future__ import annotations

import asyncio
import os
import random
import statistics
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import httpx

from bench.cpu import Cpu, Phase, against_ceiling, noop_ceiling
from bench.http import Pool, get_json, on_schedule
from bench.platform import bench, percentile, profiled, running_platform
from bench.points import points_engine, wait_for_accounts

SCALES = {"small": 20_000, "medium": 200_000, "large": 1_000_000}
CLIENTS = 20
LOOKUPS = 2000
PACED_INTERVAL_S = 0.2  # paced lookups: 5 a second per client, 100/s in all (a till asks about once a checkout)
PACED_LOOKUPS = 1000  # 10 s of them


def write_csv(path: Path, rows: int) -> list[str]:
    """The file, and a sample of its phones for lookups."""
    sample: list[str] = []
    stores = [f"S-{i:03d}" for i in range(200)]
    with path.open("w", encoding="utf-8") as out:
        out.write("external_id,name,phone,email,gender,birthday,registration_store,tags\n")
        for i in range(rows):
            phone = f"139{i:08d}"
            if i % max(rows // LOOKUPS, 1) == 0:
                sample.append(phone)
            out.write(f"B{i},Member {i},{phone},m{i}@example.com,{('female', 'male')[i % 2]},"
                      f"19{50 + i % 50}-{1 + i % 12:02d}-{1 + i % 28:02d},{stores[i % 200]},t{i % 10}\n")
    return sample


def peak_rss_mb(var: Path, name: str) -> float:
    pid = (var / "run" / f"{name}.pid").read_text().strip()
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def lookups(base: str, key: str, params: list[dict[str, str]], paced: bool = False) -> list[float]:
    """Latencies of these lookups by CLIENTS clients: back to back (each sends its next as soon as
    the last is answered), or paced, each client one lookup every PACED_INTERVAL_S."""
    latencies: list[float] = []
    queue = list(params)
    pool = Pool(base, timeout=30, size=CLIENTS)
    headers = {"X-API-Key": key}

    async def lookup(query: dict[str, str]) -> None:
        started = time.perf_counter()
        status, body = await get_json(pool, "/v1/members?" + urllib.parse.urlencode(query), headers)
        latencies.append((time.perf_counter() - started) * 1000)
        assert status == 200 and len(body["items"]) == 1, body

    async def client_loop() -> None:
        while queue:
            await lookup(queue.pop())

    async def paced_client(mine: list[dict[str, str]]) -> None:
        async for n in on_schedule(len(mine), PACED_INTERVAL_S):
            await lookup(mine[n])

    try:
        if paced:
            await asyncio.gather(*(paced_client(queue[i::CLIENTS]) for i in range(CLIENTS)))
        else:
            await asyncio.gather(*(client_loop() for _ in range(CLIENTS)))
    finally:
        pool.close()
    return latencies


def wait_for_quiet(env: dict[str, str], timeout: float = 1800) -> float:
    """Wait until every event the import caused has been published and consumed; seconds waited."""
    import base64
    import json
    import urllib.parse
    import urllib.request

    vhost = urllib.parse.quote(env["AMQP_URI"].rsplit("/", 1)[1], safe="")
    request = urllib.request.Request(f"http://127.0.0.1:15672/api/queues/{vhost}", headers={
        "Authorization": "Basic " + base64.b64encode(b"guest:guest").decode()})
    metrics = f"http://127.0.0.1:{env['MEMBERS_METRICS_PORT']}/metrics"
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        with urllib.request.urlopen(request, timeout=10) as response:
            queued = sum(q.get("messages", 0) or 0 for q in json.loads(response.read()))
        backlog = [line for line in httpx.get(metrics).text.splitlines() if line.startswith("loyalty_outbox_backlog")]
        if queued == 0 and all(line.endswith(" 0.0") for line in backlog):
            return time.perf_counter() - started
        time.sleep(1)
    return time.perf_counter() - started


def explain(env: dict[str, str]) -> None:
    from service_runtime.config import database_url

    url = database_url("members")
    queries = {
        "by phone (blind index)": "SELECT * FROM members WHERE phone_bidx = 'x' ORDER BY created_at, id LIMIT 51",
        "by member number": "SELECT * FROM members WHERE member_number = '800000000011' LIMIT 51",
        "by name prefix": "SELECT * FROM members WHERE lower(name) LIKE 'member 12%' ORDER BY created_at, id "
                          "LIMIT 51",
        "by tag": "SELECT * FROM members WHERE tags @> ARRAY['t3'] ORDER BY created_at, id LIMIT 51",
        "by store": "SELECT * FROM members WHERE registration_store = 'S-007' ORDER BY created_at, id LIMIT 51",
        "by birthday month": "SELECT * FROM members WHERE extract(month FROM birthday) = 4 "
                             "ORDER BY created_at, id LIMIT 51",
    }
    for label, sql in queries.items():
        plan = subprocess.run(["psql", url, "-Atc", f"EXPLAIN {sql}"], capture_output=True, text=True).stdout
        scans = [line.strip().removeprefix("->").strip().split("  (")[0]
                 for line in plan.splitlines() if "Scan" in line]
        print(f"# plan {label}: {'; '.join(scans) or plan.strip()}", flush=True)


def lifecycle_runs(env: dict[str, str], rows: int) -> None:
    """The daily lifecycle run (services/members/lifecycle.run) on the imported members, in this
    process against the members database: first at a time 200 days on, when every member moves
    (new -> dormant, one event each: the worst case, as after a threshold change), then again at
    that time, when nobody moves (the usual day's full pass); then the events drained."""
    from contextlib import contextmanager
    from datetime import UTC, datetime, timedelta
    from typing import cast

    import sqlalchemy as sa

    from service_runtime.config import database_url
    from service_runtime.db import Tx, WorkerDb
    from services.members import lifecycle

    engine = sa.create_engine(database_url("members"), poolclass=sa.pool.NullPool)

    class Db:
        @contextmanager
        def transaction(self):  # type: ignore[no-untyped-def]
            with engine.begin() as conn:
                yield Tx(conn, "members")

    at = datetime.now(UTC) + timedelta(days=200)
    try:
        started = time.perf_counter()
        moved = lifecycle.run(cast(WorkerDb, Db()), at)
        bench("lifecycle_run_moving_all_members_per_s", rows / (time.perf_counter() - started), "members/s")
        started = time.perf_counter()
        again = lifecycle.run(cast(WorkerDb, Db()), at)
        bench("lifecycle_run_nothing_to_move_s", time.perf_counter() - started, "s")
    finally:
        engine.dispose()
    print(f"# lifecycle runs over {rows} members: moved {moved}, then {sum(again.values())}", flush=True)
    bench("lifecycle_events_drained_s", wait_for_quiet(env), "s")  # campaigns' read model and triggers


def main() -> int:
    scale = os.environ.get("SCALE", "small")
    rows = SCALES[scale]
    with running_platform("members") as (base, token, env):
        var = Path(env["VAR_DIR"])
        path = var / "members.csv"
        sample = write_csv(path, rows)
        print(f"# members benchmark, SCALE={scale}: {rows} rows ({path.stat().st_size / 1e6:.0f} MB), "
              f"{CLIENTS} lookup clients, {os.cpu_count()} cores, everything on this machine", flush=True)
        auth = {"Authorization": f"Bearer {token}"}
        cpu = Cpu(var, env["DB_NAME_PREFIX"])
        before = cpu.snapshot()
        started = time.perf_counter()
        with profiled(var, "import"), path.open("rb") as body:
            job = httpx.post(base + "/v1/members/imports", content=body, timeout=600,
                             headers={**auth, "Content-Type": "text/csv"}, params={"source": "bench"}).json()
            while job["status"] == "running":
                time.sleep(0.5)
                job = httpx.get(f"{base}/v1/members/imports/{job['job_id']}", headers=auth).json()
        elapsed = time.perf_counter() - started
        Cpu.report("import (with its events consumed meanwhile)", before, cpu.snapshot())
        if job["rows_created"] != rows:
            print(f"# import: {job}", file=sys.stderr)
            return 1
        bench("member_import_rows_per_s", rows / elapsed, "rows/s")
        bench("member_import_peak_mb", max(peak_rss_mb(var, "gateway"), peak_rss_mb(var, "members")), "MB")
        before = cpu.snapshot()
        drained = wait_for_quiet(env)
        engine = points_engine()  # points opens an account per member; the broker's queue stats lag by seconds
        wait_for_accounts(engine, rows)
        engine.dispose()
        drained += wait_for_quiet(env)
        Cpu.report("draining the import's events", before, cpu.snapshot())
        bench("member_import_events_drained_s", drained, "s")  # points opening accounts after the import
        numbers = [httpx.get(base + "/v1/members", params={"phone": phone}, headers=auth).json()["items"][0]
                   ["member_number"] for phone in random.sample(sample, min(200, len(sample)))]
        till = httpx.post(base + "/v1/api-keys", headers=auth,  # lookups as a till does them: masked, not audited
                          json={"name": "bench till", "kind": "pos", "store": "S-001"}).json()["key"]
        ceiling, _ = asyncio.run(noop_ceiling(env, cpu, 8))  # the yardstick of this run
        before = cpu.snapshot()
        started = time.perf_counter()
        with profiled(var, "lookups by phone"):
            by_phone = asyncio.run(lookups(base, till, [{"phone": p} for p in (sample * 2)[:LOOKUPS]]))
        elapsed = time.perf_counter() - started
        rate, after = len(by_phone) / elapsed, cpu.snapshot()
        Cpu.report("lookups by phone", before, after)
        bench("member_lookup_cpu_ms", Phase("lookups by phone", elapsed, before, after).cpu_ms(
            len(by_phone), "lookup"), "ms")
        bench("member_lookup_per_s", rate, "req/s")
        against_ceiling("member_lookup", rate, ceiling)
        by_number = asyncio.run(lookups(base, till, [{"member_number": n} for n in (numbers * 10)[:LOOKUPS]]))
        before = cpu.snapshot()
        paced = asyncio.run(lookups(base, till, [{"phone": p} for p in (sample * 2)[:PACED_LOOKUPS // 2]] +
                                    [{"member_number": n} for n in (numbers * 10)[:PACED_LOOKUPS // 2]], paced=True))
        Cpu.report(f"paced lookups ({CLIENTS / PACED_INTERVAL_S:.0f}/s)", before, cpu.snapshot())
        for label, values in (("phone", by_phone), ("number", by_number), ("paced", paced)):
            bench(f"member_lookup_{label}_p50_ms", statistics.median(values), "ms")
            bench(f"member_lookup_{label}_p99_ms", percentile(values, 0.99), "ms")
        print(f"# member_lookup_phone/number: {CLIENTS} clients back to back (the box saturated); paced: "
              f"{CLIENTS} clients, each one lookup every {PACED_INTERVAL_S} s ({CLIENTS / PACED_INTERVAL_S:.0f}/s, "
              "by phone and by number alike)", flush=True)
        explain(env)
        lifecycle_runs(env, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
