"""The local supervisor of `make run`: starts every Procfile process and restarts one that exits.

Backoff per process: 1 s, doubling to 30 s; back to 1 s once it has run a minute. Every exit
and restart is a line in its log ($VAR_DIR/log/supervisor.log) and a count in
$VAR_DIR/run/supervisor.json (`make status` shows it). SIGTERM stops the processes and then it.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

FIRST_DELAY, MAX_DELAY, HEALTHY_AFTER = 1.0, 30.0, 60.0


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _say(message: str) -> None:
    print(f"{_now()} supervisor: {message}", flush=True)


class Supervisor:
    def __init__(self, entries: list[tuple[str, list[str]]], env_of: Callable[[str], dict[str, str]],
                 run: Path, log: Path) -> None:
        self.entries, self.env_of, self.run_dir, self.log_dir = entries, env_of, run, log
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.started_at: dict[str, float] = {}
        self.delay: dict[str, float] = {name: FIRST_DELAY for name, _ in entries}
        self.due: dict[str, float] = {}
        self.state: dict[str, dict[str, object]] = {name: {"restarts": 0} for name, _ in entries}
        self.stopping = False

    def spawn(self, name: str, argv: list[str]) -> None:
        with (self.log_dir / f"{name}.log").open("ab") as log_file:
            process = subprocess.Popen(argv, cwd=Path(__file__).resolve().parents[2], env=self.env_of(name),
                                       stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       start_new_session=True)
        self.procs[name], self.started_at[name] = process, time.monotonic()
        (self.run_dir / f"{name}.pid").write_text(str(process.pid))
        self.state[name]["pid"] = process.pid
        _say(f"started {name} (pid {process.pid})")

    def save(self) -> None:
        path = self.run_dir / "supervisor.json"
        path.with_suffix(".tmp").write_text(json.dumps(self.state))
        path.with_suffix(".tmp").replace(path)

    def check(self, argv_of: dict[str, list[str]]) -> None:
        now = time.monotonic()
        for name, process in list(self.procs.items()):
            code = process.poll()
            if code is None:
                if now - self.started_at[name] > HEALTHY_AFTER:
                    self.delay[name] = FIRST_DELAY
                continue
            del self.procs[name]
            delay = self.delay[name]
            self.delay[name] = min(delay * 2, MAX_DELAY)
            self.due[name] = now + delay
            self.state[name]["last_exit"] = code
            _say(f"{name} (pid {process.pid}) exited with {code}; restarting in {delay:.0f}s")
        for name, when in list(self.due.items()):
            if when <= now:
                del self.due[name]
                self.spawn(name, argv_of[name])
                restarts = int(self.state[name]["restarts"]) + 1  # type: ignore[call-overload]
                self.state[name].update(restarts=restarts, last_restart=_now())
                _say(f"restarted {name} (restart {restarts})")
        self.save()

    def stop_all(self) -> None:
        for process in self.procs.values():
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(p.poll() is None for p in self.procs.values()):
            time.sleep(0.2)
        for name, process in self.procs.items():
            if process.poll() is None:
                _say(f"{name} did not stop in time; killing it")
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                process.wait()
            (self.run_dir / f"{name}.pid").unlink(missing_ok=True)

    def run(self) -> int:
        def on_term(signum: int, frame: object) -> None:
            self.stopping = True

        signal.signal(signal.SIGTERM, on_term)
        signal.signal(signal.SIGINT, on_term)
        argv_of = dict(self.entries)
        for name, argv in self.entries:
            self.spawn(name, argv)
        self.save()
        while not self.stopping:
            self.check(argv_of)
            time.sleep(0.2)
        _say("stopping")
        self.stop_all()
        (self.run_dir / "supervisor.json").unlink(missing_ok=True)
        _say("stopped")
        return 0
