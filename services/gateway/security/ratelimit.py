"""Token-bucket rate limits, per caller, in this gateway process.

Used alone when no Redis is configured, and while Redis is away (shared_limit.py); with N
replicas each then enforces its own buckets, so the effective limit is up to N times the
configured one.
"""
from __future__ import annotations

import math
import time


class RateLimiter:
    def __init__(self, max_buckets: int = 100_000) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, last refill)
        self._max_buckets = max_buckets

    def check(self, key: str, rate: float, burst: float) -> int | None:
        """None if allowed (and counted); else seconds to wait before retrying."""
        now = time.monotonic()
        tokens, last = self._buckets.get(key, (burst, now))
        tokens = min(burst, tokens + (now - last) * rate)
        if tokens >= 1:
            self._buckets[key] = (tokens - 1, now)
            if len(self._buckets) > self._max_buckets:
                self._evict(now, rate, burst)
            return None
        self._buckets[key] = (tokens, now)
        return max(1, math.ceil((1 - tokens) / rate)) if rate > 0 else 60

    def _evict(self, now: float, rate: float, burst: float) -> None:
        """Drop buckets idle long enough to be full again (they hold no information); if that
        frees too little, drop the oldest half (forgetting a bucket only ever lets more through)."""
        refill = burst / rate if rate > 0 else 3600.0
        for key, (_, last) in list(self._buckets.items()):
            if now - last > refill:
                del self._buckets[key]
        if len(self._buckets) > self._max_buckets * 0.9:
            oldest = sorted(self._buckets.items(), key=lambda item: item[1][1])[: len(self._buckets) // 2]
            for key, _ in oldest:
                del self._buckets[key]
