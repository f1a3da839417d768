"""Where the CPU went during a benchmark's phase, and what one operation cost in CPU.

Rates on a shared 2-core box move with whatever else runs; the CPU seconds the platform's
processes spend per operation move much less, so each phase can print both, and the no-op
RPC round trip of the same run (``noop_ceiling``) is the yardstick the targets are set against.
"""
from __future__ import annotations

import asyncio
import os
import resource
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from bench.platform import bench, percentile, profiled

TICK = os.sysconf("SC_CLK_TCK")
CALLERS = 32  # no-op RPC callers, as many as the till benchmark's terminals
CLIENT = "bench client"


class Cpu:
    """CPU seconds per process group (the platform's processes by pid file, PostgreSQL,
    RabbitMQ, this bench) and the machine's busy time, between two snapshots."""

    def __init__(self, var: Path, db_prefix: str) -> None:
        self.var = var
        self.prefix = db_prefix
        self.extra: dict[str, int] = {}

    @staticmethod
    def _ticks(pid: int) -> int:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            return int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            return 0

    @staticmethod
    def _name(pid: int, comm: str) -> str:
        """A short name for a process that is not the platform's: its command line, shortened."""
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return comm
        words = [w.decode(errors="replace") for w in argv if w]
        if not words:
            return f"[{comm}]"  # a kernel thread
        if "-m" in words[:-1]:
            return words[words.index("-m") + 1]
        return " ".join(Path(w).name if i == 0 else w for i, w in enumerate(words[:2]))[:40]

    def snapshot(self) -> dict[str, float]:
        groups: dict[str, float] = defaultdict(float)
        mine = {os.getpid()}
        for pidfile in (self.var / "run").glob("*.pid"):
            try:
                pid = int(pidfile.read_text().strip())
            except ValueError:
                continue
            groups[pidfile.stem] += self._ticks(pid) / TICK
            mine.add(pid)
        for name, pid in self.extra.items():
            groups[name] += self._ticks(pid) / TICK
            mine.add(pid)
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit() or int(proc.name) in mine:
                continue
            try:
                comm = (proc / "comm").read_text().strip()
            except OSError:
                continue
            ticks = self._ticks(int(proc.name)) / TICK
            if comm == "postgres":  # backends name their database: ours, or other work's
                try:
                    title = (proc / "cmdline").read_bytes().decode(errors="replace")
                except OSError:
                    continue
                if self.prefix in title:
                    groups["postgres"] += ticks
                elif " idle" in title or "(" in title:
                    groups[f"_pid {proc.name} postgres (other databases)"] = ticks
                else:
                    groups["postgres (server)"] += ticks
            elif comm == "beam.smp":
                groups["rabbitmq"] += ticks
            elif ticks:
                groups[f"_pid {proc.name} {self._name(int(proc.name), comm)}"] = ticks
        usage = resource.getrusage(resource.RUSAGE_SELF)
        groups["bench client"] = usage.ru_utime + usage.ru_stime
        cpu = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        values = [int(v) for v in cpu]
        groups["_idle"] = (values[3] + values[4]) / TICK
        groups["_steal"] = (values[7] if len(values) > 7 else 0) / TICK
        groups["_total"] = sum(values[:8]) / TICK
        groups["_wall"] = time.perf_counter()
        return dict(groups)

    @staticmethod
    def report(label: str, before: dict[str, float], after: dict[str, float]) -> None:
        wall = after["_wall"] - before["_wall"]
        total = after["_total"] - before["_total"]
        busy = 100 * (1 - (after["_idle"] - before["_idle"]) / total) * (os.cpu_count() or 1) if total else 0
        steal = 100 * (after["_steal"] - before["_steal"]) / wall
        parts = sorted(((name, 100 * (after[name] - before.get(name, 0.0)) / wall) for name in after
                        if not name.startswith("_")), key=lambda p: -p[1])
        shown = ", ".join(f"{name} {share:.0f}" for name, share in parts if share >= 1)
        others: Counter[str] = Counter()  # processes not the platform's nor this bench's (other work on the box)
        for name in after:  # a process started in between: all its time is in between
            if name.startswith("_pid "):
                others[name.split(" ", 2)[2]] += 100 * (after[name] - before.get(name, 0.0)) / wall
        rest = max(busy - sum(share for _, share in parts) - sum(others.values()), 0)
        top = ", ".join(f"{name} {share:.0f}" for name, share in others.most_common(4) if share >= 1)
        print(f"# cpu {label} (% of one core, {os.cpu_count()} cores): machine busy {busy:.0f}, steal {steal:.0f}; "
              f"{shown}; other processes {sum(others.values()):.0f}{' (' + top + ')' if top else ''}, "
              f"unattributed {rest:.0f}", flush=True)


