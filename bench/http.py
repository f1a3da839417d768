"""A small HTTP/1.1 keep-alive client for the load generators.

The benchmarks share the machine's cores with the platform they measure, so the load they
generate must cost little: httpx spent ~5 ms of CPU per request on this kind of machine (the
client took half a core in the member lookup benchmark), this client ~0.2 ms.
"""
from __future__ import annotations

import asyncio
import json
import random
import time
import urllib.parse
from collections.abc import AsyncIterator
from typing import Any


class TransportError(Exception):
    """The connection broke or the answer did not come in time."""


KEEP_ALIVE_S = 4.0  # the gateway (uvicorn) closes a connection idle for 5 s: reuse one only before that


class Connection:
    """One keep-alive HTTP/1.1 connection over asyncio streams. The load generator shares two
    cores with the platform, so it must cost little: httpx spent ~5 ms of CPU per request here
    (measured with /healthz: client 90% of a core at 190 req/s), this a fraction of that."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.idle_since = time.monotonic()

    async def request(self, method: str, path: str, body: bytes | None, headers: dict[str, str],
                      timeout: float) -> tuple[int, bytes]:
        try:
            return await asyncio.wait_for(self._request(method, path, body, headers), timeout)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError) as exc:
            self.close()
            raise TransportError(f"{type(exc).__name__}: {exc}") from None

    async def _request(self, method: str, path: str, body: bytes | None,
                       headers: dict[str, str]) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port, limit=1 << 20)
        assert self.reader is not None
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        if body is not None:
            lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b""))
        if body is not None and len(body) > 65536:
            await self.writer.drain()
        head = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").lower()
        status = int(head[9:12])
        length, chunked, close = 0, False, False
        for line in head.split("\r\n")[1:]:
            name, _, value = line.partition(":")
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding" and "chunked" in value:
                chunked = True
            elif name == "connection" and "close" in value:
                close = True
        if chunked:
            parts = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                parts.append(await self.reader.readexactly(size + 2))
                if size == 0:
                    break
            data = b"".join(part[:-2] for part in parts)
        else:
            data = await self.reader.readexactly(length)
        if close:
            self.close()
        return status, data

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


class Pool:
    """Connections to the gateway, one per request in flight, at most ``size``."""

    def __init__(self, base: str, timeout: float = 60, size: int = 256) -> None:
        url = urllib.parse.urlsplit(base)
        self.host, self.port = url.hostname or "127.0.0.1", url.port or 80
        self.timeout = timeout
        self.idle: list[Connection] = []
        self.slots = asyncio.Semaphore(size)

    async def request(self, method: str, path: str, body: bytes | None = None,
                      headers: dict[str, str] | None = None, timeout: float | None = None) -> tuple[int, bytes]:
        async with self.slots:
            connection = self.idle.pop() if self.idle else Connection(self.host, self.port)
            if time.monotonic() - connection.idle_since > KEEP_ALIVE_S:
                connection.close()  # the server may be closing it as we send: open a new one
            try:
                return await connection.request(method, path, body, headers or {}, timeout or self.timeout)
            finally:
                connection.idle_since = time.monotonic()
                self.idle.append(connection)

    def close(self) -> None:
        for connection in self.idle:
            connection.close()
        self.idle.clear()


async def get_json(pool: Pool, path: str, headers: dict[str, str]) -> tuple[int, Any]:
    status, data = await pool.request("GET", path, None, headers)
    return status, json.loads(data) if data else None


async def post_json(pool: Pool, path: str, body: Any, headers: dict[str, str]) -> tuple[int, Any]:
    status, data = await pool.request("POST", path, json.dumps(body, separators=(",", ":")).encode(), headers)
    return status, json.loads(data) if data else None


async def on_schedule(count: int, interval: float) -> AsyncIterator[int]:
    """0..count-1, one every ``interval`` seconds from a random start within the first interval
    (paced clients do not all fire at once); a late one goes at once, so the pace holds on average."""
    start = time.perf_counter() + random.uniform(0, interval)
    for n in range(count):
        await asyncio.sleep(max(0.0, start + n * interval - time.perf_counter()))
        yield n
