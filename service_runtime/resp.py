"""A small asyncio Redis client (RESP2): the gateway's shared rate limits and the console's sessions.

No Redis client is among our pinned dependencies and we need a few commands (AUTH, SELECT,
EVALSHA/EVAL, HGETALL, SET, DEL), so it speaks the protocol itself: one connection, commands
pipelined, replies matched in order. Any trouble (refused, reset, slow past the timeout) closes the
connection and fails what was waiting; the next call connects again.
"""
from __future__ import annotations

import asyncio
import hashlib
from collections import deque
from typing import Any
from urllib.parse import unquote, urlsplit


class RedisError(Exception):
    """An error reply from Redis (-ERR ...), or a connection that failed."""


def encode(*args: str | int | bytes) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


async def read_reply(reader: asyncio.StreamReader) -> Any:
    """One reply; an error reply is returned (not raised) as a RedisError."""
    line = await reader.readuntil(b"\r\n")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        return RedisError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        size = int(rest)
        return None if size < 0 else (await reader.readexactly(size + 2))[:-2]
    if kind == b"*":
        size = int(rest)
        return None if size < 0 else [await read_reply(reader) for _ in range(size)]
    raise RedisError(f"unexpected reply {line[:40]!r}")


class Redis:
    def __init__(self, url: str, timeout: float) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 6379
        self.username, self.password = unquote(parts.username or ""), unquote(parts.password or "")
        self.db = int(parts.path.strip("/") or 0)
        self.timeout = timeout
        self._writer: asyncio.StreamWriter | None = None
        self._pending: deque[asyncio.Future[Any]] = deque()
        self._reading: asyncio.Task[None] | None = None
        self._connecting = asyncio.Lock()

    async def _connect(self) -> asyncio.StreamWriter:
        async with self._connecting:
            if self._writer is not None:
                return self._writer
            reader, writer = await asyncio.wait_for(asyncio.open_connection(self.host, self.port), self.timeout)
            self._writer = writer
            self._reading = asyncio.get_running_loop().create_task(self._read_forever(reader, writer))
            try:
                if self.password:
                    await self._send(writer, *(("AUTH", self.username) if self.username else ("AUTH",)),
                                     self.password)
                if self.db:
                    await self._send(writer, "SELECT", self.db)
            except BaseException as exc:  # never leave a connection that is not logged in or on its database
                self._drop(writer, exc)
                raise
            return writer

    async def _read_forever(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                reply = await read_reply(reader)
                future = self._pending.popleft()
                if not future.done():
                    future.set_result(reply)
        except (OSError, EOFError, asyncio.IncompleteReadError, RedisError, IndexError) as exc:
            self._drop(writer, exc)

    def _drop(self, writer: asyncio.StreamWriter, exc: BaseException) -> None:
        if self._writer is writer:
            self._writer = None
        writer.close()
        while self._pending:
            future = self._pending.popleft()
            if not future.done():
                future.set_exception(RedisError(f"connection lost ({type(exc).__name__})"))

    async def _send(self, writer: asyncio.StreamWriter, *args: str | int | bytes) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append(future)
        writer.write(encode(*args))
        try:
            reply = await asyncio.wait_for(asyncio.shield(future), self.timeout)
        except TimeoutError:
            self._drop(writer, TimeoutError())  # replies would no longer match their commands
            raise
        if isinstance(reply, RedisError):
            raise reply
        return reply

    async def execute(self, *args: str | int | bytes) -> Any:
        writer = await self._connect()
        return await self._send(writer, *args)

    async def script(self, source: str, keys: list[str], args: list[str | int]) -> Any:
        """EVALSHA, loading the script with EVAL the first time this server sees it."""
        sha = hashlib.sha1(source.encode()).hexdigest()
        try:
            return await self.execute("EVALSHA", sha, len(keys), *keys, *args)
        except RedisError as exc:
            if not str(exc).startswith("NOSCRIPT"):
                raise
        return await self.execute("EVAL", source, len(keys), *keys, *args)

    async def close(self) -> None:
        if self._writer is not None:
            self._drop(self._writer, ConnectionResetError())
        if self._reading is not None:
            self._reading.cancel()
