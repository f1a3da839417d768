"""Rate limits shared by every gateway replica through Redis (RATE_LIMIT_REDIS_URL).

Each caller's bucket is one Redis key holding a GCRA "theoretical arrival time", updated by one
Lua script on Redis' own clock: atomic, no clock skew between replicas, and the same rule as the
per-process token bucket (``rate`` requests per second, bursts of ``burst``).

When Redis cannot be reached (or answers slower than RATE_LIMIT_REDIS_TIMEOUT_MS) a request is
never refused for it: this process decides alone with its own buckets, counts that in
loyalty_gateway_ratelimit_fallback_total, logs once per outage, and tries Redis again a second
later. During an outage the effective limit is the configured one per replica.
"""
from __future__ import annotations

import asyncio
import logging
import math
import time

from prometheus_client import Counter, Gauge

from service_runtime.resp import Redis, RedisError
from services.gateway.security.ratelimit import RateLimiter

log = logging.getLogger(__name__)

SHARED = Gauge("loyalty_gateway_ratelimit_shared", "1 while rate limits are shared through Redis, 0 while per process")
FALLBACK = Counter("loyalty_gateway_ratelimit_fallback_total",
                   "Rate-limit decisions made by this process alone because Redis was unreachable")

# KEYS[1]: the bucket; ARGV: emission interval and tolerance (burst x interval), in microseconds.
# Answers 0 (allowed, counted) or the microseconds to wait.
GCRA = """
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local new_tat = tat + interval
local wait = new_tat - tolerance - now
if wait > 0 then return wait end
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1000)
return 0
"""
_RETRY_SECONDS = 1.0


class SharedRateLimiter:
    def __init__(self, url: str, prefix: str, timeout: float) -> None:
        self.redis = Redis(url, timeout) if url else None
        self.prefix = prefix
        self.local = RateLimiter()
        self._retry_at = 0.0
        self._degraded = False
        SHARED.set(1 if url else 0)

    async def check(self, key: str, rate: float, burst: float) -> int | None:
        """None if allowed (and counted); else seconds to wait before retrying."""
        if self.redis is None or rate <= 0:
            return self.local.check(key, rate, burst)
        if time.monotonic() < self._retry_at:
            return self._alone(key, rate, burst)
        interval = max(1, round(1_000_000 / rate))
        try:
            wait = await self.redis.script(GCRA, [self.prefix + key], [interval, round(interval * max(burst, 1))])
        except (OSError, TimeoutError, RedisError, asyncio.IncompleteReadError) as exc:
            self._retry_at = time.monotonic() + _RETRY_SECONDS
            if not self._degraded:
                self._degraded = True
                SHARED.set(0)
                log.warning("Redis unreachable for rate limits (%s): limiting per process until it is back",
                            f"{type(exc).__name__}: {exc}")
            return self._alone(key, rate, burst)
        if self._degraded:
            self._degraded = False
            SHARED.set(1)
            log.warning("Redis reachable again: rate limits are shared by every replica")
        return None if int(wait) <= 0 else max(1, math.ceil(int(wait) / 1_000_000))

    def _alone(self, key: str, rate: float, burst: float) -> int | None:
        FALLBACK.inc()
        return self.local.check(key, rate, burst)

    async def close(self) -> None:
        if self.redis is not None:
            await self.redis.close()
