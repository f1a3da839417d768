"""/metrics and /status on the gateway's own metrics port (GATEWAY_METRICS_PORT), never on the
public one: what they tell (routes, error rates, which service is down and why) is for Prometheus
and operators inside the cluster.

A few lines of HTTP/1.1 on asyncio in the gateway's own event loop (GET and HEAD, one request per
connection), so /status can ask the RPC client and the database the way routes do.
"""
from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import REGISTRY
from prometheus_client.exposition import choose_encoder

log = logging.getLogger(__name__)

_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}
_HEAD_LIMIT = 16_384


class OpsServer:
    def __init__(self, host: str, port: int, status: Callable[[], Awaitable[dict[str, Any]]]) -> None:
        self.host, self.port, self.status = host, port, status
        self.bound_port: int | None = None
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        """Listen; a port already taken is logged, not fatal: the API matters more than its metrics."""
        try:
            self._server = await asyncio.start_server(self._serve, self.host, self.port, limit=_HEAD_LIMIT)
        except OSError as exc:
            log.error("metrics port %s:%s unavailable (%s): /metrics and /status are not served "
                      "(GATEWAY_METRICS_PORT)", self.host, self.port, exc)
            return
        self.bound_port = self._server.sockets[0].getsockname()[1]
        log.info("metrics and status on %s:%s", self.host, self.bound_port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            status, content_type, body, method = await self._answer(head.decode("latin-1"))
            writer.write(f"HTTP/1.1 {status} {_REASONS[status]}\r\nContent-Type: {content_type}\r\n"
                         f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode())
            if method != "HEAD":
                writer.write(body)
            await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ConnectionError):
            pass  # a client that went away or sent no proper request head
        except Exception:
            log.exception("metrics port request failed")
        finally:
            writer.close()

    async def _answer(self, head: str) -> tuple[int, str, bytes, str]:
        request_line, *lines = head.split("\r\n")
        parts = request_line.split(" ")
        if len(parts) != 3:
            return 400, "text/plain", b"bad request\n", "GET"
        method, target = parts[0], parts[1].split("?", 1)[0]
        if method not in ("GET", "HEAD"):
            return 405, "text/plain", b"GET or HEAD\n", method
        headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
        if target in ("/metrics", "/metrics/"):
            encoder, content_type = choose_encoder(headers.get("accept", ""))
            return 200, content_type, await asyncio.to_thread(encoder, REGISTRY), method
        if target in ("/status", "/status/"):
            return 200, "application/json", json.dumps(await self.status(), indent=1).encode(), method
        return 404, "text/plain", b"/metrics or /status\n", method