def client_and_postgres_ms(cpu: Cpu, work: Callable[[], None], count: int) -> tuple[float, float]:
    """ms of this process's CPU and of PostgreSQL's backends per item while ``work`` does ``count``
    items in-process (the in-process benches: no broker, no gateway)."""
    before = cpu.snapshot()
    work()
    after = cpu.snapshot()
    return ((after["bench client"] - before["bench client"]) * 1000 / count,
            (after.get("postgres", 0.0) - before.get("postgres", 0.0)) * 1000 / count)


def platform_seconds(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """CPU seconds of each of the platform's process groups between two snapshots: its services
    and gateway, RabbitMQ, PostgreSQL (this platform's backends and the server's own processes);
    not this bench's process nor other work on the box."""
    return {name: after[name] - before.get(name, 0.0) for name in after
            if not name.startswith("_") and name != CLIENT}


@dataclass
class Phase:
    label: str
    elapsed: float
    before: dict[str, float]
    after: dict[str, float]

    def cpu_ms(self, operations: int, what: str) -> float:
        """All the platform's CPU per operation in ms, and a `# cpu per` line with its split."""
        spent = platform_seconds(self.before, self.after)
        total = sum(spent.values()) * 1000 / max(operations, 1)
        client = (self.after.get(CLIENT, 0.0) - self.before.get(CLIENT, 0.0)) * 1000 / max(operations, 1)
        split = ", ".join(f"{name} {seconds * 1000 / max(operations, 1):.2f}"
                          for name, seconds in sorted(spent.items(), key=lambda p: -p[1])
                          if seconds * 1000 / max(operations, 1) >= 0.01)
        print(f"# cpu per {what} ({self.label}, {operations} in {self.elapsed:.1f} s): {total:.2f} ms of the "
              f"platform's CPU ({split}); the bench client {client:.2f} ms", flush=True)
        return total


async def measured(cpu: Cpu, label: str, work: Callable[[], Awaitable[None]]) -> Phase:
    before = cpu.snapshot()
    started = time.perf_counter()
    with profiled(cpu.var, label):
        await work()
    elapsed = time.perf_counter() - started
    after = cpu.snapshot()
    Cpu.report(label, before, after)
    return Phase(label, elapsed, before, after)


async def back_to_back(call: Callable[[], Awaitable[object]], callers: int, seconds: float,
                       failed: Callable[[Exception], None]) -> list[float]:
    """Latencies in ms of ``call`` made by ``callers`` callers back to back for ``seconds``; a call
    that raises goes to ``failed`` and its caller waits 0.1 s (the broker may be away a moment)."""
    done: list[float] = []

    async def caller(deadline: float) -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                await call()
            except Exception as exc:  # counted and shown by the caller of this
                failed(exc)
                await asyncio.sleep(0.1)
                continue
            done.append((time.perf_counter() - started) * 1000)

    deadline = time.perf_counter() + seconds
    await asyncio.gather(*(caller(deadline) for _ in range(callers)))
    return done


async def noop_ceiling(env: dict[str, str], cpu: Cpu, seconds: float) -> tuple[float, Counter[str]]:
    """(calls/s, failures by exception name) of the no-op RPC round trip: the gateway's own RPC
    client in this process calling points.ping (SELECT 1 in points), ``CALLERS`` callers back
    to back, with no HTTP in front (bench.points_till.gateway_noop adds it). Prints the BENCH lines
    ``noop_rpc_ceiling_per_s`` and ``noop_cpu_ms``."""
    from contracts.caller_seal import CallerSeal
    from services.gateway.rpc import RpcClient

    rpc = RpcClient(env["AMQP_URI"], 10, seal=CallerSeal(env["CALLER_SIGNING_KEY"]))  # signs as the gateway does
    rpc.start()
    for _ in range(100):
        if rpc.connected:
            break
        await asyncio.sleep(0.1)
    calls: list[float] = []
    failures: Counter[str] = Counter()

    async def run_rpc() -> None:
        calls.extend(await back_to_back(lambda: rpc.call("points", "ping"), CALLERS, seconds,
                                        lambda exc: failures.update([type(exc).__name__])))

    phase = await measured(cpu, "rpc points.ping", run_rpc)
    await rpc.close()
    rate = len(calls) / phase.elapsed
    bench("noop_rpc_ceiling_per_s", rate, "calls/s")
    # the RPC client's side is this process here (the gateway's in a request): the bench client figure
    bench("noop_cpu_ms", phase.cpu_ms(len(calls), "no-op RPC"), "ms")
    ordered = sorted(calls)
    print(f"# noop rpc: gateway RPC client in the bench process -> points.ping -> reply, {CALLERS} callers; "
          f"p50 {percentile(ordered, 0.5) if calls else float('nan'):.1f} ms, "
          f"p99 {percentile(ordered, 0.99) if calls else float('nan'):.1f} ms"
          + (f"; FAILED calls {dict(failures)}" if failures else ""), flush=True)
    return rate, failures


def against_ceiling(name: str, rate: float, ceiling: float) -> None:
    """A hot path's rate as a percentage of the no-op RPC ceiling of the same run."""
    bench(f"{name}_pct_of_ceiling", 100 * rate / ceiling if ceiling else float("nan"), "%")
