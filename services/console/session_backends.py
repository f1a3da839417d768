"""Where sessions are kept: a hash of fields per session with an idle expiry, and a lock per key.
Redis when the console runs as more than one process (every replica sees every session, a restart
keeps them); this process's memory otherwise (one process; a restart logs everyone out)."""
from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol

from service_runtime.resp import Redis

LOCK_SECONDS = 15  # longer than a token refresh may take (the API's timeout); a dead holder's lock lapses
LOCK_POLL_SECONDS = 0.05

# write the changed fields and reset the expiry; never bring back a session dropped meanwhile
# (logout in another tab) by writing half of it
SAVE = """
if ARGV[2] == '0' and redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if #ARGV > 2 then redis.call('HSET', KEYS[1], unpack(ARGV, 3)) end
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1
"""
UNLOCK = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


class Backend(Protocol):
    async def load(self, key: str) -> dict[str, str]: ...

    async def save(self, key: str, changed: dict[str, str], ttl: int, create: bool) -> None: ...

    async def delete(self, key: str) -> None: ...

    def lock(self, key: str) -> AbstractAsyncContextManager[None]: ...

    async def close(self) -> None: ...


class MemoryBackend:
    def __init__(self) -> None:
        self._hashes: dict[str, tuple[float, dict[str, str]]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def load(self, key: str) -> dict[str, str]:
        found = self._hashes.get(key)
        if found is None or found[0] <= time.monotonic():
            self._hashes.pop(key, None)
            return {}
        return dict(found[1])

    async def save(self, key: str, changed: dict[str, str], ttl: int, create: bool) -> None:
        now = time.monotonic()
        for stale in [k for k, (expires, _) in self._hashes.items() if expires <= now]:
            del self._hashes[stale]
        if key not in self._hashes and not create:
            return
        values = self._hashes.get(key, (0.0, {}))[1]
        values.update(changed)
        self._hashes[key] = (now + ttl, values)

    async def delete(self, key: str) -> None:
        self._hashes.pop(key, None)

    @asynccontextmanager
    async def lock(self, key: str) -> AsyncIterator[None]:
        held = self._locks.setdefault(key, asyncio.Lock())
        async with held:
            yield
        if not held.locked():
            self._locks.pop(key, None)

    async def close(self) -> None:
        self._hashes.clear()


class RedisBackend:
    def __init__(self, url: str, timeout_seconds: float) -> None:
        self.redis = Redis(url, timeout_seconds)

    async def load(self, key: str) -> dict[str, str]:
        flat = await self.redis.execute("HGETALL", key) or []
        return {flat[i].decode(): flat[i + 1].decode() for i in range(0, len(flat), 2)}

    async def save(self, key: str, changed: dict[str, str], ttl: int, create: bool) -> None:
        pairs = [item for name, value in changed.items() for item in (name, value)]
        await self.redis.script(SAVE, [key], [ttl, "1" if create else "0", *pairs])

    async def delete(self, key: str) -> None:
        await self.redis.execute("DEL", key)

    @asynccontextmanager
    async def lock(self, key: str) -> AsyncIterator[None]:
        token = secrets.token_hex(16)
        deadline = time.monotonic() + LOCK_SECONDS
        while await self.redis.execute("SET", key, token, "NX", "PX", LOCK_SECONDS * 1000) is None:
            if time.monotonic() > deadline:
                break  # the holder died holding it: go on (a refresh refused logs this session out, no worse)
            await asyncio.sleep(LOCK_POLL_SECONDS)
        try:
            yield
        finally:
            await self.redis.script(UNLOCK, [key], [token])

    async def close(self) -> None:
        await self.redis.close()
