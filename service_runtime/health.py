"""Is this service process still consuming? Liveness and readiness from its AMQP consumers.

A live process is not enough: a consumer whose thread died, or whose connection has been gone for
minutes, leaves a process that answers /metrics and handles nothing. Every Nameko consumer (RPC,
events, replies) runs kombu's consume loop, which comes round at least once a second while it is
connected (``safety_interval``); each turn stamps the consumer. So:

- ``/healthz`` (liveness, on the metrics port) fails when any consumer has not come round for
  ``CONSUMER_STALE_SECONDS`` (default 60): dead, blocked, or cut off from the broker that long.
  A broker outage shorter than that does not restart anything.
- ``/readyz`` fails while any consumer is not consuming now (not come round for 5 s).
- The watchdog exits the process (code 70) once a consumer has been stale for
  ``CONSUMER_WATCHDOG_SECONDS`` (default 120; 0 turns it off), so supervisors that only see a
  process (`make run`, compose's ``restart:``) restart it as Kubernetes' liveness probe would.
"""
from __future__ import annotations

import json
import logging
import os
import time
import weakref
from collections.abc import Callable, Iterable
from typing import Any

from nameko.amqp.consume import Consumer

from service_runtime.config import env_int

log = logging.getLogger(__name__)

READY_SECONDS = 5
WATCHDOG_EXIT_CODE = 70
_CONSUMERS: "weakref.WeakSet[Consumer]" = weakref.WeakSet()


def stale_seconds() -> int:
    return env_int("CONSUMER_STALE_SECONDS", 60)


def watchdog_seconds() -> int:
    return env_int("CONSUMER_WATCHDOG_SECONDS", 120)


def _stamp(consumer: Consumer) -> None:
    consumer._loyalty_alive_at = time.monotonic()


_original_run = Consumer.run


def _run(self: Consumer, *args: Any, **kwargs: Any) -> Any:
    """A consumer counts once its loop runs (a standalone client's reply consumer, consumed on
    demand, never does), and still counts if the loop ends without being asked to stop."""
    _stamp(self)  # a consumer that never connects goes stale from here
    _CONSUMERS.add(self)
    return _original_run(self, *args, **kwargs)


Consumer.run = _run
Consumer.on_iteration = _stamp  # once a turn of the consume loop


def stalest(consumers: Iterable[Any], now: float) -> float:
    """Seconds since the consumer that came round longest ago did (0 with none running)."""
    ages = [now - c._loyalty_alive_at for c in consumers if not c.should_stop]
    return max(ages, default=0.0)


def check(now: float | None = None) -> dict[str, Any]:
    now = time.monotonic() if now is None else now
    running = [c for c in list(_CONSUMERS) if not c.should_stop]
    age = stalest(running, now)
    return {"consumers": len(running), "stalest_seconds": round(age, 1),
            "live": bool(running) and age < stale_seconds(), "ready": bool(running) and age < READY_SECONDS}


def wsgi(metrics_app: Callable[..., Any]) -> Callable[..., Any]:
    """The metrics app, plus /healthz and /readyz answering from the consumers (200 or 503)."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO", "")
        if path not in ("/healthz", "/readyz"):
            return metrics_app(environ, start_response)
        state = check()
        ok = state["live"] if path == "/healthz" else state["ready"]
        body = json.dumps({"status": "ok" if ok else "failing", **state}).encode()
        start_response("200 OK" if ok else "503 Service Unavailable",
                       [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    return app


def _exit(code: int) -> None:
    logging.shutdown()  # the last lines reach the log before the process goes
    os._exit(code)


def watchdog(sleep: Callable[[float], Any], exit_: Callable[[int], Any] = _exit) -> None:
    """Exit the process once a consumer has been stale for the watchdog's limit (0: never)."""
    limit = watchdog_seconds()
    if limit <= 0:
        return
    while True:
        sleep(5)
        state = check()
        if state["consumers"] and state["stalest_seconds"] >= limit:
            log.error("a consumer has not consumed for %ss (limit %ss): exiting so the supervisor restarts "
                      "this process", state["stalest_seconds"], limit)
            exit_(WATCHDOG_EXIT_CODE)
