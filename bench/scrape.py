"""Scrape cost: the CPU one `GET /metrics` costs each process, as a share of a core at a 15 s interval.

    SCALE=small|medium|large python -m bench.scrape   (scrapes per process: 100 | 300 | 1000)

Starts the platform as `make run` does, puts a little traffic through it (so histograms per route
and entrypoint exist), then for each process reads its CPU time (/proc/<pid>/stat, utime + stime)
around N back-to-back scrapes and around an idle pause as long, and subtracts the idle part.
Prints per process ``BENCH scrape_cpu_ms_<process>`` (CPU ms per scrape) and
``BENCH scrape_cpu_share_15s_<process>`` (CPU per scrape / 15 s, percent of one core), then
``BENCH scrape_cpu_share_15s`` for the costliest process and ``..._total`` for all of them together.
"""
from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import httpx

from bench.platform import bench, running_platform
from service_runtime import config as cfg

COUNTS = {"small": 100, "medium": 300, "large": 1000}
INTERVAL_S = 15
TICK_S = 1 / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * TICK_S  # utime, stime (fields 14 and 15 of stat)


def _traffic(base: str, token: str, members: int = 10) -> None:
    """Registrations and sales, so every process has its usual series (routes, entrypoints, events)."""
    with httpx.Client(base_url=base, timeout=30, headers={"Authorization": f"Bearer {token}"}) as http:
        for i in range(members):
            created = http.post("/v1/members", json={"name": f"Scrape Member {i}", "channel": "pos",
                                                     "phone": "137" + str(uuid.uuid4().int)[:8]})
            member_id = created.json()["member"]["member_id"]
            for _attempt in range(40):  # the points account opens from member.registered
                sale = http.post("/v1/points/sales", json={
                    "store": "SH-001", "terminal": "T1", "transaction_id": f"SCR-{uuid.uuid4().hex[:12]}",
                    "member_id": member_id, "amount": "88.00", "sold_at": "2026-01-15T10:30:00+08:00",
                    "items": [{"sku": "TEA-1", "category": "drinks", "amount": "88.00"}]})
                if sale.status_code == 201:
                    break
                time.sleep(0.25)


def measure(pid: int, url: str, scrapes: int) -> tuple[float, int]:
    """(CPU seconds per scrape net of idle, bytes per scrape) for one process."""
    with httpx.Client(timeout=30) as http:
        http.get(url).raise_for_status()  # warm: the first scrape builds what later ones reuse
        before, started = cpu_seconds(pid), time.perf_counter()
        size = 0
        for _ in range(scrapes):
            answer = http.get(url)
            answer.raise_for_status()
            size = len(answer.content)
        busy, elapsed = cpu_seconds(pid) - before, time.perf_counter() - started
    before = cpu_seconds(pid)
    time.sleep(elapsed)
    idle = cpu_seconds(pid) - before
    return max(busy - idle, 0.0) / scrapes, size


def main() -> None:
    scale = cfg.env("SCALE", "small")
    scrapes = COUNTS[scale]
    with running_platform("scrape") as (base, token, env):
        _traffic(base, token)
        var = Path(env["VAR_DIR"])
        shares: dict[str, float] = {}
        for name in ("gateway", *cfg.SERVICES):
            pid = int((var / "run" / f"{name}.pid").read_text().strip())
            url = f"http://127.0.0.1:{env[f'{name.upper()}_METRICS_PORT']}/metrics"
            per_scrape, size = measure(pid, url, scrapes)
            shares[name] = per_scrape / INTERVAL_S * 100
            print(f"# {name}: {scrapes} scrapes of {size} bytes", flush=True)
            bench(f"scrape_cpu_ms_{name}", per_scrape * 1000, "ms")
            print(f"BENCH scrape_cpu_share_15s_{name} {shares[name]:.3f} percent", flush=True)
        print(f"# SCALE={scale}; CPU time from /proc/<pid>/stat ({TICK_S * 1000:.0f} ms ticks), idle subtracted",
              flush=True)
        print(f"BENCH scrape_cpu_share_15s {max(shares.values()):.3f} percent", flush=True)
        print(f"BENCH scrape_cpu_share_15s_total {sum(shares.values()):.3f} percent", flush=True)


if __name__ == "__main__":
    main()
