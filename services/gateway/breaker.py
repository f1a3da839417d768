"""A circuit breaker per service, so tills get a fast 503 instead of waiting out timeouts.

closed -> (``threshold`` consecutive unavailable/timeouts) -> open for ``open_seconds``: every
call fails at once -> half-open: one call goes through as a probe; its success closes the
breaker, its failure opens it again. Answers (even errors such as 404) count as success: the
service is there.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from prometheus_client import Counter, Gauge

BREAKER_OPEN = Gauge("loyalty_gateway_breaker_open", "1 while the breaker for a service is open", ["service"])
BREAKER_REJECTED = Counter("loyalty_gateway_breaker_rejected_total", "Calls refused fast by an open breaker",
                           ["service"])


class CircuitOpen(Exception):
    """The service failed repeatedly just now; retry after ``retry_after`` seconds."""

    def __init__(self, service: str, retry_after: float) -> None:
        super().__init__(f"service {service!r} is unavailable; retry in {math.ceil(retry_after)}s")
        self.service, self.retry_after = service, math.ceil(retry_after)


@dataclass
class Breaker:
    service: str
    threshold: int = 5
    open_seconds: float = 2.0
    failures: int = 0
    opened_at: float | None = None
    probing: bool = False
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    last_error: str | None = None  # for the status page: what the latest failure was, and when
    last_error_at: float | None = None

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        return "half_open" if self.probing or self._now() - self.opened_at >= self.open_seconds else "open"

    def _now(self) -> float:
        return self.clock()

    def before_call(self) -> bool:
        """Raise CircuitOpen, or let the call go; True if it is the half-open probe."""
        if self.opened_at is None:
            return False
        waited = self._now() - self.opened_at
        if waited < self.open_seconds or self.probing:
            BREAKER_REJECTED.labels(self.service).inc()
            raise CircuitOpen(self.service, max(self.open_seconds - waited, 1.0))
        self.probing = True
        return True

    def succeeded(self, probe: bool) -> None:
        if self.opened_at is not None:
            BREAKER_OPEN.labels(self.service).set(0)
        self.failures, self.opened_at, self.probing = 0, None, False

    def failed(self, probe: bool, error: str | None = None) -> None:
        self.failures += 1
        self.last_error, self.last_error_at = error, time.time()
        if probe or (self.opened_at is None and self.failures >= self.threshold):
            self.opened_at, self.probing = self._now(), False
            BREAKER_OPEN.labels(self.service).set(1)

    def released(self, probe: bool) -> None:
        """The call ended without telling us anything (cancelled): let another probe go."""
        if probe:
            self.probing = False
